"""Collect every figure of the memoria técnica from a copy, and write the documents."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from difusor.report import definitions, events, sources
from difusor.report.copy import Copy, open_copy
from difusor.report.model import (
    BEACON,
    CDN_ANALYTICS,
    ORIGIN_LOGS,
    Corte,
    Incident,
    Period,
    ReportOptions,
    Traffic,
    local_time,
)
from difusor.report.notes import Notes, read_notes
from difusor.report.sources import OriginLogs

PUBLISHER_LOG = "publisher-log"
# The PREP publishes cortes for 24 hours from its start (every 15 minutes, 20:00 to 20:00).
PREP_DURATION = timedelta(hours=24)
JOURNAL = "journal"

# Where a statistic can come from (the report names the one used for each).
SOURCES = {
    ORIGIN_LOGS: "Registros de acceso (access log) del servidor de origen, nginx",
    CDN_ANALYTICS: "Analítica de la CDN para el periodo, por horas completas",
    BEACON: "Baliza sin caché (no-store) que envían las páginas propias del difusor",
    PUBLISHER_LOG: "Registro del publicador del kit (publisher.log)",
    JOURNAL: "Diario del sistema (systemd journal) de los servicios del kit",
}

KIND_LABELS = {
    "rejected-package": "Paquete rechazado",
    "stale": "Corte vencido",
    "disk": "Disco lleno",
    "publisher-error": "Error del publicador",
    "cdn-purge": "Purga de CDN fallida",
    "service-failure": "Falla de servicio",
    "service-restart": "Reinicio de servicio",
    "host-restart": "Reinicio del servidor",
    "certificate": "Certificado TLS",
    "5xx-burst": "Ráfaga de errores 5xx",
}


class TrafficSource(Protocol):
    """Where the reader statistics come from. The origin logs are the default; a CDN's
    analytics or a beacon implement the same call and name themselves in :data:`SOURCES`."""

    name: str

    def traffic(self, period: Period, zone: str) -> Traffic: ...


@dataclass(frozen=True)
class Collected:
    """Everything the documents show, before it is written."""

    copy: Copy
    period: Period
    window: Period
    cortes_until: datetime  # the age of the live corte is evaluated from window.start to here
    zone: ZoneInfo
    options: ReportOptions
    period_minutes: int
    grace_minutes: int
    readers: Traffic  # the reader statistics (from the chosen source)
    origin: Traffic  # the origin's own load: peaks and 5xx bursts
    cortes: list[Corte]
    rejections: list[dict[str, Any]]
    incidents: list[Incident]
    alerts: list[dict[str, Any]]
    stale_s: int
    critical_s: int
    notes: Notes
    generated: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def collect(
    copy_dir: Path | str,
    period_from: datetime,
    period_to: datetime,
    options: ReportOptions | None = None,
    traffic_source: TrafficSource | None = None,
) -> Collected:
    """Every figure of the report for ``[period_from, period_to]`` (naive = local time)."""
    options = options or ReportOptions()
    copy = open_copy(copy_dir)
    config = copy.publisher_config
    zone_name = options.timezone or config.timezone
    zone = ZoneInfo(zone_name)
    period = Period.local(period_from, period_to, zone_name)
    period_minutes = options.period_minutes or config.period_minutes
    grace_minutes = (
        options.grace_minutes if options.grace_minutes is not None else config.grace_minutes
    )
    window = _window(options.window, config.window_start, config.window_end, period)

    origin = OriginLogs(copy.access_logs, options).traffic(period, zone_name)
    if traffic_source is not None:
        readers = traffic_source.traffic(period, zone_name)
    else:
        readers = sources.readers(
            origin,
            sources.CdnAnalytics(copy.cdn_analytics, definitions.page_regex(options.page_patterns))
            if copy.cdn_analytics
            else None,
            sources.beacon(copy.access_logs, options) if options.behind_cdn else None,
            period,
            zone_name,
        )

    cortes_until = min(
        window.end,
        local_time(options.cortes_until, zone_name)
        if options.cortes_until
        else window.start + PREP_DURATION,
    )
    log = events.publisher_events(copy.publisher_logs, copy.journal)
    stale = (
        events.staleness(log, Period(window.start, cortes_until), period_minutes, grace_minutes)
        if log and cortes_until > window.start
        else events.Staleness([], 0, 0)
    )
    incidents = events.clipped(
        stale.incidents
        + events.package_incidents(log, period)
        + events.journal_incidents(copy.journal, period)
        + events.burst_incidents(origin.bursts_5xx),
        period,
    )
    return Collected(
        copy=copy,
        period=period,
        window=window,
        cortes_until=cortes_until,
        zone=zone,
        options=options,
        period_minutes=period_minutes,
        grace_minutes=grace_minutes,
        readers=readers,
        origin=origin,
        cortes=events.cortes(log, period),
        rejections=events.rejections(log, period),
        incidents=incidents,
        alerts=events.alerts(log, period),
        stale_s=stale.stale_s,
        critical_s=stale.critical_s,
        notes=read_notes(options.notes or copy.notes),
    )


def _window(
    chosen: Period | None, start: datetime | None, end: datetime | None, period: Period
) -> Period:
    """The publication window inside the period (the whole period when none is known)."""
    if chosen is None and start is not None and end is not None:
        chosen = Period(start, end)
    if chosen is None:
        return period
    start, end = max(chosen.start, period.start), min(chosen.end, period.end)
    return Period(start, end) if start < end else period


def report_data(c: Collected) -> dict[str, Any]:
    """report.json: the figures, their definitions and their sources."""
    when = _Stamps(c.zone)
    return {
        **_heading(c, when),
        **_readers(c.readers, when),
        **_load(c, when),
        **_publication(c, when),
        **_method(c),
        **_provenance(c),
    }


@dataclass(frozen=True)
class _Stamps:
    """Moments as report.json writes them: ISO 8601 in the report's time zone."""

    zone: ZoneInfo

    def __call__(self, moment: datetime | None) -> str | None:
        return moment.astimezone(self.zone).isoformat() if moment else None


def _heading(c: Collected, when: _Stamps) -> dict[str, Any]:
    """What the report covers: the period asked for, the publication window, the cortes."""
    return {
        "format": 1,
        "generated": when(c.generated),
        "difusor": c.options.difusor,
        "timezone": c.zone.key,
        "period": {"from": when(c.period.start), "to": when(c.period.end)},
        "window": {"from": when(c.window.start), "to": when(c.window.end)},
        "cortes_until": when(c.cortes_until),
    }


def _readers(r: Traffic, when: _Stamps) -> dict[str, Any]:
    """The statistics the calls ask for (2024 I.E; 2018 II): hits, pages, visitors, visits,
    time on site, and the same by hour."""
    return {
        "hits": r.hits,
        "page_views": r.page_views,
        "visitors": r.visitors,
        "visitors_detail": {
            "cookie": r.cookie_visitors,
            "cookieless": r.cookieless_visitors,
            "cookieless_requests": r.cookieless_requests,
            "log_lines_by_visitor_field": r.visitor_fields,
        },
        "visits": r.visits,
        "pages": [{"path": path, "views": views} for path, views in r.pages],
        "time_on_site": {
            "median_s": r.time_on_site.median_s,
            "mean_s": r.time_on_site.mean_s,
            "single_request_visits": r.time_on_site.single_request_visits,
            "multi_request_visits": r.time_on_site.multi_request_visits,
        },
        "hourly": [
            {
                "hour": when(h.start),
                "hits": h.hits,
                "page_views": h.page_views,
                "visitors": h.visitors,
            }
            for h in r.hourly
        ],
    }


def _load(c: Collected, when: _Stamps) -> dict[str, Any]:
    """The origin's own load: responses by class and the peaks, against the capacity."""
    second, minute = c.origin.peak_second, c.origin.peak_minute
    return {
        "status": c.origin.status,
        "peak": {
            "requests_per_second": second[1] if second else 0,
            "second": when(second[0]) if second else None,
            "requests_per_minute": minute[1] if minute else 0,
            "minute": when(minute[0]) if minute else None,
            "capacity_rps": c.options.capacity_rps,
        },
    }


def _publication(c: Collected, when: _Stamps) -> dict[str, Any]:
    """Cortes, rejections, incidents, the monitor's alerts and the time the corte was stale."""
    delays = [corte.delay_s for corte in c.cortes]
    cortes_s = max(0, int((c.cortes_until - c.window.start).total_seconds()))
    return {
        "cortes": [
            {
                "package": corte.package,
                "corte": when(corte.corte),
                "received": when(corte.received),
                "published": when(corte.published),
                "delay_s": corte.delay_s,
                "recovered": corte.recovered,
            }
            for corte in c.cortes
        ],
        "corte_delay": {
            "median_s": statistics.median(delays) if delays else None,
            "max_s": max(delays) if delays else None,
        },
        "rejections": [
            {
                "package": rej["package"],
                "reason": rej["reason"],
                "detail": rej["detail"],
                "rejected": when(rej["rejected"]),
            }
            for rej in c.rejections
        ],
        "incidents": [
            {
                "kind": i.kind,
                "start": when(i.start),
                "end": when(i.end),
                "duration_s": i.duration_s,
                "effect": i.effect,
                "detail": {
                    k: when(v) if isinstance(v, datetime) else v for k, v in i.detail.items()
                },
            }
            for i in c.incidents
        ],
        "alerts": [
            {"ts": when(a["ts"]), "level": a["level"], "previous": a["previous"]} for a in c.alerts
        ],
        "availability": {
            "window_s": c.window.seconds,
            "cortes_s": cortes_s,
            "stale_s": c.stale_s,
            "critical_s": c.critical_s,
            "stale_percent": round(100 * c.stale_s / cortes_s, 3) if cortes_s else 0.0,
        },
    }


def _method(c: Collected) -> dict[str, Any]:
    """How the figures were counted: the definitions, their parameters, what undercounts."""
    return {
        "definitions": definitions.texts(
            c.options.page_patterns,
            c.period_minutes,
            c.grace_minutes,
            c.options.burst_5xx_per_minute,
        ),
        "parameters": {
            "visit_gap_s": c.options.visit_gap_s,
            "page_pattern": definitions.page_regex(c.options.page_patterns),
            "period_minutes": c.period_minutes,
            "grace_minutes": c.grace_minutes,
            "burst_5xx_per_minute": c.options.burst_5xx_per_minute,
        },
        "caveats": sources.caveats(c.readers, c.options.behind_cdn),
    }


def _provenance(c: Collected) -> dict[str, Any]:
    """The source of each statistic, and the files of the copy it was read from."""
    return {
        "source": {
            **{
                figure: c.readers.source_of(figure)
                for figure in (*sources.COUNTS, *sources.PEOPLE, "hourly")
            },
            **dict.fromkeys(("status", "peak"), c.origin.source),
            **dict.fromkeys(("cortes", "rejections", "alerts", "availability"), PUBLISHER_LOG),
            "incidents": sorted(
                {PUBLISHER_LOG, c.origin.source} | ({JOURNAL} if c.copy.journal else set())
            ),
        },
        "sources": SOURCES,
        "inputs": {
            "access_logs": [p.name for p in c.copy.access_logs],
            "publisher_logs": [p.name for p in c.copy.publisher_logs],
            "journal": c.copy.journal.name if c.copy.journal else None,
            "cdn_analytics": c.copy.cdn_analytics.name if c.copy.cdn_analytics else None,
            "notes": bool(c.notes.sections),
            "ignored": [os.path.relpath(p, c.copy.root) for p in c.copy.ignored],
        },
    }
