"""CDN purge after a publication: Cloudflare purge_everything, or a command.

A failed purge is logged as an incident and kept in a persisted queue
(``state_dir/purge-queue.json``); every later publish run retries it. Each attempt is bounded
by ``purge.timeout_seconds`` (default 5 s) and happens after the switch, so it never holds
back a publication.
"""

import contextlib
import json
import os
import subprocess
import time
from typing import Any

from .config import Config
from .fsutil import read_json, unlink_if_present, write_json
from .log import Logger

QUEUE = "purge-queue.json"


class PurgeError(Exception):
    pass


def _cloudflare(purge: dict[str, Any]) -> None:
    import urllib.error  # imported here: publish runs without a purge should not pay for it
    import urllib.request

    try:
        with open(purge["token_file"], encoding="utf-8") as f:
            token = f.read().strip()
    except OSError as exc:
        raise PurgeError(f"token_file {purge['token_file']}: {exc.strerror}") from None
    if not token:
        raise PurgeError(f"token_file {purge['token_file']} is empty")
    url = f"{purge['api_base'].rstrip('/')}/zones/{purge['zone_id']}/purge_cache"
    request = urllib.request.Request(
        url,
        data=json.dumps({"purge_everything": True}).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "User-Agent": "difusor-publisher",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=purge["timeout_seconds"]) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace") if exc.fp else ""
        raise PurgeError(f"HTTP {exc.code} from the API: {detail[:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PurgeError(f"API unreachable: {getattr(exc, 'reason', exc)}") from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise PurgeError("API answered something that is not JSON") from None
    if not answer.get("success"):
        raise PurgeError(f"API refused: {json.dumps(answer.get('errors'))[:300]}")


def _command(purge: dict[str, Any], env_extra: dict[str, str]) -> None:
    env = dict(os.environ)
    env.update(env_extra)
    try:
        completed = subprocess.run(
            purge["argv"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=purge["timeout_seconds"],
        )
    except subprocess.TimeoutExpired:
        raise PurgeError(f"command timed out after {purge['timeout_seconds']} s") from None
    except OSError as exc:
        raise PurgeError(f"command cannot run: {exc}") from None
    if completed.returncode != 0:
        out = completed.stdout.decode("utf-8", "replace").strip()[-300:]
        raise PurgeError(f"command exited {completed.returncode}: {out}")


def purge_now(cfg: Config, stamp: dict[str, Any] | None) -> None:
    """One attempt; raises PurgeError."""
    purge = cfg.purge
    if purge["type"] == "cloudflare":
        _cloudflare(purge)
    elif purge["type"] == "command":
        stamp = stamp or {}
        _command(
            purge,
            {
                "DIFUSOR_PACKAGE": str(stamp.get("package", "")),
                "DIFUSOR_CORTE": str(stamp.get("corte", "")),
                "DIFUSOR_RELEASE": str(stamp.get("release", "")),
            },
        )


def pending(cfg: Config) -> Any:
    return read_json(cfg.state_file(QUEUE))


def run(cfg: Config, log: Logger, stamp: dict[str, Any] | None, published_now: bool) -> bool | None:
    """Purge when something was published in this run or a failed purge is queued."""
    if cfg.purge["type"] == "none":
        return None
    queue_path = cfg.state_file(QUEUE)
    queued = read_json(queue_path)
    if not published_now and not queued:
        return None
    attempts = (queued or {}).get("attempts", 0) + 1
    started = time.monotonic()
    try:
        purge_now(cfg, stamp)
    except PurgeError as exc:
        entry = {
            "since": (queued or {}).get("since") or time.time(),
            "attempts": attempts,
            "package": (stamp or {}).get("package"),
            "last_error": str(exc),
        }
        with contextlib.suppress(OSError):
            write_json(queue_path, entry)
        log.event(
            "purge-failed",
            reason="purge-failed",
            detail=str(exc),
            package=entry["package"],
            attempts=attempts,
            queued=True,
            purge=cfg.purge["type"],
        )
        return False
    if queued:
        unlink_if_present(queue_path)
    log.event(
        "purged",
        purge=cfg.purge["type"],
        package=(stamp or {}).get("package"),
        attempts=attempts,
        retry=bool(queued),
        duration_s=round(time.monotonic() - started, 3),
    )
    return True
