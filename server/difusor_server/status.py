"""``status``: a JSON summary for operators."""

import os

from . import purge
from .fsutil import read_json
from .release import live_release


def _list(path, skip_dot=True):
    try:
        return sorted(n for n in os.listdir(path) if not (skip_dot and n.startswith(".")))
    except OSError:
        return []


def status(cfg):
    live_dir, stamp = live_release(cfg.current_link)
    releases = [
        n
        for n in _list(cfg.releases_dir)
        if os.path.isfile(os.path.join(cfg.releases_dir, n, "corte.json"))
    ]
    pending = [n for n in _list(cfg.incoming_dir) if not n.endswith(".sha256")]
    quarantined = [
        n[: -len(".reason.json")] for n in _list(cfg.quarantine_dir) if n.endswith(".reason.json")
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
