"""An independent, deliberately plain reading of the report's definitions (issue 12), to check
the DuckDB engine against: one dict per line, Python sets and sorted lists, nothing shared with
difusor.report but the period."""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass
class Figures:
    hits: int
    page_views: int
    visitors: int
    cookieless_visitors: int
    visits: int
    single_request_visits: int
    median_s: float | None
    mean_s: float | None
    pages: list[tuple[str, int]]


def figures(
    lines: list[str], period, visit_gap_s: int, zone: str = "America/Mexico_City"
) -> Figures:
    tz = ZoneInfo(zone)
    requests = []
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        when = datetime.fromisoformat(r["time"])
        if not period.start <= when <= period.end:
            continue
        got = r["visitor_got"] if "visitor_got" in r else r.get("visitor", "")
        reader = (r["client"], r["user_agent"], when.astimezone(tz).date())
        requests.append(
            (int(when.timestamp()), r, got or None, r.get("visitor_set") or None, reader)
        )
    returned = {got for _, _, got, _, _ in requests if got}
    times = defaultdict(list)
    cookieless = set()
    pages: Counter[str] = Counter()
    for t, r, got, sent, reader in requests:
        if got:
            key = ("cookie", got)
        elif sent in returned:
            key = ("cookie", sent)
        else:
            key = ("reader", reader)
            cookieless.add(key)
        times[key].append(t)
        ok = 200 <= r["status"] <= 299 or r["status"] == 304
        if r["method"] == "GET" and ok and re.search(r"(/|\.html?)$", r["path"]):
            pages[r["path"]] += 1
    durations, single = [], 0
    for stamps in times.values():
        stamps.sort()
        visits = [[stamps[0]]]
        for previous, current in itertools.pairwise(stamps):
            if current - previous > visit_gap_s:
                visits.append([])
            visits[-1].append(current)
        for visit in visits:
            if len(visit) == 1:
                single += 1
            else:
                durations.append(visit[-1] - visit[0])
    return Figures(
        hits=len(requests),
        page_views=sum(pages.values()),
        visitors=len(times),
        cookieless_visitors=len(cookieless),
        visits=len(durations) + single,
        single_request_visits=single,
        median_s=float(statistics.median(durations)) if durations else None,
        mean_s=round(statistics.mean(durations), 1) if durations else None,
        pages=sorted(pages.items(), key=lambda item: (-item[1], item[0])),
    )
