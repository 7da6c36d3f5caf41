"""A synthetic big night of access logs in the kit's nginx JSON format (for bench/report.py).

Seven days from the start of the window, with the election night as the peak (20:00 to 04:00)
and smaller evening peaks after it. Readers come back across days with their cookie; some
refuse cookies (nginx sets a new one at every request); crawlers read pages without cookies.
A visit loads a page, its assets (200 the first time, 304 after), then polls the results JSON
every minute while the reader stays; some readers pause longer than 30 minutes and come back.
A few requests are 404s (missing favicon, probes).

Files are written in the copy layout, rotated as the kit's logrotate leaves them: the last
day in ``access.log``, the day before in ``access.log-YYYYMMDD-EPOCH`` (delaycompress), older
days gzipped. Days are generated in parallel processes, each hour in time order.
"""

from __future__ import annotations

import gzip
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool
from pathlib import Path

OFFSET = timezone(timedelta(hours=-6))  # America/Mexico_City, no DST since 2022
START = datetime(2024, 6, 2, 20, 0, tzinfo=OFFSET)
DAYS = 7
HOST = "prep.example.com.mx"
DOCUMENTATION_IPV4 = ("192.0.2", "198.51.100", "203.0.113")

PAGES = [
    "/",
    "/index.html",
    "/gubernatura/",
    "/gubernatura/entidad.html",
    "/diputaciones/",
    "/diputaciones/distrito.html",
    "/ayuntamientos/",
    "/ayuntamientos/municipio.html",
    "/base-de-datos.html",
    "/preguntas-frecuentes.html",
]
PAGE_WEIGHTS = [30, 8, 20, 10, 10, 6, 8, 4, 2, 2]
ASSETS = ["/css/prep.css", "/js/prep.js", "/img/logo.png", "/img/mapa.svg", "/fonts/prep.woff2"]
DATA = ["/data/gubernatura.json", "/data/diputaciones.json", "/data/ayuntamientos.json"]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
]
LINE = (
    '{{"time":"{time}","client":"{client}","visitor_got":"{got}","visitor_set":"{sent}",'
    '"method":"GET","host":"' + HOST + '","path":"{path}","query":"{query}","status":{status},'
    '"bytes":{size},"referer":"{referer}","user_agent":"{agent}","request_time":0.001,'
    '"tls":"TLSv1.3","corte":"20240602T2300-0a1b2c3d4e5f","cache":"","cdn_cache":"",'
    '"cdn_ray":""}}\n'
)


def hour_weight(hour: int) -> float:
    """Relative traffic of hour ``hour`` after START: the election night, then evenings."""
    if hour < 8:  # 20:00-04:00 of the first night, peak near midnight
        return 12.0 * math.exp(-(((hour - 3.5) / 2.5) ** 2)) + 3.0
    local = (20 + hour) % 24
    evening = math.exp(-(((local - 21) / 3.0) ** 2))
    return 0.3 + 1.5 * evening * math.exp(-(hour - 8) / 60)


def _time_text(second: int, cache: dict[int, str]) -> str:
    text = cache.get(second)
    if text is None:
        text = datetime.fromtimestamp(second, OFFSET).isoformat()
        cache[second] = text
    return text


class _Day:
    """Lines of one day, generated hour by hour and written in time order."""

    def __init__(self, day: int, lines: int, seed: int) -> None:
        self.day = day
        self.target = lines
        self.rng = random.Random(seed * 1000 + day)
        self.start = int(START.timestamp()) + day * 86400
        self.buckets: dict[int, list[tuple[int, str]]] = {}
        self.times: dict[int, str] = {}
        self.written = 0

    def emit(self, t: int, client: str, got: str, sent: str, path: str, status: int, agent: str):
        if t >= self.start + 86400:
            return  # the visit runs into the next day's file; that day does not need it
        referer = "" if path in PAGES else f"https://{HOST}/"
        line = LINE.format(
            time=_time_text(t, self.times),
            client=client,
            got=got,
            sent=sent,
            path=path,
            query="r=" + str(t) if path in DATA else "",
            status=status,
            size=0 if status == 304 else 1000 + (t % 40000),
            referer=referer,
            agent=agent,
        )
        self.buckets.setdefault((t - self.start) // 3600, []).append((t, line))

    def flush(self, before_hour: int, out: Callable[[str], object]) -> None:
        for hour in sorted(h for h in self.buckets if h < before_hour):
            rows = self.buckets.pop(hour)
            rows.sort(key=lambda row: row[0])
            out("".join(line for _, line in rows))
            self.written += len(rows)


def client_address(reader: int) -> str:
    """The reader's address, from the documentation ranges only (RFC 5737, RFC 3849): one in
    four on IPv4, shared by many readers as behind a carrier's NAT; the others on IPv6, one
    address each."""
    if reader % 4 == 0:
        network = DOCUMENTATION_IPV4[reader // 4 % len(DOCUMENTATION_IPV4)]
        return f"{network}.{reader // 12 % 254 + 1}"
    return f"2001:db8:{reader >> 16:x}:{reader & 0xFFFF:x}::1"


def _visit(day: _Day, t: int, reader: int, returning: bool, cookies: bool, bot: bool) -> None:
    """One reader's visit: pages with their assets, results polling, sometimes a long pause."""
    rng = day.rng
    client = client_address(reader)
    agent = BOTS[reader % len(BOTS)] if bot else BROWSERS[reader % len(BROWSERS)]
    cookie = f"difusor={reader:032X}"
    fresh = not returning  # the first request sets the cookie, the next ones send it back

    def request(at: int, path: str, status: int) -> None:
        nonlocal fresh
        if bot or not cookies:
            got, sent = "", f"difusor={rng.getrandbits(128):032X}"
        elif fresh:
            got, sent, fresh = "", cookie, False
        else:
            got, sent = cookie, ""
        day.emit(at, client, got, sent, path, status, agent)

    segments = 2 if rng.random() < 0.08 else 1
    for _ in range(segments):
        for page_number in range(1 + int(rng.expovariate(0.6))):
            page = rng.choices(PAGES, PAGE_WEIGHTS)[0]
            request(t, page, 304 if returning and rng.random() < 0.3 else 200)
            if bot:
                t += rng.randint(2, 20)
                continue
            seen_assets = returning or page_number > 0
            for asset in ASSETS[: rng.randint(3, 5)]:
                request(t, asset, 304 if seen_assets else 200)
            if rng.random() < 0.02:
                request(t, "/favicon.ico", 404)
            dwell = int(rng.expovariate(1 / 240))
            data = DATA[PAGES.index(page) % len(DATA)]
            for poll in range(60, min(dwell, 3000), 60):
                request(t + poll, data, 304 if rng.random() < 0.6 else 200)
            t += max(1, dwell)
        t += rng.randint(1900, 4000)  # a pause longer than a visit's gap: a second visit


def _generate_day(args: tuple[int, int, int, str]) -> tuple[int, int]:
    day_index, lines, seed, path = args
    day = _Day(day_index, lines, seed)
    weights = [hour_weight(day_index * 24 + h) for h in range(24)]
    per_hour = [lines * w / sum(weights) for w in weights]
    readers_seen = 400_000 * day_index  # readers of earlier days, who may come back
    with (
        gzip.open(path, "wt", encoding="utf-8", compresslevel=1)
        if path.endswith(".gz")
        else open(path, "w", encoding="utf-8")
    ) as stream:
        for hour in range(24):
            goal = day.written + sum(len(b) for b in day.buckets.values()) + per_hour[hour]
            while day.written + sum(len(b) for b in day.buckets.values()) < goal:
                t = day.start + hour * 3600 + day.rng.randrange(3600)
                kind = day.rng.random()
                returning = readers_seen > 0 and day.rng.random() < 0.35
                reader = (
                    day.rng.randrange(readers_seen)
                    if returning
                    else readers_seen + day.rng.randrange(400_000)
                )
                _visit(day, t, reader, returning, cookies=kind > 0.08, bot=kind < 0.02)
            day.flush(hour - 1, stream.write)
        day.flush(10**6, stream.write)
    return day_index, day.written


def write_logs(root: Path, lines: int, seed: int = 1, processes: int = 2) -> list[Path]:
    """``lines`` (about) over DAYS days into ``root``'s var/log/nginx; returns the files."""
    folder = root / "var/log/nginx"
    folder.mkdir(parents=True, exist_ok=True)
    weights = [sum(hour_weight(d * 24 + h) for h in range(24)) for d in range(DAYS)]
    jobs = []
    for day in range(DAYS):
        end = START + timedelta(days=day + 1)
        stamp = f"{end:%Y%m%d}-{int(end.timestamp())}"
        if day == DAYS - 1:
            name = "access.log"
        elif day == DAYS - 2:
            name = f"access.log-{stamp}"
        else:
            name = f"access.log-{stamp}.gz"
        jobs.append((day, round(lines * weights[day] / sum(weights)), seed, str(folder / name)))
    with Pool(processes) as pool:
        pool.map(_generate_day, sorted(jobs, key=lambda job: -job[1]))
    return [Path(job[3]) for job in jobs]


def write_host_records(root: Path) -> None:
    """The rest of a copy: publisher.json, a night of cortes in publisher.log (one rejected,
    one 45-minute gap, one disk-full), and a journal with a restart, a reboot and a failed
    certificate renewal."""
    import json

    etc = root / "etc/difusor"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "publisher.json").write_text(
        json.dumps({"window_start": "2024-06-02T20:00", "grace_minutes": 5})
    )
    lines = []

    def log(at: datetime, event: str, **fields: object) -> None:
        record: dict[str, object] = {"ts": at.isoformat(timespec="milliseconds"), "event": event}
        record.update(fields)
        lines.append(json.dumps(record))

    for n in range(97):  # every 15 minutes, 20:00 to 20:00 the next day
        corte = START + timedelta(minutes=15 * n)
        name = f"{corte:%Y%m%d_%H%M}_PREP_VER.zip"
        received = corte + timedelta(seconds=150 + (n * 37) % 90)
        if corte.hour == 2 and corte.minute in (15, 30, 45):
            continue  # the institute sent nothing for 45 minutes
        if corte.hour == 23 and corte.minute == 15:
            log(received, "rejected", package=name, reason="bad-crc", corte=corte.isoformat())
            continue
        if corte.hour == 5 and corte.minute == 0:
            log(received, "incident", package=name, reason="disk-full", kept=True)
            received += timedelta(minutes=3)
        log(
            received + timedelta(seconds=0.4),
            "published",
            severity="info",
            package=name,
            corte=corte.isoformat(),
            latency_s=0.4,
        )
    folder = root / "var/log/difusor"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "publisher.log").write_text("\n".join(lines) + "\n")

    entries = []

    def journal(at: datetime, unit: str, message_id: str, boot: str = "boot-1", **extra: str):
        entries.append(
            {
                "__REALTIME_TIMESTAMP": str(int(at.timestamp() * 1e6)),
                "UNIT": unit,
                "MESSAGE_ID": message_id,
                "_BOOT_ID": boot,
                "MESSAGE": unit,
                **extra,
            }
        )

    stopping, started = "de5b426a63be47a7b6ac3eaac82e2f6f", "39f53479d3a045ac8e11786248231fbf"
    failed, succeeded = "d9b373ed55a64feb8242e02dbe79a49c", "7ad2d189f7e94e70a38c781354912448"
    day = START + timedelta(days=1)
    for when, unit, message, boot in [
        (day + timedelta(hours=14), "nginx.service", stopping, "boot-1"),  # a restart
        (day + timedelta(hours=14, seconds=4), "nginx.service", started, "boot-1"),
        (day + timedelta(days=1, hours=7), "certbot.service", failed, "boot-1"),
        (day + timedelta(days=1, hours=19), "certbot.service", succeeded, "boot-1"),
        (day + timedelta(days=2, hours=8), "nginx.service", stopping, "boot-1"),  # a reboot
        (day + timedelta(days=2, hours=8, seconds=95), "nginx.service", started, "boot-2"),
    ]:
        journal(when, unit, message, boot, JOB_RESULT="done")
    (root / "journal.json").write_text("\n".join(json.dumps(e) for e in entries) + "\n")


def figures_polars(sample: Path, period) -> dict:
    """The engine's figures with Polars (the library comparison in bench/report.py)."""
    import polars as pl

    from difusor.report import definitions

    schema = {
        "time": pl.String,
        "client": pl.String,
        "visitor_got": pl.String,
        "visitor_set": pl.String,
        "method": pl.String,
        "path": pl.String,
        "status": pl.Int64,
        "user_agent": pl.String,
    }
    ts = pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%S%z")
    status = pl.col("status")
    requests = (
        pl.scan_ndjson(sample, schema=schema)
        .with_columns(ts.alias("ts"))
        .with_columns(t=pl.col("ts").dt.epoch("s"))
        .filter(pl.col("t").is_between(int(period.start.timestamp()), int(period.end.timestamp())))
        .select(
            "t",
            page=(pl.col("method") == "GET")
            & (status.is_between(200, 299) | (status == 304))
            & pl.col("path").str.contains(definitions.page_regex()),
            got=pl.when(pl.col("visitor_got") != "").then(pl.col("visitor_got").hash()),
            sent=pl.when(pl.col("visitor_set") != "").then(pl.col("visitor_set").hash()),
            reader=pl.struct(
                "client",
                "user_agent",
                pl.col("ts").dt.convert_time_zone("America/Mexico_City").dt.date(),
            ).hash(),
        )
        .collect()
    )
    returned = requests.get_column("got").drop_nulls().unique()
    hits = requests.with_columns(
        visitor=pl.coalesce(
            "got", pl.when(pl.col("sent").is_in(returned.implode())).then("sent"), "reader"
        )
    )
    visits = (
        hits.group_by("visitor", "t")
        .len()
        .sort("visitor", "t")
        .with_columns(gap=pl.col("t").diff().over("visitor"))
        .with_columns(
            visit=(pl.col("gap").is_null() | (pl.col("gap") > 1800)).cum_sum().over("visitor")
        )
        .group_by("visitor", "visit")
        .agg(duration=pl.col("t").max() - pl.col("t").min(), requests=pl.col("len").sum())
    )
    multi = visits.filter(pl.col("requests") > 1)
    return {
        "hits": hits.height,
        "page_views": int(hits.get_column("page").sum()),
        "visitors": hits.get_column("visitor").n_unique(),
        "visits": visits.height,
        "median_s": multi.get_column("duration").cast(pl.Float64).median(),
    }
