"""Readers' figures from the portal's own JSON access logs (nginx), with DuckDB.

DuckDB reads the JSON lines (gzip or plain) in parallel, straight into a compact table of
hashed keys on a temporary on-disk database, and computes every figure with SQL. It was
chosen for the big-night target (10 million lines in a minute on 2 cores under 1 GiB):
``bench/report.py`` has the figures and the comparison with the alternatives.

Visitor keys (definitions.TEXT["visitor"]): a cookie value the reader sent back
(``visitor_got``) is a cookie visitor; a value nginx set (``visitor_set``) belongs to that
visitor when it comes back later in the period (the first request of a new visitor), and
otherwise marks a reader without cookies, counted by client address + user agent per local
day. Lines in the older format carry one combined ``visitor`` field (got or set), taken as the
cookie: such readers without cookies count once per request, and the report says how many
lines had the old format. Addresses and cookie values never leave this module: only 64-bit
hashes of them are stored, and only counts are returned.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from difusor.report.model import ORIGIN_LOGS, Burst, Hour, Period, TimeOnSite, Traffic

COLUMNS = {
    "time": "TIMESTAMPTZ",
    "client": "VARCHAR",
    "visitor": "VARCHAR",
    "visitor_got": "VARCHAR",
    "visitor_set": "VARCHAR",
    "method": "VARCHAR",
    "path": "VARCHAR",
    "status": "INTEGER",
    "user_agent": "VARCHAR",
}

# One scan of the logs: a row per request of the period, with hashed keys only.
_LOAD = """
CREATE TABLE request AS
SELECT
    epoch(time)::BIGINT AS t,
    status::SMALLINT AS status,
    method = 'GET' AND (status BETWEEN 200 AND 299 OR status = 304)
        AND regexp_matches(path, $page_regex) AS page,
    CASE WHEN coalesce(visitor_got, visitor, '') <> ''
         THEN hash(coalesce(visitor_got, visitor)) END AS got,
    CASE WHEN coalesce(visitor_set, '') <> '' THEN hash(visitor_set) END AS sent,
    hash(client, user_agent, CAST(timezone($zone, time) AS DATE)) AS reader,
    visitor_got IS NOT NULL OR visitor_set IS NOT NULL AS paired,
    CASE WHEN page THEN path END AS page_path
FROM read_json($files, format = 'newline_delimited', columns = $columns, ignore_errors = true)
WHERE time BETWEEN $start AND $end AND ($only_path IS NULL OR path = $only_path)
"""

# The visitor of each request: its cookie, or (no cookie came back) its reader key.
_VISITOR = """
CREATE TABLE hit AS
WITH returned AS (SELECT DISTINCT got AS cookie FROM request WHERE got IS NOT NULL)
SELECT r.t, r.status, r.page, r.page_path,
       coalesce(r.got, returned.cookie, r.reader) AS visitor,
       r.got IS NULL AND returned.cookie IS NULL AS cookieless
FROM request r LEFT JOIN returned ON r.got IS NULL AND r.sent = returned.cookie
"""

_TOTALS = """
SELECT count(*), count(*) FILTER (page),
       count(DISTINCT visitor),
       count(DISTINCT visitor) FILTER (NOT cookieless),
       count(DISTINCT visitor) FILTER (cookieless),
       count(*) FILTER (cookieless),
       count(*) FILTER (status BETWEEN 200 AND 299),
       count(*) FILTER (status BETWEEN 300 AND 399),
       count(*) FILTER (status BETWEEN 400 AND 499),
       count(*) FILTER (status >= 500)
FROM hit
"""

# Visits: a new one starts at a visitor's first request and after every gap > visit_gap.
# Requests of one visitor in the same second are one row first (a page and its assets).
_VISITS = """
WITH second AS (SELECT visitor, t, count(*) AS n FROM hit GROUP BY visitor, t),
gap AS (
    SELECT visitor, t, n,
           CASE WHEN t - lag(t) OVER (PARTITION BY visitor ORDER BY t) <= $gap
                THEN 0 ELSE 1 END AS starts
    FROM second
),
numbered AS (
    SELECT visitor, t, n,
           sum(starts) OVER (PARTITION BY visitor ORDER BY t ROWS UNBOUNDED PRECEDING) AS visit
    FROM gap
),
visit AS (
    SELECT max(t) - min(t) AS duration, sum(n) AS requests FROM numbered GROUP BY visitor, visit
)
SELECT count(*),
       count(*) FILTER (requests = 1),
       count(*) FILTER (requests > 1),
       median(duration) FILTER (requests > 1),
       avg(duration) FILTER (requests > 1)
FROM visit
"""

_HOURLY = """
SELECT t // 3600 AS hour, count(*), count(*) FILTER (page), count(DISTINCT visitor)
FROM hit GROUP BY hour ORDER BY hour
"""

_PAGES = """
SELECT page_path, count(*) AS views FROM hit WHERE page
GROUP BY page_path ORDER BY views DESC, page_path
"""

_PEAK = (
    "SELECT t // $size AS slot, count(*) AS n FROM hit GROUP BY slot ORDER BY n DESC, slot LIMIT 1"
)

_BURST_MINUTES = """
SELECT t // 60 AS minute, count(*) FILTER (status >= 500) AS errors, count(*)
FROM hit GROUP BY minute HAVING errors >= $threshold ORDER BY minute
"""

_FIELDS = "SELECT paired, count(*) FROM request GROUP BY paired"


@contextmanager
def _database(memory_limit: str, threads: int | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB database in a temp dir: its tables spill to disk past ``memory_limit``."""
    with tempfile.TemporaryDirectory(prefix="difusor-report-") as scratch:
        con = duckdb.connect(str(Path(scratch) / "traffic.duckdb"))
        try:
            con.execute(f"SET memory_limit = '{_checked_size(memory_limit)}'")
            con.execute(f"SET temp_directory = '{Path(scratch) / 'spill'}'")
            con.execute("SET preserve_insertion_order = false")
            # Its progress bar would fill the command's output (and CI logs) with redraws.
            con.execute("SET enable_progress_bar = false")
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            yield con
        finally:
            con.close()


def count(
    files: list[Path],
    period: Period,
    zone: str,
    page_regex: str,
    visit_gap_s: int,
    burst_5xx_per_minute: int,
    memory_limit: str = "600MB",
    threads: int | None = None,
    only_path: str | None = None,
    source: str = ORIGIN_LOGS,
) -> Traffic:
    """Every reader figure of ``period`` from these access logs (plain or .gz); with
    ``only_path``, from the requests of that one path (the beacon), named ``source``."""
    if not files:
        return _empty({}, source)
    with _database(memory_limit, threads) as con:
        con.execute(
            _LOAD,
            {
                "files": [str(f) for f in files],
                "columns": COLUMNS,
                "page_regex": page_regex,
                "zone": zone,
                "start": period.start,
                "end": period.end,
                "only_path": only_path,
            },
        )
        con.execute(_VISITOR)
        fields = {("pair" if paired else "combined"): n for paired, n in _rows(con, _FIELDS)}
        totals = con.execute(_TOTALS).fetchone()
        assert totals is not None
        hits, page_views, visitors, cookie, cookieless, cookieless_requests, *classes = totals
        if not hits:
            return _empty(fields, source)
        visits, single, multi, median, mean = con.execute(
            _VISITS, {"gap": visit_gap_s}
        ).fetchone() or (
            0,
            0,
            0,
            None,
            None,
        )

        def instant(seconds: int) -> datetime:
            return datetime.fromtimestamp(seconds, timezone.utc)

        def peak(size: int) -> tuple[datetime, int]:
            slot, n = con.execute(_PEAK, {"size": size}).fetchone() or (0, 0)
            return instant(slot * size), n

        bursts: list[Burst] = []
        for minute, errors, minute_hits in _rows(
            con, _BURST_MINUTES, {"threshold": burst_5xx_per_minute}
        ):
            start = instant(minute * 60)
            if bursts and bursts[-1].end == start:  # consecutive minutes: one burst
                last = bursts[-1]
                bursts[-1] = Burst(
                    last.start,
                    instant(minute * 60 + 60),
                    last.errors + errors,
                    last.hits + minute_hits,
                )
            else:
                bursts.append(Burst(start, instant(minute * 60 + 60), errors, minute_hits))
        return Traffic(
            source=source,
            hits=hits,
            page_views=page_views,
            visitors=visitors,
            cookie_visitors=cookie,
            cookieless_visitors=cookieless,
            cookieless_requests=cookieless_requests,
            visits=visits,
            pages=[(path, views) for path, views in _rows(con, _PAGES)],
            time_on_site=TimeOnSite(
                median_s=None if median is None else float(median),
                mean_s=None if mean is None else round(float(mean), 1),
                single_request_visits=single,
                multi_request_visits=multi,
            ),
            hourly=[
                Hour(instant(hour * 3600), n, views, readers)
                for hour, n, views, readers in _rows(con, _HOURLY)
            ],
            status=dict(zip(("2xx", "3xx", "4xx", "5xx"), classes, strict=True)),
            peak_second=peak(1),
            peak_minute=peak(60),
            bursts_5xx=bursts,
            visitor_fields=fields,
        )


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or {}).fetchall()


def _empty(fields: dict[str, int], source: str) -> Traffic:
    return Traffic(
        source=source,
        hits=0,
        page_views=0,
        visitors=0,
        cookie_visitors=0,
        cookieless_visitors=0,
        cookieless_requests=0,
        visits=0,
        pages=[],
        time_on_site=TimeOnSite(None, None, 0, 0),
        hourly=[],
        status={"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0},
        peak_second=None,
        peak_minute=None,
        bursts_5xx=[],
        visitor_fields=fields,
    )


def _checked_size(value: str) -> str:
    """DuckDB's memory limit, e.g. 600MB or 1GiB (it is put into SQL, so it is checked)."""
    number = value.rstrip("KMGTiBb ")
    if not number.isdigit() or value[len(number) :].strip() not in {
        "KB",
        "MB",
        "GB",
        "KiB",
        "MiB",
        "GiB",
    }:
        raise ValueError(f"memory_limit: {value!r} is not a size such as 600MB or 1GiB")
    return value
