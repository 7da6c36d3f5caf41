"""The lab's visitor simulator (difusor.rehearsal.lab.visitors): its plans stay bounded and
varied, and its ground truth follows the report's definitions on hand-counted requests."""

from __future__ import annotations

import itertools
import socket
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from difusor.rehearsal.lab import visitors
from difusor.rehearsal.lab.visitors import CDN, DIRECT, Reader, Sent, SitePaths, ground_truth
from difusor.report import definitions

SITE = SitePaths(pages=("/index.html", "/a/"), assets=("/app.js", "/d.json"), missing=("/x.html",))
ZONE = "America/Mexico_City"
T0 = datetime(2024, 6, 2, 21, 0, tzinfo=ZoneInfo(ZONE)).timestamp()


def test_a_plan_mixes_every_kind_of_reader_and_is_bounded():
    readers = visitors.plan(24, SITE, seed=1)
    assert {r.route for r in readers} == {DIRECT, CDN}
    assert {r.keeps_cookies for r in readers} == {True, False}
    assert any(":" in r.address for r in readers if r.route == DIRECT)
    assert len({r.address for r in readers if r.route == CDN}) == 6
    assert len({r.user_agent for r in readers}) == 24
    for reader in readers:  # pages read well apart from a visit gap, or well beyond it
        times = [at for at, _ in reader.requests]
        gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
        assert all(g <= visitors.DWELL_S[1] or g >= visitors.RETURN_AFTER_S[0] for g in gaps)
    assert any(
        max(b - a for a, b in itertools.pairwise(t)) >= visitors.RETURN_AFTER_S[0]
        for t in ([at for at, _ in r.requests] for r in readers)
        if len(t) > 1
    )
    with pytest.raises(ValueError, match="more than 2000"):
        visitors.plan(1000, SITE, seed=1)


def reader(name: str, address: str, keeps: bool = True) -> Reader:
    return Reader(name, DIRECT, keeps, address, f"UA {name}", ())


def sent(
    name: str, at: float, path: str, status: int = 200, got: str = "", given: str = ""
) -> Sent:
    return Sent(name, T0 + at, T0 + at + 0.01, path, status, got, given)


def test_the_ground_truth_follows_the_definitions():
    readers = [
        reader("ana", "198.18.0.30"),
        reader("beto", "198.18.0.30", keeps=False),
        reader("uno", "203.0.113.5"),
    ]
    requests = [
        # ana: cookie set, sent back; a second visit after the gap (100 s here)
        sent("ana", 0, "/index.html", given="difusor=A1"),
        sent("ana", 0.2, "/app.js", got="difusor=A1"),
        sent("ana", 40, "/a/", 304, got="difusor=A1"),
        sent("ana", 300, "/index.html", got="difusor=A1"),
        sent("ana", 330, "/x.html", 404, got="difusor=A1"),
        # beto refuses cookies: a new one each time, never back; one reader by address + agent
        sent("beto", 5, "/index.html", given="difusor=B1"),
        sent("beto", 65, "/a/", given="difusor=B2"),
        # uno keeps cookies but reads one page: its cookie never comes back
        sent("uno", 10, "/a/", given="difusor=U1"),
    ]
    truth = ground_truth(readers, requests, 100, ZONE, definitions.page_regex())
    assert truth.hits == 8
    assert truth.page_views == 6  # the 304 counts; the asset and the 404 do not
    assert truth.pages == {"/index.html": 3, "/a/": 3}
    assert (truth.visitors, truth.cookieless_visitors) == (3, 2)
    assert truth.visits == 4 and truth.single_request_visits == 1
    assert truth.median_s == pytest.approx(40) and truth.mean_s == pytest.approx((40 + 30 + 60) / 3)


def test_each_reader_connects_to_an_address_the_socket_layer_takes():
    """A direct IPv6 reader connects to the lab host's bare IPv6 address (a bracketed one
    cannot be resolved: every request of such a reader went unanswered)."""
    by_route: dict[tuple[str, bool], set[int]] = {}
    for reader in visitors.plan(24, SITE, seed=1):
        connection = visitors.portal_connection(reader)
        family = socket.getaddrinfo(connection.host, connection.port, 0, socket.SOCK_STREAM)
        by_route.setdefault((reader.route, ":" in reader.address), set()).add(family[0][0])
    assert by_route[(DIRECT, True)] == {socket.AF_INET6}
    assert by_route[(DIRECT, False)] == by_route[(CDN, False)] == {socket.AF_INET}
