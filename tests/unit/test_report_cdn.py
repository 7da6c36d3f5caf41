"""Behind a CDN: Cloudflare's analytics (difusor.report.cloudflare) against a local stand-in of
its GraphQL API, the beacon, and which source each figure of the report comes from."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from difusor import paths
from difusor.report import ReportOptions, build_report, cloudflare, definitions
from difusor.report.copy import CDN_ANALYTICS
from difusor.report.model import Period
from difusor.report.sources import CdnAnalytics

from .cloudflare_standin import TOKEN, ZONE, EdgeRequest, Server, StandIn
from .test_report_traffic import line

LOCAL = timezone(timedelta(hours=-6))
ZONE_NAME = "America/Mexico_City"
PERIOD = Period(
    datetime(2024, 6, 2, 20, 0, tzinfo=LOCAL), datetime(2024, 6, 4, 23, 59, 59, tzinfo=LOCAL)
)
NOW = datetime(2024, 6, 6, 12, 0, tzinfo=timezone.utc)
PATHS = [
    ("/", 200),
    ("/index.html", 200),
    ("/gubernatura/", 304),
    ("/distritos/d01.htm", 200),
    ("/css/prep.css", 200),
    ("/data/resumen.json", 200),
    ("/no-existe.html", 404),
    ("/roto.html", 502),
]


def edge_night(seed: int = 12) -> list[EdgeRequest]:
    """Requests over the period and a day either side: readers' GETs, a few HEADs and POSTs,
    and Cloudflare's own requests (a purge), all at random seconds."""
    rng = random.Random(seed)
    start = PERIOD.start - timedelta(days=1)
    seconds = int((PERIOD.end - start).total_seconds()) + 86400
    found = []
    for _ in range(3000):
        at = start + timedelta(seconds=rng.randrange(seconds))
        path, status = rng.choice(PATHS)
        method = rng.choices(["GET", "HEAD", "POST"], [20, 1, 1])[0]
        source = rng.choices(["eyeball", "purge"], [30, 1])[0]
        found.append(EdgeRequest(at, path, status, method, source))
    return found


def truth(requests: list[EdgeRequest], start: datetime, end: datetime) -> dict:
    """The figures by the report's definitions, counted here in plain Python."""
    inside = [r for r in requests if start <= r.datetime < end]
    page = re.compile(definitions.page_regex())
    views = [
        r.path
        for r in inside
        if r.source == "eyeball"
        and r.method == "GET"
        and (200 <= r.status < 300 or r.status == 304)
        and page.search(r.path)
    ]
    return {"hits": len(inside), "page_views": len(views), "pages": Counter(views)}


@pytest.fixture()
def standin() -> StandIn:
    # Small pages and a one-day range per query: the client must split the period.
    return StandIn(
        edge_night(),
        NOW,
        max_duration={"httpRequests1hGroups": 3 * 86400, "httpRequestsAdaptiveGroups": 86400},
        max_page_size={"httpRequests1hGroups": 24, "httpRequestsAdaptiveGroups": 60},
    )


def test_cloudflare_figures_are_the_edges_own_counts(standin, tmp_path):
    with Server(standin) as url:
        analytics = cloudflare.fetch_analytics(ZONE, TOKEN, PERIOD, url=url, now=NOW)
    file = tmp_path / CDN_ANALYTICS
    file.write_text(json.dumps(analytics))
    counted = CdnAnalytics(file, definitions.page_regex()).traffic(PERIOD, ZONE_NAME)

    # The period starts and ends on the hour: the CDN's hours are exactly the period.
    expected = truth(standin.requests, PERIOD.start, PERIOD.end + timedelta(seconds=1))
    assert counted.source == "cdn-analytics"
    assert counted.hits == expected["hits"] > 1000
    assert counted.page_views == expected["page_views"]
    assert dict(counted.pages) == expected["pages"]
    assert [views for _, views in counted.pages] == sorted(expected["pages"].values(), reverse=True)
    assert sum(h.hits for h in counted.hourly) == counted.hits and len(counted.hourly) == 52
    # 52 hours in pieces of 24 rows; the adaptive dataset by day, pieces split when full
    nodes = Counter(
        "hourly" if "httpRequests1hGroups(" in q["query"] else "adaptive"
        for q in standin.queries
        if "settings" not in q["query"]
    )
    assert nodes["hourly"] == 3 and nodes["adaptive"] > 3


def test_a_period_off_the_hour_is_widened_to_whole_hours(standin, tmp_path):
    period = Period(PERIOD.start + timedelta(minutes=20), PERIOD.end - timedelta(minutes=50))
    with Server(standin) as url:
        analytics = cloudflare.fetch_analytics(ZONE, TOKEN, period, url=url, now=NOW)
    assert analytics["hours"] == {"from": "2024-06-03T02:00:00Z", "to": "2024-06-05T06:00:00Z"}
    file = tmp_path / CDN_ANALYTICS
    file.write_text(json.dumps(analytics))
    counted = CdnAnalytics(file, definitions.page_regex()).traffic(period, ZONE_NAME)
    whole_hours = truth(standin.requests, PERIOD.start, PERIOD.end + timedelta(seconds=1))
    assert counted.hits == whole_hours["hits"]
    with pytest.raises(ValueError, match=r"covers .* not the period's hours"):
        CdnAnalytics(file, definitions.page_regex()).traffic(
            Period(PERIOD.start - timedelta(hours=2), PERIOD.end), ZONE_NAME
        )


def test_a_wrong_token_is_named(standin):
    with (
        Server(standin) as url,
        pytest.raises(cloudflare.CloudflareError, match="Analytics > Read"),
    ):
        cloudflare.fetch_analytics(ZONE, "not-the-token", PERIOD, url=url, now=NOW)


def test_an_unknown_zone_is_named(standin):
    with Server(standin) as url, pytest.raises(cloudflare.CloudflareError, match="not found"):
        cloudflare.fetch_analytics("f" * 32, TOKEN, PERIOD, url=url, now=NOW)


def test_figures_older_than_the_plan_keeps_are_refused_before_any_query(standin):
    with Server(standin) as url, pytest.raises(cloudflare.CloudflareError, match="31 days"):
        cloudflare.fetch_analytics(ZONE, TOKEN, PERIOD, url=url, now=NOW + timedelta(days=40))
    assert all("settings" in q["query"] for q in standin.queries)


def test_too_many_paths_in_one_hour_is_an_error_not_a_silent_cut(tmp_path):
    hour = PERIOD.start
    crowded = [EdgeRequest(hour + timedelta(seconds=i), f"/p{i}.html") for i in range(30)]
    standin = StandIn(
        crowded, NOW, max_page_size={"httpRequests1hGroups": 24, "httpRequestsAdaptiveGroups": 30}
    )
    with (
        Server(standin) as url,
        pytest.raises(cloudflare.CloudflareError, match="more than 30 paths"),
    ):
        cloudflare.fetch_analytics(ZONE, TOKEN, PERIOD, url=url, now=NOW)


def beacon(at: datetime, got: str = "", sent: str = "", client: str = "203.0.113.9") -> str:
    return line(at, paths.BEACON_PATH, 204, got=got, sent=sent, client=client)


def test_behind_a_cdn_each_figure_names_its_source(standin, tmp_path):
    """Counts from the CDN, readers from the beacon; the origin's own load stays the origin's."""
    copy = tmp_path / "copia"
    logs = copy / "var/log/nginx"
    logs.mkdir(parents=True)
    t0 = PERIOD.start + timedelta(hours=1)
    cookie = "difusor=4F1C2B9A00000001DEADBEEF00000A01"
    origin = [
        line(t0, "/"),  # a cache miss
        beacon(t0, sent=cookie),  # a reader's first page of the difusor's site
        beacon(t0 + timedelta(minutes=4), got=cookie),
        beacon(t0 + timedelta(minutes=9), got=cookie),
        beacon(t0 + timedelta(minutes=2), client="203.0.113.50"),  # refuses cookies
    ]
    (logs / "access.log").write_text("\n".join(origin) + "\n")
    with Server(standin) as url:
        analytics = cloudflare.fetch_analytics(ZONE, TOKEN, PERIOD, url=url, now=NOW)
    (copy / CDN_ANALYTICS).write_text(json.dumps(analytics))
    expected = truth(standin.requests, PERIOD.start, PERIOD.end + timedelta(seconds=1))

    report = build_report(
        copy, PERIOD.start, PERIOD.end, tmp_path / "out", ReportOptions(behind_cdn=True, pdf=False)
    ).data
    assert report["hits"] == expected["hits"] and report["page_views"] == expected["page_views"]
    assert report["visitors"] == 2 and report["visits"] == 2
    assert report["visitors_detail"]["cookieless"] == 1
    assert report["time_on_site"]["median_s"] == 540
    assert report["source"]["hits"] == report["source"]["pages"] == "cdn-analytics"
    assert report["source"]["visitors"] == report["source"]["time_on_site"] == "beacon"
    assert report["source"]["hourly"] == ["cdn-analytics", "beacon"]
    assert report["source"]["peak"] == "origin-logs"
    assert report["caveats"] == []
    assert report["inputs"]["cdn_analytics"] == CDN_ANALYTICS

    (copy / CDN_ANALYTICS).unlink()
    (logs / "access.log").write_text(origin[0] + "\n")
    bare = build_report(
        copy, PERIOD.start, PERIOD.end, tmp_path / "out", ReportOptions(behind_cdn=True, pdf=False)
    ).data
    assert (
        bare["hits"] == 1 and bare["source"]["hits"] == bare["source"]["visitors"] == "origin-logs"
    )
    assert len(bare["caveats"]) == 2 and all("subestiman" in c for c in bare["caveats"])


def test_without_a_cdn_the_beacon_is_just_another_request(tmp_path):
    copy = tmp_path / "copia"
    logs = copy / "var/log/nginx"
    logs.mkdir(parents=True)
    t0 = PERIOD.start + timedelta(hours=1)
    (logs / "access.log").write_text(line(t0, "/") + "\n" + beacon(t0) + "\n")
    report = build_report(
        copy, PERIOD.start, PERIOD.end, tmp_path / "out", ReportOptions(pdf=False)
    )
    assert report.data["hits"] == 2 and report.data["page_views"] == 1
    assert report.data["source"]["visitors"] == report.data["source"]["hourly"] == "origin-logs"
    assert report.data["caveats"] == []
