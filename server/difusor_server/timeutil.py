"""Time zones and ISO 8601 helpers (Python 3.10 compatible: no 'Z' in fromisoformat)."""

import re
from datetime import datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover - Python < 3.9
    ZoneInfo = None

# Central Mexico has had no daylight saving time since October 2022.
_FALLBACK = {"America/Mexico_City": timezone(timedelta(hours=-6), "CST")}


def get_zone(name):
    if name in ("UTC", "Etc/UTC"):
        return timezone.utc
    if ZoneInfo is not None:
        try:
            return ZoneInfo(name)
        except Exception:
            if name not in _FALLBACK:
                raise
    if name in _FALLBACK:
        return _FALLBACK[name]
    raise ValueError(f"unknown time zone {name!r}")


def parse_iso(value):
    """An ISO 8601 date-time; a trailing Z means UTC. Naive if it carries no offset."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def parse_local(value, zone):
    """An ISO date-time; naive values are local time in ``zone``."""
    dt = parse_iso(value)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=zone)
    return dt.astimezone(zone)


def now(zone):
    return datetime.now(timezone.utc).astimezone(zone)


def iso(dt, ms=False):
    return dt.isoformat(timespec="milliseconds" if ms else "seconds")


def from_ts(ts, zone):
    return datetime.fromtimestamp(ts, zone)


NAME_RE = re.compile(r"^(?P<d>\d{8})_(?P<t>\d{4})_(?P<rest>[A-Za-z0-9][A-Za-z0-9_.-]*)\.zip$")


def corte_from_name(name, zone):
    """The corte time encoded in a package name (local time), or None."""
    m = NAME_RE.match(name)
    if not m:
        return None
    try:
        naive = datetime.strptime(m.group("d") + m.group("t"), "%Y%m%d%H%M")
    except ValueError:
        return None
    if naive.year < 2000:
        return None
    return naive.replace(tzinfo=zone)
