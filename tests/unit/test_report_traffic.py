"""The memoria técnica's reader figures (difusor.report.traffic) against hand-counted logs and an
independent plain-Python reading of the definitions (report_reference.py)."""

from __future__ import annotations

import gzip
import json
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from difusor.report import definitions, traffic
from difusor.report.copy import open_copy
from difusor.report.model import Period

from .report_reference import figures

ZONE = "America/Mexico_City"
LOCAL = timezone(timedelta(hours=-6))
# Readers' addresses: documentation ranges only (RFC 5737).
DOCUMENTATION_IPV4 = ("192.0.2", "198.51.100", "203.0.113")
T0 = datetime(2024, 6, 2, 21, 0, tzinfo=LOCAL)
PERIOD = Period.local(datetime(2024, 6, 2, 20, 0), datetime(2024, 6, 9, 23, 59, 59), ZONE)


def line(
    at: datetime | str,
    path: str = "/",
    status: int = 200,
    method: str = "GET",
    client: str = "198.51.100.7",
    agent: str = "Mozilla/5.0 (X11; Linux x86_64)",
    got: str = "",
    sent: str = "",
    visitor: str | None = None,
) -> str:
    """One access-log line as the kit's nginx writes it (``visitor`` = the old combined field)."""
    record: dict[str, object] = {
        "time": at if isinstance(at, str) else at.isoformat(),
        "client": client,
    }
    if visitor is None:
        record |= {"visitor_got": got, "visitor_set": sent}
    else:
        record["visitor"] = visitor
    record |= {
        "method": method,
        "host": "prep.example.com.mx",
        "path": path,
        "query": "",
        "status": status,
        "bytes": 512,
        "referer": "",
        "user_agent": agent,
        "request_time": 0.001,
        "tls": "TLSv1.3",
        "corte": "",
        "cache": "",
        "cdn_cache": "",
        "cdn_ray": "",
    }
    return json.dumps(record)


def count(tmp_path: Path, lines: list[str], period: Period = PERIOD, **kwargs):
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    options = {"visit_gap_s": definitions.VISIT_GAP_S, "burst_5xx_per_minute": 10} | kwargs
    return traffic.count([log], period, ZONE, definitions.page_regex(), **options)


def test_a_hit_is_every_request_and_a_page_view_a_successful_get_of_a_document(tmp_path):
    lines = [
        line(T0, "/"),  # page
        line(T0, "/gubernatura/entidad.html", 304),  # page: the browser's copy is current
        line(T0, "/ayuda.htm", 204),  # page
        line(T0, "/css/prep.css"),  # asset
        line(T0, "/data/gubernatura.json"),  # data file
        line(T0, "/", method="HEAD"),  # not a GET
        line(T0, "/falta.html", 404),  # not successful
        line(T0, "/diputaciones", 301),  # redirect
        line(T0, "/", 500),  # server error
        line(T0, "/", 429),  # refused by the rate limit
    ]
    result = count(tmp_path, lines)
    assert result.hits == 10
    assert result.page_views == 3
    assert result.pages == [("/", 1), ("/ayuda.htm", 1), ("/gubernatura/entidad.html", 1)]
    assert result.status == {"2xx": 5, "3xx": 2, "4xx": 2, "5xx": 1}


def test_extra_page_patterns_count_as_documents(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("\n".join([line(T0, "/resultados.php"), line(T0, "/x.json")]) + "\n")
    result = traffic.count([log], PERIOD, ZONE, definitions.page_regex((r"\.php$",)), 1800, 10)
    assert result.page_views == 1
    with pytest.raises(ValueError, match=r"page_patterns: '\(' is not a valid pattern"):
        definitions.page_regex(("(",))


def test_a_returning_cookie_is_one_visitor_and_readers_without_cookies_count_per_address_agent_day(
    tmp_path,
):
    lines = [
        # a new reader: nginx sets the cookie, the reader sends it back afterwards
        line(T0, "/", sent="difusor=AAAA"),
        line(T0 + timedelta(seconds=1), "/css/prep.css", got="difusor=AAAA"),
        line(T0 + timedelta(days=1), "/", got="difusor=AAAA", client="203.0.113.99"),
        # a reader refusing cookies: a new cookie is set at every request, none comes back
        line(T0, "/", sent="difusor=R1", client="192.0.2.1"),
        line(T0 + timedelta(seconds=5), "/a.html", sent="difusor=R2", client="192.0.2.1"),
        line(T0 + timedelta(minutes=50), "/b.html", sent="difusor=R3", client="192.0.2.1"),
        # the same address and agent the next local day: another visitor
        line(T0 + timedelta(hours=4), "/", sent="difusor=R4", client="192.0.2.1"),
        # the same address, another browser: another visitor
        line(T0, "/", sent="difusor=R5", client="192.0.2.1", agent="curl/8.5"),
    ]
    result = count(tmp_path, lines)
    assert result.visitors == 4
    assert (result.cookie_visitors, result.cookieless_visitors) == (1, 3)
    assert result.cookieless_requests == 5
    assert result.visitor_fields == {"pair": 8}
    # visits: the cookie reader 2 (a day apart); the first cookieless reader 2 (50 min gap)
    assert result.visits == 2 + 2 + 1 + 1


def test_the_old_combined_visitor_field_is_read_as_the_cookie_and_mixes_with_the_pair(tmp_path):
    lines = [
        line(T0, "/", visitor="difusor=AAAA"),  # old format: set or sent back, unknown
        line(T0 + timedelta(seconds=30), "/a.html", visitor="difusor=AAAA"),
        line(T0, "/", visitor="difusor=BBBB"),
        # after the upgrade the same reader sends the cookie back in visitor_got
        line(T0 + timedelta(minutes=1), "/b.html", got="difusor=AAAA"),
    ]
    result = count(tmp_path, lines)
    assert result.visitors == 2
    assert result.cookieless_visitors == 0
    assert result.visitor_fields == {"combined": 3, "pair": 1}
    assert result.visits == 2
    assert result.time_on_site.median_s == 60.0


def test_a_visit_ends_after_more_than_30_minutes_and_time_on_site_is_last_minus_first(tmp_path):
    a, b, c = "difusor=A", "difusor=B", "difusor=C"
    lines = [
        line(T0, got=a),
        line(T0 + timedelta(seconds=600), got=a),
        line(T0 + timedelta(seconds=1800), got=a),  # a 20-minute gap: the same visit
        line(T0 + timedelta(seconds=1800 + 1801), got=a),  # 30 min 01 s: a new visit
        line(T0 + timedelta(seconds=1800 + 1801 + 60), got=a),
        line(T0, got=b),  # one request: a visit without a duration
        line(T0, got=c),
        line(T0 + timedelta(seconds=10), got=c),
        line(T0 + timedelta(seconds=10), "/css/prep.css", got=c),  # same second: one visit
    ]
    result = count(tmp_path, lines)
    assert result.visits == 4
    assert result.time_on_site.single_request_visits == 1
    assert result.time_on_site.multi_request_visits == 3
    assert result.time_on_site.median_s == 60.0  # durations 1800, 60, 10
    assert result.time_on_site.mean_s == 623.3


def test_the_period_is_local_time_with_both_ends_included_whatever_offset_the_log_has(tmp_path):
    period = Period.local(datetime(2024, 6, 2, 20, 0), datetime(2024, 6, 2, 23, 59, 59), ZONE)
    lines = [
        line("2024-06-02T19:59:59-06:00"),  # a second early
        line("2024-06-03T02:00:00+00:00"),  # 20:00:00 local, the first second
        line("2024-06-02T22:00:00-05:00"),  # 21:00 local
        line("2024-06-03T05:59:59Z"),  # 23:59:59 local, the last second
        line("2024-06-03T00:00:00-06:00"),  # a second late
    ]
    result = count(tmp_path, lines, period)
    assert result.hits == 3
    assert [h.start for h in result.hourly] == [
        datetime(2024, 6, 3, 2, tzinfo=timezone.utc),
        datetime(2024, 6, 3, 3, tzinfo=timezone.utc),
        datetime(2024, 6, 3, 5, tzinfo=timezone.utc),
    ]


def test_rotated_and_compressed_logs_are_all_read_and_other_files_listed_apart(tmp_path):
    folder = tmp_path / "var/log/nginx"
    folder.mkdir(parents=True)
    days = {
        "access.log": 1,
        "access.log.1": 2,
        "access.log.2.gz": 3,
        "access.log-20240603-1717394400": 4,
        "access.log-20240602-1717308000.gz": 5,
    }
    for name, n in days.items():
        text = "\n".join(line(T0 + timedelta(minutes=i), f"/{name}.html") for i in range(n)) + "\n"
        if name.endswith(".gz"):
            (folder / name).write_bytes(gzip.compress(text.encode()))
        else:
            (folder / name).write_text(text)
    (folder / "access.log.bak").write_text(line(T0) + "\n")
    (folder / "error.log").write_text("not an access log\n")
    copy = open_copy(tmp_path)
    assert sorted(p.name for p in copy.access_logs) == sorted(days)
    assert [p.name for p in copy.ignored] == ["access.log.bak"]
    result = traffic.count(copy.access_logs, PERIOD, ZONE, definitions.page_regex(), 1800, 10)
    assert result.hits == 15
    assert dict(result.pages) == {f"/{name}.html": n for name, n in days.items()}


def test_a_torn_last_line_is_skipped(tmp_path):
    result = count(tmp_path, [line(T0), line(T0)[:40]])
    assert result.hits == 1


def test_a_burst_is_a_minute_with_many_5xx_and_consecutive_minutes_are_one_burst(tmp_path):
    minute = datetime(2024, 6, 2, 22, 0, tzinfo=LOCAL)
    lines = [line(minute + timedelta(seconds=s), status=502) for s in range(10)]
    lines += [line(minute + timedelta(seconds=60 + s), status=500) for s in range(12)]
    lines += [line(minute + timedelta(seconds=60 + s)) for s in range(5)]
    lines += [line(minute + timedelta(minutes=5, seconds=s), status=503) for s in range(9)]
    result = count(tmp_path, lines)
    assert len(result.bursts_5xx) == 1
    burst = result.bursts_5xx[0]
    assert (burst.start, burst.end) == (minute, minute + timedelta(minutes=2))
    assert (burst.errors, burst.hits) == (22, 27)
    assert result.peak_second == (minute + timedelta(seconds=60), 2)


def _random_night(seed: int, readers: int = 120) -> list[str]:
    """A mixed night: cookie readers (some returning after days), readers refusing cookies,
    old-format lines, pauses around 30 minutes, assets, 304s, 404s, lines outside the period."""
    rng = random.Random(seed)
    lines = []
    for reader in range(readers):
        kind = rng.random()
        client = f"{DOCUMENTATION_IPV4[reader % 3]}.{reader // 3 % 254 + 1}"
        agent = rng.choice(["Firefox/126", "Safari/17", "Chrome/125"])
        cookie = f"difusor={reader:032X}"
        fresh = True
        t = datetime(2024, 6, 2, 19, 30, tzinfo=LOCAL) + timedelta(
            seconds=rng.randint(0, 9 * 86400)
        )
        for _ in range(rng.randint(1, 25)):
            path = rng.choice(["/", "/a.html", "/b/", "/c.htm", "/x.css", "/d.json", "/no.html"])
            status = 404 if path == "/no.html" else rng.choice([200, 200, 304])
            if kind < 0.15:  # refuses cookies
                fields = {"sent": f"difusor=N{rng.getrandbits(64):X}"}
            elif kind < 0.3:  # logged before the format changed
                fields = {"visitor": cookie}
            else:
                fields = {"sent": cookie} if fresh else {"got": cookie}
                fresh = False
            lines.append(line(t, path, status, client=client, agent=agent, **fields))
            t += timedelta(seconds=rng.choice([0, 1, 30, 300, 1799, 1800, 1801, 4000, 90000]))
    rng.shuffle(lines)
    return lines


@pytest.mark.parametrize("seed", [1, 2])
def test_the_engine_agrees_with_a_plain_reading_of_the_definitions(tmp_path, seed):
    lines = _random_night(seed)
    expected = figures(lines, PERIOD, definitions.VISIT_GAP_S)
    result = count(tmp_path, lines)
    assert result.hits == expected.hits
    assert result.page_views == expected.page_views
    assert result.visitors == expected.visitors
    assert result.cookieless_visitors == expected.cookieless_visitors
    assert result.visits == expected.visits
    assert result.time_on_site.single_request_visits == expected.single_request_visits
    assert result.time_on_site.median_s == expected.median_s
    assert result.time_on_site.mean_s == expected.mean_s
    assert result.pages == expected.pages


def test_the_engine_reads_the_visitor_pair_and_every_field_the_portal_logs(tmp_path):
    template = (Path(__file__).parents[2] / "templates/portal/nginx.conf.j2").read_text()
    block = template[template.index("log_format difusor_json") : template.index("}';") + 3]
    line_format = "".join(re.findall(r"'([^']*)'", block))
    values = {
        "$time_iso8601": "2024-06-02T21:00:00-06:00",
        "$request_method": "GET",
        "$uri": "/index.html",
        "$status": "200",
        "$body_bytes_sent": "512",
        "$request_time": "0.001",
        "$remote_addr": "198.51.100.7",
    }
    first = re.sub(r"\$\w+", lambda m: values.get(m.group(0), ""), line_format)
    values |= {"$uid_got": "difusor=AB", "$time_iso8601": "2024-06-02T21:00:09-06:00"}
    again = re.sub(r"\$\w+", lambda m: values.get(m.group(0), ""), line_format)
    first = first.replace('"visitor_set":""', '"visitor_set":"difusor=AB"')
    logged = json.loads(first)
    assert set(traffic.COLUMNS) - {"visitor"} <= set(logged)  # "visitor": the old format
    result = count(tmp_path, [first, again])
    assert (result.visitors, result.cookieless_visitors, result.page_views) == (1, 0, 2)
    assert result.time_on_site.median_s == 9.0
