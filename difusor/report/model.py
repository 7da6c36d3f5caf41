"""The report's inputs (period, options) and the figures it computes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from difusor.report import definitions

ORIGIN_LOGS = "origin-logs"
CDN_ANALYTICS = "cdn-analytics"
BEACON = "beacon"


def window_end(start: datetime) -> datetime:
    """The end of a publication window that starts at ``start``: 23:59:59 of the seventh day
    after (the calls' window, e.g. 2 to 9 June 2024), in ``start``'s own time zone."""
    day = (start + timedelta(days=7)).date()
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=start.tzinfo)


def local_time(moment: datetime, timezone: str) -> datetime:
    """``moment`` itself when it has a zone, else as a local time of ``timezone``."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


@dataclass(frozen=True)
class Period:
    """The reported interval, both ends included (the logs have one-second resolution)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"period {name}: needs a time zone (use Period.local)")
        if self.end <= self.start:
            raise ValueError(f"period: end {self.end.isoformat()} is not after the start")

    @classmethod
    def local(cls, start: datetime, end: datetime, timezone: str) -> Period:
        """A period whose naive ends are local times of ``timezone``."""
        return cls(local_time(start, timezone), local_time(end, timezone))

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds()) + 1


@dataclass(frozen=True)
class ReportOptions:
    """How the report counts. ``None`` values come from the copy's publisher.json."""

    timezone: str | None = None
    difusor: str | None = None  # the portal's name on the title page, e.g. prep.example.com.mx
    page_patterns: tuple[str, ...] = ()  # extra page-view patterns (a setting may add some)
    visit_gap_s: int = definitions.VISIT_GAP_S
    burst_5xx_per_minute: int = definitions.BURST_5XX_PER_MINUTE
    period_minutes: int | None = None
    grace_minutes: int | None = None
    window: Period | None = None  # publication window; default publisher.json's, else the period
    # End of the institute's corte series (the PREP closes 24 h after it opens): after it the
    # last corte stays online and its age is no incident. Default: 24 h after the window start.
    cortes_until: datetime | None = None
    capacity_rps: float | None = None  # measured capacity, compared with the peak in the report
    # Behind a CDN the origin sees only cache misses: readers are then counted from the
    # beacon's requests when there are any (hits and pages from the CDN's analytics, when the
    # copy has them, whether or not this is set).
    behind_cdn: bool = False
    notes: Path | None = None  # operator notes; default notas.md in the copy
    memory_limit: str = "600MB"  # DuckDB's own limit (it spills to a temp file beyond it)
    threads: int | None = None  # DuckDB threads; default all cores
    pdf: bool = True


@dataclass(frozen=True)
class TimeOnSite:
    median_s: float | None
    mean_s: float | None
    single_request_visits: int
    multi_request_visits: int


@dataclass(frozen=True)
class Hour:
    start: datetime
    hits: int
    page_views: int
    visitors: int


@dataclass(frozen=True)
class Burst:
    start: datetime
    end: datetime
    errors: int
    hits: int


@dataclass(frozen=True)
class Traffic:
    """What readers did, from one source (see :data:`ORIGIN_LOGS`)."""

    source: str
    hits: int
    page_views: int
    visitors: int
    cookie_visitors: int
    cookieless_visitors: int
    cookieless_requests: int
    visits: int
    pages: list[tuple[str, int]]
    time_on_site: TimeOnSite
    hourly: list[Hour]
    status: dict[str, int]
    peak_second: tuple[datetime, int] | None
    peak_minute: tuple[datetime, int] | None
    bursts_5xx: list[Burst]
    # lines by visitor field format: "pair" (visitor_got/visitor_set) or "combined" (visitor)
    visitor_fields: dict[str, int] = field(default_factory=dict)
    # figure -> source(s), for figures that come from another source than ``source``
    sources: dict[str, str | list[str]] = field(default_factory=dict)

    def source_of(self, figure: str) -> str | list[str]:
        return self.sources.get(figure, self.source)


@dataclass(frozen=True)
class Corte:
    package: str
    corte: datetime
    received: datetime | None
    published: datetime
    recovered: bool = False  # found live after a crash: ``published`` is when that was logged

    @property
    def delay_s(self) -> float:
        """Corte time to online: what a reader waited for this corte."""
        return round((self.published - self.corte).total_seconds(), 3)


@dataclass(frozen=True)
class Incident:
    kind: str
    start: datetime
    end: datetime
    effect: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> int:
        return int((self.end - self.start).total_seconds())
