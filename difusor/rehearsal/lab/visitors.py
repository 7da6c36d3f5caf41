"""
A visitor simulator for the lab: readers with known page sequences, dwell times and cookie
behaviour, and the ground truth of what they did, by the memoria técnica's definitions
(difusor/report/definitions.py).

Readers reach the portal directly from ``difusor-public`` (over IPv4 or IPv6), or through a
CDN stand-in on ``difusor-ople`` (one of the lab's ``cdn_networks``) that forwards each
reader's requests with ``X-Forwarded-For: <the reader's own address>``, as an edge does.
A reader keeps the visitor cookie nginx sets and sends it back, or refuses cookies; some
come back for a second visit after a pause longer than the visit gap.

Time is compressed, not waited: a reader's dwell of ``s`` seconds lasts ``s / scale`` real
seconds, and the report to compare with counts visits with the gap compressed the same way
(``VISIT_GAP_S / scale``). The ground truth is computed from the moments each request was
actually sent, so it is exact whatever the machine's load; dwell times are planned far from
the visit gap, so that the log's one-second resolution cannot move a request into another
visit. Bounded: at most ``MAX_REQUESTS`` requests, and every run has a deadline.

    readers = plan(24, SitePaths(...), seed=7)
    requests = simulate(readers, scale=120)
    truth = ground_truth(readers, requests, visit_gap_s=15, zone="America/Mexico_City")

``python -m difusor.rehearsal.lab.visitors --plan FILE --route direct|cdn ...`` is the part that
runs inside a namespace; it prints one JSON object per request.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .network import LAB_IPV4, LAB_IPV6, OPLE_NETNS, PUBLIC_IPV4, PUBLIC_IPV6, PUBLIC_NETNS

MAX_REQUESTS = 2000
PORTAL_NAME = "prep.lab.test"
COOKIE = "difusor"
DIRECT, CDN = "direct", "cdn"
# Reader seconds: pages read for 10 s to 3 min, a second visit 40 to 55 min later (the visit
# gap is 30 min); the assets of a page come with it.
DWELL_S = (10, 180)
RETURN_AFTER_S = (40 * 60, 55 * 60)
# Real seconds a keep-alive connection may stay idle before the reader drops it and opens a
# new one for its next request, as browsers do: the portal closes idle ones after 15 s, and a
# request sent on a connection the server has just closed gets no answer.
IDLE_CONNECTION_S = 10.0


@dataclass(frozen=True)
class SitePaths:
    """What readers ask for: documents (page views when they are served), their assets
    (hits, not page views), and paths that do not exist (404: hits)."""

    pages: tuple[str, ...]
    assets: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Reader:
    name: str
    route: str  # DIRECT from the public namespace, or CDN through the stand-in on ople
    keeps_cookies: bool
    address: str  # the reader's address, as the portal must log it
    user_agent: str
    # (reader seconds from the start of the simulation, path), in order
    requests: tuple[tuple[float, str], ...]


def plan(count: int, site: SitePaths, seed: int) -> list[Reader]:
    """``count`` readers: a mix of cookie keepers and refusers, direct (IPv4 and IPv6) and
    through the CDN (each with an address of its own), one-page visits, and readers who come
    back."""
    rng = random.Random(seed)
    readers = []
    for n in range(count):
        route = CDN if n % 4 == 3 else DIRECT
        keeps = n % 3 != 2
        if route == CDN:
            address = f"203.0.113.{10 + n}" if n % 8 != 7 else f"2001:db8:cd::{10 + n:x}"
        else:
            address = PUBLIC_IPV6 if n % 5 == 4 else PUBLIC_IPV4
        visits = 2 if n % 6 == 1 else 1
        pages = 1 if n % 7 == 5 else rng.randint(2, 5)
        at = rng.uniform(0, 60)  # arrivals spread over the first reader minute
        requests: list[tuple[float, str]] = []
        for visit in range(visits):
            if visit:
                at += rng.uniform(*RETURN_AFTER_S)
            for page in range(pages):
                if page:
                    at += rng.uniform(*DWELL_S)
                requests.append((at, rng.choice(site.pages)))
                requests += [(at, asset) for asset in rng.sample(site.assets, rng.randint(0, 2))]
                if rng.random() < 0.15:
                    requests.append((at, rng.choice(site.missing)))
        readers.append(
            Reader(
                name=f"lector-{n:02d}",
                route=route,
                keeps_cookies=keeps,
                address=address,
                user_agent=f"Mozilla/5.0 (X11; Linux x86_64) lector-simulado/{n:02d}",
                requests=tuple(requests),
            )
        )
    total = sum(len(r.requests) for r in readers)
    if total > MAX_REQUESTS:
        raise ValueError(f"{total} requests planned, more than {MAX_REQUESTS}")
    return readers


@dataclass(frozen=True)
class Sent:
    """One request as it happened: when it was sent and answered (Unix time), and the answer."""

    reader: str
    sent: float
    answered: float
    path: str
    status: int  # 0: no answer
    cookie_sent: str  # the visitor cookie's value sent back, or ""
    cookie_set: str  # the value nginx set in the answer, or ""


def simulate(readers: list[Reader], scale: float, timeout: float = 300) -> list[Sent]:
    """Run the readers from their namespaces at once; every request as it happened."""
    with tempfile.TemporaryDirectory(prefix="difusor-visitors-") as scratch:
        plan_file = Path(scratch) / "plan.json"
        plan_file.write_text(json.dumps([asdict(r) for r in readers]))
        start = time.time() + 2  # both namespaces start together
        runs = [
            subprocess.Popen(
                [
                    *("ip", "netns", "exec", namespace, sys.executable),
                    *("-m", "difusor.rehearsal.lab.visitors", "--plan", str(plan_file)),
                    *("--route", route, "--scale", str(scale), "--start", str(start)),
                    *("--seconds", str(timeout)),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for route, namespace in ((DIRECT, PUBLIC_NETNS), (CDN, OPLE_NETNS))
        ]
        requests = []
        for run in runs:
            out, err = run.communicate(timeout=timeout + 30)
            if run.returncode != 0:
                raise RuntimeError(f"visitor simulator failed: {err.strip()[-2000:]}")
            requests += [Sent(**json.loads(line)) for line in out.splitlines()]
    return sorted(requests, key=lambda r: r.sent)


def portal_connection(reader: Reader) -> http.client.HTTPSConnection:
    """The reader's connection to the lab host: over IPv6 when it reads directly from an IPv6
    address, else over IPv4 (the CDN stand-in, like an edge, connects over IPv4)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the lab's certificate is not for an address
    direct_ipv6 = reader.route == DIRECT and ":" in reader.address
    # the bare address: http.client keeps brackets when a port is given, and cannot resolve them
    address = LAB_IPV6 if direct_ipv6 else LAB_IPV4
    return http.client.HTTPSConnection(address, 443, context=context, timeout=10)


def _read(reader: Reader, scale: float, start: float, deadline: float) -> list[Sent]:
    """One reader's requests, on one keep-alive connection as a browser would."""
    connection = portal_connection(reader)
    headers = {"Host": PORTAL_NAME, "User-Agent": reader.user_agent, "Accept": "*/*"}
    if reader.route == CDN:
        headers["X-Forwarded-For"] = reader.address
    cookie = ""
    done: list[Sent] = []
    for at, path in reader.requests:
        time.sleep(max(0.0, start + at / scale - time.time()))
        if time.time() > deadline:
            break
        if done and time.time() - done[-1].answered > IDLE_CONNECTION_S:
            connection.close()  # the next request connects again
        sent_cookie = cookie
        sent = time.time()
        status, given = 0, ""
        try:
            connection.request(
                "GET", path, headers={**headers, **({"Cookie": cookie} if cookie else {})}
            )
            response = connection.getresponse()
            response.read()
            status = response.status
            set_cookie = response.getheader("Set-Cookie") or ""
            if set_cookie.startswith(f"{COOKIE}="):
                given = set_cookie.split(";", 1)[0]
                if reader.keeps_cookies:
                    cookie = given
        except (OSError, http.client.HTTPException):
            connection.close()
        done.append(Sent(reader.name, sent, time.time(), path, status, sent_cookie, given))
    connection.close()
    return done


def run_route(
    readers: list[Reader], route: str, scale: float, start: float, seconds: float
) -> list[Sent]:
    """Inside a namespace: every reader of ``route`` in its own thread, until done or
    ``seconds`` have passed."""
    deadline = time.time() + seconds
    mine = [r for r in readers if r.route == route]
    with ThreadPoolExecutor(max_workers=max(1, len(mine))) as pool:
        runs = [pool.submit(_read, r, scale, start, deadline) for r in mine]
        return [sent for run in runs for sent in run.result()]


@dataclass(frozen=True)
class Truth:
    hits: int
    page_views: int
    visitors: int
    cookieless_visitors: int
    visits: int
    pages: dict[str, int]
    median_s: float | None
    mean_s: float | None
    single_request_visits: int


def ground_truth(
    readers: list[Reader], requests: list[Sent], visit_gap_s: float, zone: str, page_regex: str
) -> Truth:
    """What the readers did, by the report's definitions, from the moments of sending."""
    by_name = {r.name: r for r in readers}
    page = re.compile(page_regex)
    views = [
        r.path
        for r in requests
        if (200 <= r.status < 300 or r.status == 304) and page.search(r.path)
    ]
    # A cookie is a visitor: the one sent back, or the one set when it comes back later;
    # otherwise (refused, or never came back) the reader counts by address and user agent
    # per local day.
    returned = {r.cookie_sent for r in requests if r.cookie_sent}
    local = ZoneInfo(zone)
    times: dict[tuple, list[float]] = defaultdict(list)
    for r in requests:
        reader = by_name[r.reader]
        if r.cookie_sent or r.cookie_set in returned:
            key: tuple = ("cookie", r.cookie_sent or r.cookie_set)
        else:
            day = datetime.fromtimestamp(r.sent, local).date()
            key = ("reader", reader.address, reader.user_agent, day)
        times[key].append(r.sent)
    visits: list[list[float]] = []  # each visit's moments
    for moments in times.values():
        moments.sort()
        visits.append([moments[0]])
        for moment in moments[1:]:
            if moment - visits[-1][-1] > visit_gap_s:
                visits.append([])
            visits[-1].append(moment)
    durations = [visit[-1] - visit[0] for visit in visits if len(visit) > 1]
    return Truth(
        hits=len(requests),
        page_views=len(views),
        visitors=len(times),
        cookieless_visitors=sum(1 for key in times if key[0] == "reader"),
        visits=len(visits),
        pages=dict(Counter(views)),
        median_s=statistics.median(durations) if durations else None,
        mean_s=statistics.mean(durations) if durations else None,
        single_request_visits=len(visits) - len(durations),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--route", choices=[DIRECT, CDN], required=True)
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--start", type=float, required=True, help="Unix time of reader second 0")
    parser.add_argument("--seconds", type=float, default=300, help="deadline of the run")
    args = parser.parse_args()
    readers = [
        Reader(**{**r, "requests": tuple(tuple(q) for q in r["requests"])})
        for r in json.loads(args.plan.read_text())
    ]
    for sent in run_route(readers, args.route, args.scale, args.start, args.seconds):
        print(json.dumps(asdict(sent)))


if __name__ == "__main__":
    main()
