"""Where each reader figure comes from: the origin's logs, the CDN's analytics, the beacon.

Without a CDN the origin's access log sees every request, and every figure comes from it.
Behind a CDN it sees only what the CDN did not serve from its cache, so:

- *counts* (hits, page views, the list of pages, per hour) come from the CDN's own analytics
  when the copy has them (``cdn-analytics.json``, :mod:`difusor.report.cloudflare`);
- *people* (visitors, visits, time on site) come from the beacon: the no-store request that
  every load of the difusor's own pages sends to the origin (``paths.BEACON_PATH``), which
  the CDN never answers from its cache, with the same visitor cookie and definitions;
- whatever has no better source stays with the origin's logs, and the report says that
  those figures undercount (:func:`caveats`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from difusor import paths
from difusor.report import cloudflare, definitions, traffic
from difusor.report.copy import CopyError
from difusor.report.model import (
    BEACON,
    CDN_ANALYTICS,
    ORIGIN_LOGS,
    Hour,
    Period,
    ReportOptions,
    TimeOnSite,
    Traffic,
)

COUNTS = ("hits", "page_views", "pages")
PEOPLE = ("visitors", "visits", "time_on_site")


@dataclass(frozen=True)
class CdnAnalytics:
    """Hits and page views from the CDN's analytics kept in the copy, by whole hours."""

    path: Path
    page_regex: str
    name: str = CDN_ANALYTICS

    def traffic(self, period: Period, zone: str) -> Traffic:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            start, end = cloudflare.hours(period)
            covered = (_instant(data["hours"]["from"]), _instant(data["hours"]["to"]))
            requests = data["requests"]
            gets = data["successful_gets"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CopyError(f"{self.path}: not a CDN analytics file ({exc})") from exc
        if covered[0] > start or covered[1] < end:
            raise CopyError(
                f"{self.path} covers {covered[0]:%Y-%m-%d %H:%M} to {covered[1]:%Y-%m-%d %H:%M} "
                f"UTC, not the period's hours ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}): "
                "fetch the report again for this period"
            )
        page = re.compile(self.page_regex)
        hits: Counter[datetime] = Counter()
        views: Counter[datetime] = Counter()
        pages: Counter[str] = Counter()
        for hour, n in requests:
            if start <= (moment := _instant(hour)) < end:
                hits[moment] += int(n)
        for hour, path, n in gets:
            if start <= (moment := _instant(hour)) < end and page.search(path):
                views[moment] += int(n)
                pages[path] += int(n)
        return Traffic(
            source=self.name,
            hits=sum(hits.values()),
            page_views=sum(views.values()),
            visitors=0,
            cookie_visitors=0,
            cookieless_visitors=0,
            cookieless_requests=0,
            visits=0,
            pages=sorted(pages.items(), key=lambda item: (-item[1], item[0])),
            time_on_site=TimeOnSite(None, None, 0, 0),
            hourly=[Hour(h, hits[h], views[h], 0) for h in sorted(hits.keys() | views.keys())],
            status={},
            peak_second=None,
            peak_minute=None,
            bursts_5xx=[],
        )


@dataclass(frozen=True)
class OriginLogs:
    """Reader statistics from the portal's own access logs (:mod:`difusor.report.traffic`);
    with ``only_path``, from the requests of that path alone (the beacon's)."""

    files: list[Path]
    options: ReportOptions
    name: str = ORIGIN_LOGS
    only_path: str | None = None

    def traffic(self, period: Period, zone: str) -> Traffic:
        return traffic.count(
            self.files,
            period,
            zone,
            definitions.page_regex(self.options.page_patterns),
            self.options.visit_gap_s,
            self.options.burst_5xx_per_minute,
            self.options.memory_limit,
            self.options.threads,
            only_path=self.only_path,
            source=self.name,
        )


def beacon(files: list[Path], options: ReportOptions) -> OriginLogs:
    """Visitors, visits and time on site from the beacon's requests in the origin's logs."""
    return OriginLogs(files, options, BEACON, paths.BEACON_PATH)


def combine(counts: Traffic, people: Traffic) -> Traffic:
    """Counts from one source and people from another, each figure naming its own."""
    if counts is people:
        return counts
    visitors = {h.start: h.visitors for h in people.hourly}
    hourly = {h.start: replace(h, visitors=visitors.get(h.start, 0)) for h in counts.hourly}
    for start, n in visitors.items():
        hourly.setdefault(start, Hour(start, 0, 0, n))
    return replace(
        counts,
        visitors=people.visitors,
        cookie_visitors=people.cookie_visitors,
        cookieless_visitors=people.cookieless_visitors,
        cookieless_requests=people.cookieless_requests,
        visits=people.visits,
        time_on_site=people.time_on_site,
        hourly=[hourly[start] for start in sorted(hourly)],
        visitor_fields=people.visitor_fields,
        sources={
            **dict.fromkeys(COUNTS, counts.source),
            **dict.fromkeys(PEOPLE, people.source),
            "hourly": [counts.source, people.source],
        },
    )


def readers(
    origin: Traffic,
    cdn: CdnAnalytics | None,
    beacon_logs: OriginLogs | None,
    period: Period,
    zone: str,
) -> Traffic:
    """The reader figures from the best source for each (module doc)."""
    counts = cdn.traffic(period, zone) if cdn else origin
    people = origin
    if beacon_logs is not None:
        counted = beacon_logs.traffic(period, zone)
        if counted.hits:
            people = counted
    return combine(counts, people)


def caveats(readers: Traffic, behind_cdn: bool) -> list[str]:
    """What the document must say about figures that undercount (Spanish)."""
    if not behind_cdn:
        return []
    notes = []
    if readers.source_of("hits") != CDN_ANALYTICS:
        notes.append(
            "El portal está detrás de una CDN y no hay analítica de la CDN para el periodo: "
            "los hits y las páginas consultadas vienen del servidor de origen, que solo ve las "
            "solicitudes que la CDN no sirvió desde su caché, y por eso se subestiman."
        )
    if readers.source_of("visitors") != BEACON:
        notes.append(
            "El portal está detrás de una CDN y la baliza de las páginas del difusor no registró "
            "solicitudes en el periodo: visitantes, visitas y tiempo de permanencia vienen del "
            "servidor de origen y se subestiman."
        )
    return notes


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
