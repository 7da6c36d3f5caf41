"""``status``: a JSON summary for operators."""

import os
from typing import Any

from . import purge
from .config import Config
from .fsutil import read_json
from .outcomes import STATE_FILE
from .release import live_release


def _list(path: str) -> list[str]:
    """The names in ``path`` without dotfiles, sorted; none when it cannot be read."""
    try:
        return sorted(name for name in os.listdir(path) if not name.startswith("."))
    except OSError:
        return []


def last_rejection(state: dict[str, Any]) -> dict[str, Any] | None:
    """The latest rejected package of ``state.json`` (``package``, ``reason``, ``ts``), and
    whether anything was published after it (``published_since``)."""
    rejected = []
    published = []
    for name, entries in state.get("packages", {}).items():
        for entry in entries:
            if entry.get("outcome") == "rejected":
                rejected.append((str(entry.get("ts") or ""), name, entry.get("reason")))
            elif entry.get("outcome") == "published":
                published.append(str(entry.get("ts") or ""))
    if not rejected:
        return None
    ts, name, reason = max(rejected)
    return {
        "package": name,
        "reason": reason,
        "ts": ts or None,
        "published_since": any(moment > ts for moment in published),
    }


def status(cfg: Config) -> dict[str, Any]:
    live_dir, stamp = live_release(cfg.current_link)
    releases = [
        name
        for name in _list(cfg.releases_dir)
        if os.path.isfile(os.path.join(cfg.releases_dir, name, "corte.json"))
    ]
    pending = [name for name in _list(cfg.incoming_dir) if not name.endswith(".sha256")]
    quarantined = [
        name[: -len(".reason.json")]
        for name in _list(cfg.quarantine_dir)
        if name.endswith(".reason.json")
    ]
    return {
        "live": stamp,
        "live_release": os.path.basename(live_dir) if live_dir else None,
        "releases": releases,
        "pending": pending,
        "quarantine": quarantined,
        "purge_queue": purge.pending(cfg),
        "monitor": read_json(cfg.state_file("monitor.json")),
        "health": read_json(cfg.healthz_file) if cfg.healthz_file else None,
        "last_rejection": last_rejection(read_json(cfg.state_file(STATE_FILE)) or {}),
    }
