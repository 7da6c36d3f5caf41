"""Benchmark of the memoria técnica engine on a big night (prints figures; not a test).

    .venv/bin/python bench/report.py [--lines 10000000] [--keep DIR] [--compare 1000000]

1. Writes ``--lines`` synthetic access-log lines (bench/report_logs.py: 7 days, election-night
   peak, pages, assets, results JSON polling, 304s, 404s, returning readers, readers without
   cookies, crawlers; older days gzipped as logrotate leaves them) plus a night of cortes into
   a copy directory under a temp dir (or ``--keep DIR``, reused when it already has logs).
2. Runs the whole report (``difusor report --from-copy``: figures, charts, HTML and PDF) and
   GoAccess (Debian's 1.7, which reads JSON logs through a JSON ``--log-format`` but not gzip:
   the files reach it through ``zcat``) on the same lines, and prints wall time, peak memory
   (max RSS of the process) and the visitor counts side by side. GoAccess counts a visitor
   per client address + user agent + day; the report counts cookies (see its definitions).
3. ``--compare N``: the library choice. The same figures (hits, page views, visitors, visits,
   median time on site) on an N-line plain sample with DuckDB (the engine), Polars and plain
   Python (json module), each in its own process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import report_logs  # noqa: E402

GOACCESS_FORMAT = (
    '{"time":"%x","client":"%h","method":"%m","path":"%U","query":"%q","status":"%s",'
    '"bytes":"%b","referer":"%R","user_agent":"%u","request_time":"%T"}'
)


def measured(
    argv: list[str], cwd: Path | None = None
) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run argv; (wall seconds, peak RSS in MiB of that process, result)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(argv, process.returncode, out.read(), err.read())
    return wall, usage.ru_maxrss / 1024, result


def run_engine(copy: Path, out: Path) -> tuple[float, float, dict]:
    argv = [
        sys.executable,
        "-m",
        "difusor",
        "report",
        "--inventory",
        str(copy / "no-inventory.py"),  # offline: the copy's own publisher.json
        "--from-copy",
        str(copy),
        "--from",
        "2024-06-02T20:00",
        "--to",
        "2024-06-09T23:59:59",
        "--out",
        str(out),
    ]
    wall, rss, result = measured(argv, REPO)
    if result.returncode:
        raise SystemExit(result.stderr.decode())
    return wall, rss, json.loads((out / "report.json").read_text())


def run_goaccess(files: list[Path], scratch: Path) -> tuple[float, float, dict]:
    """zcat | goaccess -: the time is the pipeline's, the memory GoAccess's own."""
    out = scratch / "goaccess.json"
    feeder = subprocess.Popen(["zcat", "-f", *map(str, files)], stdout=subprocess.PIPE)
    start = time.monotonic()
    goaccess = subprocess.Popen(
        [
            "goaccess",
            "-",
            f"--log-format={GOACCESS_FORMAT}",
            "--datetime-format=%Y-%m-%dT%H:%M:%S%z",
            "--no-progress",
            "-o",
            str(out),
        ],
        stdin=feeder.stdout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert feeder.stdout is not None
    feeder.stdout.close()
    _, _, usage = os.wait4(goaccess.pid, 0)
    feeder.wait()
    wall = time.monotonic() - start
    return wall, usage.ru_maxrss / 1024, json.loads(out.read_text())["general"]


def compare(copy: Path, lines: int, scratch: Path) -> None:
    sample = scratch / "sample.jsonl"
    with sample.open("wb") as out:
        written = 0
        for path in sorted((copy / "var/log/nginx").glob("access.log*")):
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as stream:
                for line in stream:
                    out.write(line)
                    written += 1
                    if written >= lines:
                        break
            if written >= lines:
                break
    print(
        f"\n== library choice: {written:,} lines, {sample.stat().st_size / 2**20:,.0f} MiB, "
        "plain JSON lines, 2 cores =="
    )
    print(
        f"{'library':<10} {'time s':>8} {'peak MiB':>9} {'hits':>10} {'views':>9} "
        f"{'visitors':>9} {'visits':>9} {'median s':>9}"
    )
    for name in ("duckdb", "polars", "python"):
        wall, rss, result = measured(
            [sys.executable, str(Path(__file__).resolve()), "--contender", name, str(sample)],
            REPO,
        )
        if result.returncode:
            print(f"{name:<10} failed: {result.stderr.decode().strip().splitlines()[-1]}")
            continue
        f = json.loads(result.stdout)
        print(
            f"{name:<10} {wall:>8.1f} {rss:>9.0f} {f['hits']:>10,} {f['page_views']:>9,} "
            f"{f['visitors']:>9,} {f['visits']:>9,} {f['median_s']:>9}"
        )


def contender(name: str, sample: Path) -> dict:
    """The same figures by another library (run in a child process by ``compare``)."""
    from datetime import datetime

    from difusor.report import definitions
    from difusor.report.model import Period

    period = Period.local(
        datetime(2024, 6, 2, 20), datetime(2024, 6, 9, 23, 59, 59), "America/Mexico_City"
    )
    if name == "duckdb":
        from difusor.report import traffic

        t = traffic.count(
            [sample], period, "America/Mexico_City", definitions.page_regex(), 1800, 10
        )
        return {
            "hits": t.hits,
            "page_views": t.page_views,
            "visitors": t.visitors,
            "visits": t.visits,
            "median_s": t.time_on_site.median_s,
        }
    if name == "polars":
        return report_logs.figures_polars(sample, period)
    sys.path.insert(0, str(REPO / "tests/unit"))
    from report_reference import figures  # the tests' reference: plain Python, json module

    f = figures(sample.read_text().splitlines(), period, 1800)
    return {
        "hits": f.hits,
        "page_views": f.page_views,
        "visitors": f.visitors,
        "visits": f.visits,
        "median_s": f.median_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--keep", type=Path, help="copy directory to write (or reuse)")
    parser.add_argument("--compare", type=int, default=0, metavar="N")
    parser.add_argument("--contender", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender[0], Path(args.contender[1]))))
        return
    scratch = Path(tempfile.mkdtemp(prefix="difusor-bench-report-"))
    try:
        copy = args.keep or scratch / "copy"
        files = sorted((copy / "var/log/nginx").glob("access.log*"))
        if not files:
            start = time.monotonic()
            files = report_logs.write_logs(copy, args.lines)
            report_logs.write_host_records(copy)
            print(f"generated {args.lines:,} lines in {time.monotonic() - start:.0f} s")
        size = sum(f.stat().st_size for f in files)
        print(
            f"copy: {len(files)} access logs, {size / 2**20:,.0f} MiB on disk, "
            f"{os.cpu_count()} cores"
        )
        if args.compare:
            compare(copy, args.compare, scratch)
        engine_s, engine_mib, report = run_engine(copy, scratch / "out")
        goaccess_s, goaccess_mib, general = run_goaccess(files, scratch)
        print(f"\n== {report['hits']:,} lines: the report vs GoAccess ==")
        print(f"{'':<28} {'difusor report':>16} {'GoAccess 1.7':>14}")
        print(f"{'wall time, s':<28} {engine_s:>16.1f} {goaccess_s:>14.1f}")
        print(f"{'peak memory (max RSS), MiB':<28} {engine_mib:>16.0f} {goaccess_mib:>14.0f}")
        print(f"{'requests':<28} {report['hits']:>16,} {general['total_requests']:>14,}")
        print(f"{'visitors':<28} {report['visitors']:>16,} {general['unique_visitors']:>14,}")
        detail = report["visitors_detail"]
        print(
            f"  report: {detail['cookie']:,} cookie visitors + {detail['cookieless']:,} "
            f"without cookies; {report['visits']:,} visits; {report['page_views']:,} page views"
        )
        print("  GoAccess: a visitor = client address + user agent + day, summed over days")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
