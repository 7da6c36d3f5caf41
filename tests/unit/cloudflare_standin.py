"""A local stand-in for Cloudflare's GraphQL Analytics API (never the real one), answering
with the documented schema from a list of synthetic edge requests.

What it implements, from Cloudflare's documentation (developers.cloudflare.com/analytics/
graphql-api): ``POST /client/v4/graphql`` with ``{"query", "variables"}`` and a bearer token;
answers ``{"data": {"viewer": {"zones": [...]}}, "errors": null}``, or ``"data": null`` and
``errors`` with a ``message`` (a 200 can carry an error); the ``settings`` node with
``enabled``, ``maxDuration``, ``maxPageSize``, ``notOlderThan`` per dataset; dataset filters
``field``, ``field_geq|gt|lt|leq|neq|in``, ``AND``, ``OR``; ``limit``; and the two datasets the
report reads:

- ``httpRequests1hGroups``: ``dimensions { datetime }`` (the hour), ``sum { requests }``;
- ``httpRequestsAdaptiveGroups``: ``count``, ``dimensions { datetimeHour clientRequestPath }``.

Like the real API it refuses a range wider than ``maxDuration`` or older than
``notOlderThan``, and returns at most ``limit`` rows. ``queries`` records what it was asked.
"""

from __future__ import annotations

import json
import operator
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "stand-in-token-with-analytics-read"
ZONE = "0123456789abcdef0123456789abcdef"
# The documented scalar filter operators (``field_op``; no suffix: equal).
OPERATORS: dict[str, Any] = {
    "": operator.eq,
    "geq": operator.ge,
    "gt": operator.gt,
    "lt": operator.lt,
    "leq": operator.le,
    "neq": operator.ne,
    "in": lambda have, want: have in want,
}


@dataclass(frozen=True)
class EdgeRequest:
    """One request as Cloudflare's edge saw it."""

    datetime: datetime
    path: str
    status: int = 200
    method: str = "GET"
    source: str = "eyeball"  # "eyeball": a reader; other values: Cloudflare's own requests

    def fields(self) -> dict[str, Any]:
        return {
            "datetime": self.datetime,
            "clientRequestPath": self.path,
            "edgeResponseStatus": self.status,
            "clientRequestHTTPMethodName": self.method,
            "requestSource": self.source,
        }


@dataclass
class StandIn:
    requests: list[EdgeRequest]
    now: datetime
    max_duration: dict[str, int] = field(
        default_factory=lambda: {
            "httpRequests1hGroups": 259200,
            "httpRequestsAdaptiveGroups": 86400,
        }
    )
    max_page_size: dict[str, int] = field(
        default_factory=lambda: {"httpRequests1hGroups": 10000, "httpRequestsAdaptiveGroups": 10000}
    )
    not_older_than: int = 2678400
    queries: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, token: str | None, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if token != TOKEN:
            return 403, {
                "success": False,
                "errors": [{"code": 10000, "message": "Authentication error"}],
            }
        self.queries.append(payload)
        query, variables = payload["query"], payload.get("variables") or {}
        if variables.get("zoneTag") != ZONE:
            return 200, {"data": {"viewer": {"zones": []}}, "errors": None}
        try:
            zone = self._zone(query, variables)
        except ValueError as error:
            return 200, {
                "data": None,
                "errors": [
                    {
                        "message": str(error),
                        "path": ["viewer", "zones", "0"],
                        "extensions": {"timestamp": self.now.isoformat()},
                    }
                ],
            }
        return 200, {"data": {"viewer": {"zones": [zone]}}, "errors": None}

    def _zone(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if re.search(r"\bsettings\s*\{", query):
            return {
                "settings": {
                    node: {
                        "enabled": True,
                        "maxDuration": self.max_duration[node],
                        "maxPageSize": self.max_page_size[node],
                        "notOlderThan": self.not_older_than,
                    }
                    for node in self.max_duration
                    if node in query
                }
            }
        node = re.search(r"(httpRequests1hGroups|httpRequestsAdaptiveGroups)\s*\(", query)
        if node is None:
            raise ValueError("unknown field")
        name = node.group(1)
        limit = int(re.search(r"limit:\s*(\d+)", query).group(1))  # type: ignore[union-attr]
        filter_ = variables.get("filter") or {}
        start = _time(filter_["datetime_geq"])
        end = _time(filter_["datetime_lt"])
        if end - start > timedelta(seconds=self.max_duration[name]):
            raise ValueError(
                f"query time range is too large for zone {ZONE}. Time range can't be wider "
                f"than {self.max_duration[name]}s, but it's {int((end - start).total_seconds())}s"
            )
        if start < self.now - timedelta(seconds=self.not_older_than):
            raise ValueError(f"cannot request data older than {self.not_older_than}s")
        if limit > self.max_page_size[name]:
            raise ValueError(f"limit must be less or equal to {self.max_page_size[name]}")
        chosen = [r for r in self.requests if _matches(r.fields(), filter_)]
        if name == "httpRequests1hGroups":
            per_hour = Counter(_hour(r.datetime) for r in chosen)
            rows = [
                {"dimensions": {"datetime": _text(hour)}, "sum": {"requests": n}}
                for hour, n in sorted(per_hour.items())
            ]
        else:
            groups = Counter((_hour(r.datetime), r.path) for r in chosen)
            rows = [
                {"count": n, "dimensions": {"datetimeHour": _text(hour), "clientRequestPath": path}}
                for (hour, path), n in sorted(groups.items())
            ]
        return {name: rows[:limit]}


def _matches(record: dict[str, Any], filter_: dict[str, Any]) -> bool:
    for key, value in filter_.items():
        if key == "AND":
            if not all(_matches(record, f) for f in value):
                return False
            continue
        if key == "OR":
            if not any(_matches(record, f) for f in value):
                return False
            continue
        name, _, op = key.partition("_")
        have = record[name]
        want = _time(value) if name == "datetime" else value
        ok = OPERATORS[op](have, want)
        if not ok:
            return False
    return True


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Server:
    """The stand-in on 127.0.0.1, in a thread: ``with Server(standin) as url: ...``."""

    def __init__(self, standin: StandIn):
        self.standin = standin

    def __enter__(self) -> str:
        standin = self.standin

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/client/v4/graphql":
                    self.send_error(404)
                    return
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = standin.answer(token, json.loads(body))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}/client/v4/graphql"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
