"""``manifest`` and ``restore``: the server's half of ``difusor backup`` and ``difusor restore``.

``manifest`` lists every file of the archive with its size and sha256, and the live stamp:
what a backup must hold, and what a restore must not overwrite.

``restore --from DIR`` runs after the archive of a backup was copied into ``archive_dir``
(never over an existing file) and its ``manifest.json`` and ``state.json`` into ``DIR``. Under
the publish lock (the publisher waits) it:

1. verifies every archived file the manifest lists, by size and sha256;
2. merges the backup's ``state.json`` into the server's: outcomes the server lacks are added,
   the server's own are kept; a name published here with other bytes than in the backup is a
   conflict, and nothing is changed;
3. makes the backup's last published corte live again (checked and built as on arrival) when
   the server has no live corte or an older one: a newer corte already live stays.

It prints one JSON object (``verified``, ``missing``, ``mismatched``, ``conflicts``,
``merged``, ``live``, ``republished``) and exits 0 when the archive is complete and verified
and the last corte is live, 1 otherwise.
"""

import fcntl
import os
from typing import Any

from .config import Config
from .fsutil import read_json, sha256_file, write_json
from .intake import SIDECAR_SUFFIX, Arrival, Package
from .log import Logger
from .outcomes import STATE_FILE
from .package import Rejection
from .publisher import LOCK_FILE, Publisher, Stop, make_directories
from .release import live_release
from .timeutil import corte_from_name, parse_iso

FORMAT = 1


def manifest(cfg: Config) -> dict[str, Any]:
    """Every regular file under ``archive_dir`` (path relative to it: size, sha256), and the
    live stamp."""
    files: dict[str, dict[str, Any]] = {}
    for directory, dirnames, names in os.walk(cfg.archive_dir):
        dirnames.sort()
        for name in sorted(names):
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            files[os.path.relpath(path, cfg.archive_dir)] = {
                "size": os.path.getsize(path),
                "sha256": sha256_file(path),
            }
    _, stamp = live_release(cfg.current_link)
    return {"format": FORMAT, "archive": files, "live": stamp}


def verify(archive_dir: str, files: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(missing, mismatched): the listed files absent from ``archive_dir``, or with other
    bytes."""
    missing, mismatched = [], []
    for relative, expected in sorted(files.items()):
        path = os.path.join(archive_dir, relative)
        if not os.path.isfile(path):
            missing.append(relative)
        elif os.path.getsize(path) != expected["size"] or sha256_file(path) != expected["sha256"]:
            mismatched.append(relative)
    return missing, mismatched


def merge_state(
    ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[dict[str, Any], int, list[str]]:
    """``theirs`` (a backup's state.json) merged into ``ours``: (merged, entries added,
    conflicts). A conflict is a name published with other bytes on each side."""
    merged = {**ours, "packages": {k: list(v) for k, v in ours.get("packages", {}).items()}}
    merged.setdefault("version", 1)
    added, conflicts = 0, []
    for name, entries in sorted(theirs.get("packages", {}).items()):
        mine = merged["packages"].setdefault(name, [])
        published_here = {e.get("sha256") for e in mine if e.get("outcome") == "published"}
        for entry in entries:
            if any(e.get("sha256") == entry.get("sha256") for e in mine):
                continue
            if entry.get("outcome") == "published" and published_here:
                conflicts.append(name)
                continue
            mine.append(entry)
            added += 1
    if theirs.get("sidecars_seen"):
        merged["sidecars_seen"] = True
    return merged, added, conflicts


def last_published(state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, entry) of the published package with the latest corte (then name)."""
    best = None
    for name, entries in state.get("packages", {}).items():
        for entry in entries:
            if entry.get("outcome") != "published" or not entry.get("corte"):
                continue
            key = (parse_iso(entry["corte"]).timestamp(), name)
            if best is None or key > best[0]:
                best = (key, name, entry)
    return (best[1], best[2]) if best else None


def restore(cfg: Config, log: Logger, from_dir: str) -> tuple[int, dict[str, Any]]:
    backup = read_json(os.path.join(from_dir, "manifest.json"))
    if not isinstance(backup, dict) or backup.get("format") != FORMAT:
        return 1, {"error": f"{from_dir}/manifest.json: missing, or not a manifest of format 1"}
    theirs = read_json(os.path.join(from_dir, STATE_FILE)) or {}
    make_directories(cfg)
    lock_fd = os.open(cfg.state_file(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        return _restore(cfg, log, backup, theirs)
    finally:
        os.close(lock_fd)


def _restore(
    cfg: Config, log: Logger, backup: dict[str, Any], theirs: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    missing, mismatched = verify(cfg.archive_dir, backup.get("archive", {}))
    state_path = cfg.state_file(STATE_FILE)
    merged, added, conflicts = merge_state(read_json(state_path) or {}, theirs)
    result: dict[str, Any] = {
        "verified": len(backup.get("archive", {})) - len(missing) - len(mismatched),
        "missing": missing,
        "mismatched": mismatched,
        "conflicts": conflicts,
        "merged": 0,
        "republished": None,
        "live": None,
    }
    if missing or mismatched or conflicts:
        result["live"] = live_release(cfg.current_link)[1]
        return 1, result
    write_json(state_path, merged)
    result["merged"] = added
    last = last_published(merged)
    _, live = live_release(cfg.current_link)
    if last and not _live_is_newer(live, last[1]):
        try:
            live = _republish(cfg, log, *last)
            result["republished"] = last[0]
        except (Rejection, Stop) as exc:
            result["error"] = f"{last[0]}: {exc}"
    result["live"] = live
    log.event(
        "restored",
        verified=result["verified"],
        merged=added,
        republished=result["republished"],
        live=(live or {}).get("package"),
        detail=result.get("error"),
    )
    ok = "error" not in result and (last is None or _live_is_newer(live, last[1]))
    return (0 if ok else 1), result


def _live_is_newer(live: dict[str, Any] | None, entry: dict[str, Any]) -> bool:
    """Whether the live corte is the entry's or a later one (then it stays)."""
    if not live or not live.get("corte"):
        return False
    return parse_iso(live["corte"]) >= parse_iso(entry["corte"])


def _republish(cfg: Config, log: Logger, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    path = os.path.join(cfg.archive_dir, entry["archived"])
    corte = corte_from_name(name, cfg.zone)
    if corte is None:
        raise Stop(f"{name} is not a package name")
    sidecar = path + SIDECAR_SUFFIX
    arrival = Arrival(name, path, corte, sidecar if os.path.isfile(sidecar) else None)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        package = Package.read(arrival, corte, fd, os.fstat(fd).st_mtime)
        if package.sha256 != entry.get("sha256"):
            raise Stop(f"{entry['archived']} is not the package published as {name}")
        return Publisher(cfg, log).republish(package)
    finally:
        os.close(fd)
