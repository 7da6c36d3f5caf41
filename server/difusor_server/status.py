"""``status``: a JSON summary for operators."""

import os
from typing import Any

from . import purge
from .config import Config
from .fsutil import read_json
from .release import live_release


def _list(path: str) -> list[str]:
    """The names in ``path`` without dotfiles, sorted; none when it cannot be read."""
    try:
        return sorted(name for name in os.listdir(path) if not name.startswith("."))
    except OSError:
        return []


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
    }
