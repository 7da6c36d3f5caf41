"""The local copy of a host's logs that a report is built from (layout: see the package doc)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from difusor import paths
from difusor.report.model import window_end

ACCESS_LOG = "var/log/nginx/access.log"
PUBLISHER_LOG = paths.PUBLISHER_LOG.lstrip("/")
MONITOR_STATE = f"{paths.STATE_DIR.lstrip('/')}/monitor.json"
PUBLISHER_CONFIG = paths.PUBLISHER_CONFIG.lstrip("/")
JOURNAL = "journal.json"
NOTES = "notas.md"
CDN_ANALYTICS = "cdn-analytics.json"

# access.log, access.log.1, access.log.2.gz, access.log-20240603, access.log-20240603-1717394400.gz
_ROTATED = r"(?:\.\d+|-\d{8}(?:-\d+)?)?(?:\.gz)?"


class CopyError(ValueError):
    """The copy directory is missing something the report needs, or holds something unreadable."""


@dataclass(frozen=True)
class PublisherConfig:
    """What the report needs from the host's publisher.json (its defaults when absent)."""

    timezone: str = "America/Mexico_City"
    period_minutes: int = 15
    grace_minutes: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass(frozen=True)
class Copy:
    root: Path
    access_logs: list[Path]
    publisher_logs: list[Path]
    journal: Path | None
    monitor_state: dict[str, Any] | None
    publisher_config: PublisherConfig
    notes: Path | None
    cdn_analytics: Path | None = None
    ignored: list[Path] = field(default_factory=list)


def open_copy(root: Path | str) -> Copy:
    """Find the files of a copy; raise :class:`CopyError` naming what is wrong."""
    root = Path(root)
    if not root.is_dir():
        raise CopyError(f"copy directory {str(root)!r} does not exist")
    access, ignored_access = _rotated(root / ACCESS_LOG)
    publisher, ignored_publisher = _rotated(root / PUBLISHER_LOG)
    if not access and not publisher:
        raise CopyError(
            f"copy {str(root)!r} holds neither {ACCESS_LOG}* nor {PUBLISHER_LOG}*: "
            "nothing to report on"
        )
    journal = next(
        (p for p in (root / JOURNAL, root / f"{JOURNAL}.gz") if p.is_file()),
        None,
    )
    notes = root / NOTES
    cdn = root / CDN_ANALYTICS
    return Copy(
        root=root,
        access_logs=access,
        publisher_logs=publisher,
        journal=journal,
        monitor_state=_json_file(root / MONITOR_STATE),
        publisher_config=_publisher_config(root / PUBLISHER_CONFIG),
        notes=notes if notes.is_file() else None,
        cdn_analytics=cdn if cdn.is_file() else None,
        ignored=ignored_access + ignored_publisher,
    )


def is_log_file(base: str, name: str) -> bool:
    """Whether ``name`` is the log ``base`` itself or one of its rotated files."""
    return re.fullmatch(re.escape(base) + _ROTATED, name) is not None


def _rotated(base: Path) -> tuple[list[Path], list[Path]]:
    """The live log and its rotated siblings; other files that start with its name apart."""
    if not base.parent.is_dir():
        return [], []
    found: list[Path] = []
    ignored: list[Path] = []
    for path in sorted(base.parent.glob(base.name + "*")):
        if path.is_file():
            (found if is_log_file(base.name, path.name) else ignored).append(path)
    return found, ignored


def open_text(path: Path) -> IO[str]:
    """A log file as text, gunzipped when its name ends in .gz."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def json_lines(files: list[Path]) -> Iterator[dict[str, Any]]:
    """Every JSON object of these line files; other lines (a torn last one) are skipped."""
    for path in files:
        with open_text(path) as stream:
            for line in stream:
                record = json_object(line)
                if record is not None:
                    yield record


def json_object(text: str) -> dict[str, Any] | None:
    """``text`` parsed when it is one JSON object, else None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_file(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CopyError(f"{path}: not valid JSON ({exc})") from exc
    return value if isinstance(value, dict) else None


def _publisher_config(path: Path) -> PublisherConfig:
    """The publisher's own settings, read with its defaults (server/README.md)."""
    raw = _json_file(path) or {}
    defaults = PublisherConfig()
    timezone = raw.get("timezone", defaults.timezone)
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:
        raise CopyError(f"{path}: timezone {timezone!r} is not a known time zone") from exc

    def local(key: str) -> datetime | None:
        value = raw.get(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise CopyError(f"{path}: {key} {value!r} is not an ISO date-time") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)

    start, end = local("window_start"), local("window_end")
    if start is not None and end is None:
        end = window_end(start)
    for key in ("period_minutes", "grace_minutes"):
        value = raw.get(key, getattr(defaults, key))
        if not isinstance(value, int) or value < (1 if key == "period_minutes" else 0):
            raise CopyError(f"{path}: {key} {value!r} is not a valid number of minutes")
    return PublisherConfig(
        timezone=timezone,
        period_minutes=raw.get("period_minutes", defaults.period_minutes),
        grace_minutes=raw.get("grace_minutes", defaults.grace_minutes),
        window_start=start,
        window_end=end,
    )
