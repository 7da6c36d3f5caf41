"""Cloudflare's own figures for a zone, from its GraphQL Analytics API, into the report's copy.

Behind a CDN the origin's logs see only the cache misses. Cloudflare counts every request at
its edge: ``httpRequests1hGroups`` (hourly roll-ups, not sampled) gives the requests of each
hour, and ``httpRequestsAdaptiveGroups`` the successful GETs of each path in each hour, from
which :mod:`difusor.report.sources` counts page views with the report's own definition. Both
come by the hour, so a period that does not start and end on the hour is widened to whole
hours for these figures (``cdn-analytics.json`` says which hours).

The token (``DIFUSOR_CDN_TOKEN``) needs *Zone > Analytics > Read* for the zone. Each dataset's
limits on the zone's plan (how far back, how long one query may span, how many rows) are read
from the API's ``settings`` node first, and the period is queried in pieces that fit; a piece
whose answer fills the page is split until it does not. Cloudflare keeps these figures for a
limited time (the ``notOlderThan`` of the plan): fetch them within that time after the window;
the copy keeps them after that.

    analytics = fetch_analytics(zone_id, token, period)     # -> the JSON written to the copy
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from difusor.report.model import Period

API_URL = "https://api.cloudflare.com/client/v4/graphql"
HOURLY = "httpRequests1hGroups"
ADAPTIVE = "httpRequestsAdaptiveGroups"
HOUR = timedelta(hours=1)

_ZONE_QUERY = (
    "query ({variables}) {{ viewer {{ zones(filter: {{zoneTag: $zoneTag}}) {{ {body} }} }} }}"
)
_SETTINGS = "settings {{ {nodes} }}".format(
    nodes=" ".join(
        f"{node} {{ enabled maxDuration maxPageSize notOlderThan }}" for node in (HOURLY, ADAPTIVE)
    )
)


def _hourly_body(limit: int) -> str:
    return (
        f"{HOURLY}(limit: {limit}, filter: $filter, orderBy: [datetime_ASC]) "
        "{ dimensions { datetime } sum { requests } }"
    )


def _adaptive_body(limit: int) -> str:
    return (
        f"{ADAPTIVE}(limit: {limit}, filter: $filter, orderBy: [datetimeHour_ASC]) "
        "{ count dimensions { datetimeHour clientRequestPath } }"
    )


# Successful GETs by readers (not Cloudflare's own requests: purges, health checks).
_SUCCESSFUL_GETS = {
    "requestSource": "eyeball",
    "clientRequestHTTPMethodName": "GET",
    "OR": [
        {"edgeResponseStatus_geq": 200, "edgeResponseStatus_lt": 300},
        {"edgeResponseStatus": 304},
    ],
}


class CloudflareError(RuntimeError):
    """The API refused or failed; the message says what to fix."""


@dataclass(frozen=True)
class Limits:
    """A dataset's limits on the zone's plan (the API's ``settings`` node)."""

    max_duration: timedelta
    max_page_size: int
    not_older_than: timedelta


def hours(period: Period) -> tuple[datetime, datetime]:
    """The whole UTC hours that cover ``period``: [first hour, end of the last hour)."""
    start = period.start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    last = period.end.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return start, last + HOUR


class Client:
    """POSTs GraphQL queries for one zone."""

    def __init__(self, zone_id: str, token: str, url: str = API_URL, timeout: float = 60):
        self.zone_id, self.token, self.url, self.timeout = zone_id, token, url, timeout

    def zone(self, body: str, filter_: tuple[str, dict] | None = None) -> dict[str, Any]:
        """The zone's node of the answer to ``body`` (fields of ``zones``); ``filter_`` is
        the type and value of its ``$filter`` variable."""
        variables: dict[str, Any] = {"zoneTag": self.zone_id}
        declared = "$zoneTag: string"
        if filter_ is not None:
            declared += f", $filter: {filter_[0]}"
            variables["filter"] = filter_[1]
        query = _ZONE_QUERY.format(variables=declared, body=body)
        payload = {"query": query, "variables": variables}
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "User-Agent": "difusor-report",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            hint = (
                " (the token needs Zone > Analytics > Read for this zone)"
                if exc.code in (401, 403)
                else ""
            )
            raise CloudflareError(
                f"Cloudflare analytics API answered HTTP {exc.code}{hint}"
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise CloudflareError(f"Cloudflare analytics API unreachable: {exc}") from exc
        errors = answer.get("errors") or []
        if errors:
            messages = "; ".join(str(e.get("message")) for e in errors)
            raise CloudflareError(f"Cloudflare analytics API: {messages}")
        zones = ((answer.get("data") or {}).get("viewer") or {}).get("zones") or []
        if not zones:
            raise CloudflareError(
                f"Cloudflare analytics API: zone {self.zone_id} not found, or not readable with "
                "this token"
            )
        return dict(zones[0])

    def limits(self) -> dict[str, Limits]:
        settings = self.zone(_SETTINGS)["settings"]
        limits = {}
        for node in (HOURLY, ADAPTIVE):
            values = settings.get(node) or {}
            if not values.get("enabled"):
                raise CloudflareError(f"Cloudflare analytics: {node} is not available on this zone")
            limits[node] = Limits(
                max_duration=timedelta(seconds=int(values["maxDuration"])),
                max_page_size=int(values["maxPageSize"]),
                not_older_than=timedelta(seconds=int(values["notOlderThan"])),
            )
        return limits

    def rows(self, node: str, body: str, start: datetime, end: datetime, extra: dict) -> list:
        filter_ = {"datetime_geq": _time(start), "datetime_lt": _time(end), **extra}
        filter_type = f"Zone{node[0].upper()}{node[1:]}Filter_InputObject"
        return list(self.zone(body, (filter_type, filter_)).get(node) or [])


def fetch_analytics(
    zone_id: str,
    token: str,
    period: Period,
    url: str = API_URL,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The zone's requests per hour and successful GETs per path and hour for ``period``."""
    client = Client(zone_id, token, url)
    limits = client.limits()
    start, end = hours(period)
    now = now or datetime.now(timezone.utc)
    for node, limit in limits.items():
        if start < now - limit.not_older_than:
            raise CloudflareError(
                f"Cloudflare keeps {node} for {limit.not_older_than.days} days on this zone's "
                f"plan: the period starts {start:%Y-%m-%d %H:%M} UTC, earlier than that"
            )
    hourly = limits[HOURLY]
    requests = []
    # One row per hour: a piece spans at most a page of hours.
    span = min(hourly.max_duration, HOUR * hourly.max_page_size)
    for piece_start, piece_end in _pieces(start, end, span):
        body = _hourly_body(hourly.max_page_size)
        for row in client.rows(HOURLY, body, piece_start, piece_end, {}):
            requests.append([row["dimensions"]["datetime"], int(row["sum"]["requests"])])
    adaptive = limits[ADAPTIVE]
    gets: list[list[Any]] = []
    for piece_start, piece_end in _pieces(start, end, adaptive.max_duration):
        gets += _paths(client, adaptive.max_page_size, piece_start, piece_end)
    return {
        "provider": "cloudflare",
        "zone_id": zone_id,
        "fetched": now.isoformat(timespec="seconds"),
        "hours": {"from": _time(start), "to": _time(end)},
        # [hour, requests]: every request Cloudflare answered for the zone in that hour
        "requests": sorted(requests),
        # [hour, path, requests]: readers' successful GETs (2xx, 304) of each path
        "successful_gets": sorted(gets),
    }


def _paths(client: Client, limit: int, start: datetime, end: datetime) -> list[list[Any]]:
    """Successful GETs by path and hour; a piece whose answer fills the page is split."""
    body = _adaptive_body(limit)
    rows = client.rows(ADAPTIVE, body, start, end, _SUCCESSFUL_GETS)
    if len(rows) >= limit:
        if end - start <= HOUR:
            raise CloudflareError(
                f"Cloudflare analytics: more than {limit:,} paths in the hour from "
                f"{start:%Y-%m-%d %H:%M} UTC (the plan's page size)"
            )
        middle = start + HOUR * math.ceil((end - start) / HOUR / 2)
        return _paths(client, limit, start, middle) + _paths(client, limit, middle, end)
    return [
        [
            row["dimensions"]["datetimeHour"],
            row["dimensions"]["clientRequestPath"],
            int(row["count"]),
        ]
        for row in rows
    ]


def _pieces(start: datetime, end: datetime, span: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) in consecutive pieces of at most ``span``, on whole hours."""
    step = max(HOUR, HOUR * int(span / HOUR))
    while start < end:
        yield start, min(end, start + step)
        start += step


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
