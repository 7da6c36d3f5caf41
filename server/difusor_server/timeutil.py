"""Time zones and ISO 8601 helpers (Python 3.10 compatible: no 'Z' in fromisoformat)."""

import re
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

# Central Mexico has had no daylight saving time since October 2022.
_FALLBACK = {"America/Mexico_City": timezone(timedelta(hours=-6), "CST")}


def get_zone(name: str) -> tzinfo:
    """The zone called ``name``; central Mexico's fixed offset when the system has no tz data."""
    if name in ("UTC", "Etc/UTC"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except Exception:
        if name not in _FALLBACK:
            raise
    return _FALLBACK[name]


def parse_iso(value: object) -> datetime:
    """An ISO 8601 date-time; a trailing Z means UTC. Naive if it carries no offset."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def parse_local(value: object, zone: tzinfo) -> datetime:
    """An ISO date-time; naive values are local time in ``zone``."""
    moment = parse_iso(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def now(zone: tzinfo) -> datetime:
    return datetime.now(timezone.utc).astimezone(zone)


def iso(moment: datetime, ms: bool = False) -> str:
    return moment.isoformat(timespec="milliseconds" if ms else "seconds")


def from_ts(timestamp: float, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(timestamp, zone)


NAME_RE = re.compile(r"^(?P<d>\d{8})_(?P<t>\d{4})_(?P<rest>[A-Za-z0-9][A-Za-z0-9_.-]*)\.zip$")


def corte_from_name(name: str, zone: tzinfo) -> datetime | None:
    """The corte time encoded in a package name (local time), or None."""
    match = NAME_RE.match(name)
    if not match:
        return None
    try:
        naive = datetime.strptime(match.group("d") + match.group("t"), "%Y%m%d%H%M")
    except ValueError:
        return None
    if naive.year < 2000:
        return None
    return naive.replace(tzinfo=zone)
