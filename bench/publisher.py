"""Benchmark of the server-side publisher (prints figures; not a test).

    .venv/bin/python bench/publisher.py [--cortes 97] [--site-cortes 6] [--quick]

1. Publishes a night of Veracruz-size cortes (2 elections x 11,030 actas, nested zips,
   1-2 MB each, with .sha256 sidecars) one by one through the real publisher
   (``python3 -m difusor_server publish`` as a subprocess). Latency = from the moment the
   package is complete in incoming (renamed into place, as rsync does) to the moment the
   ``current`` symlink points at its release, seen by a watcher polling the link.
2. The same for ~100 MB packages holding a static site (2,000 HTML/JS/JSON/image files)
   plus the CSVs.
3. Disk used by the archive and the releases after the night: ``du``-style (allocated
   blocks, hard links counted once), with every release kept and with the default
   ``keep_releases``.
4. A hostile package listing a million entries (``--hostile-entries``): time and peak memory
   of the publisher run that refuses it (``too-many-files``). ``--hostile-only`` runs this
   part alone.

The trigger latency of the systemd path unit (a few ms) is not included.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "tests" / "server"))

from srvtools import many_entries_zip  # noqa: E402  (the tests' crafted package)

from difusor.rehearsal.prep import Series, SiteSpec  # noqa: E402 (needs sys.path above)
from difusor.rehearsal.prep.generator import write_sidecar  # noqa: E402 (needs sys.path above)


def percentile(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def du(*roots) -> tuple[int, int, int]:
    """Disk use of ``roots``: (allocated bytes, hard links counted once; apparent bytes, links
    counted once; apparent bytes counted per path)."""
    seen = set()
    blocks = apparent = per_path = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, name))
                per_path += st.st_size
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                blocks += st.st_blocks * 512
                apparent += st.st_size
    return blocks, apparent, per_path


class Watcher(threading.Thread):
    """Polls the current symlink until it names the expected release."""

    def __init__(self, link: Path, prefix: str):
        super().__init__(daemon=True)
        self.link, self.prefix = str(link), prefix
        self.seen_at: float | None = None
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                if os.path.basename(os.readlink(self.link)).startswith(self.prefix):
                    self.seen_at = time.time()
                    return
            except OSError:
                pass
            time.sleep(0.001)


class Bench:
    def __init__(self, root: Path, python: str, keep: int):
        self.root = root
        self.python = python
        self.staging = root / "staging"
        self.staging.mkdir(parents=True)
        self.cfg = {
            "incoming_dir": str(root / "incoming"),
            "archive_dir": str(root / "archive"),
            "releases_dir": str(root / "releases"),
            "current_link": str(root / "current"),
            "quarantine_dir": str(root / "quarantine"),
            "state_dir": str(root / "state"),
            "log_file": str(root / "publisher.log"),
            "healthz_file": str(root / "healthz.json"),
            "sidecar": "if-present",
            "keep_releases": keep,
        }
        (root / "incoming").mkdir()
        self.config = root / "publisher.json"
        self.config.write_text(json.dumps(self.cfg))
        self.env = dict(os.environ, PYTHONPATH=str(REPO / "server"))

    def publish_one(self, series: Series, i: int) -> dict:
        corte = series.corte_time(i)
        name = series.name(corte)
        data = series.package_bytes(corte)
        staged = self.staging / name
        staged.write_bytes(data)
        write_sidecar(self.root / "incoming" / name, data)  # the sidecar lands first
        watcher = Watcher(self.root / "current", corte.strftime("%Y%m%dT%H%M"))
        watcher.start()
        os.replace(staged, self.root / "incoming" / name)  # "file complete in incoming"
        complete = time.time()
        run = subprocess.run(
            [self.python, "-m", "difusor_server", "publish", "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
        )
        done = time.time()
        watcher.join(timeout=5)
        watcher.stop = True
        events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        published = [e for e in events if e["event"] == "published"]
        if run.returncode != 0 or not published or watcher.seen_at is None:
            raise SystemExit(f"publication of {name} failed:\n{run.stdout}\n{run.stderr}")
        return {
            "name": name,
            "size": len(data),
            "latency": watcher.seen_at - complete,
            "own_latency": published[0]["latency_s"],
            "run": done - complete,
            "linked": published[0]["linked"],
            "files": published[0]["files"],
        }

    def refuse_many_entries(self, entries: int) -> dict:
        """Drop a package listing ``entries`` empty files, time the run that refuses it and
        read that process's own peak RSS."""
        path = many_entries_zip(self.root / "incoming" / "20240602_2115_PREP_VER.zip", entries)
        size = path.stat().st_size
        started = time.monotonic()
        run = subprocess.run(
            [self.python, "-c", PEAK_RSS_WRAPPER, "publish", "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
        )
        elapsed = time.monotonic() - started
        events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        if run.returncode != 0 or [e.get("reason") for e in events] != ["too-many-files"]:
            raise SystemExit(
                f"the {entries}-entry package was not refused:\n{run.stdout}{run.stderr}"
            )
        return {
            "entries": entries,
            "size": size,
            "seconds": elapsed,
            "peak_rss": int(run.stderr.split("peak-rss-kb ")[-1]) * 1024,
            "detail": events[0]["detail"],
        }


# Runs the publisher and prints its peak RSS (VmHWM: this address space's own high-water
# mark; getrusage's ru_maxrss would also count the forking parent's pages at exec).
PEAK_RSS_WRAPPER = """
import runpy, sys
sys.argv[0] = "difusor_server"
try:
    runpy.run_module("difusor_server", run_name="__main__")
finally:
    status = open("/proc/self/status").read()
    sys.stderr.write("peak-rss-kb " + status.split("VmHWM:")[1].split()[0])
"""


def row(label, results):
    lat = [r["latency"] for r in results]
    own = [r["own_latency"] for r in results]
    sizes = [r["size"] / 1e6 for r in results]
    return (
        f"{label:<28} {len(results):>4} {min(sizes):>6.1f}-{max(sizes):<6.1f} "
        f"{percentile(lat, 50):>7.3f} {percentile(lat, 90):>7.3f} {percentile(lat, 99):>7.3f} "
        f"{max(lat):>7.3f} {percentile(own, 50):>9.3f} "
        f"{statistics.mean(r['run'] for r in results):>8.3f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cortes", type=int, default=97, help="Veracruz-size cortes to publish (default 97)"
    )
    ap.add_argument(
        "--site-cortes",
        type=int,
        default=6,
        help="100 MB static-site cortes to publish (default 6)",
    )
    ap.add_argument("--site-mb", type=int, default=100)
    ap.add_argument(
        "--keep-releases", type=int, default=10, help="the publisher's default, for the disk figure"
    )
    ap.add_argument(
        "--python",
        default=shutil.which("python3") or sys.executable,
        help="interpreter that runs the publisher (default: python3 on PATH)",
    )
    ap.add_argument("--dir", help="work directory (default: a temp dir, removed at the end)")
    ap.add_argument("--quick", action="store_true", help="30 cortes and 3 site cortes")
    ap.add_argument(
        "--hostile-entries",
        type=int,
        default=1_000_000,
        help="entries of the hostile package (default 1,000,000; 0 skips it)",
    )
    ap.add_argument("--hostile-only", action="store_true", help="only the hostile package")
    args = ap.parse_args()
    if args.hostile_only:
        return hostile(args)
    if args.quick:
        args.cortes, args.site_cortes = 30, 3
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="difusor-bench-"))
    started = time.monotonic()
    try:
        # -- a night of Veracruz-size cortes, every release kept (pruned afterwards for the default)
        night = Bench(base / "night", args.python, keep=max(args.cortes, 1))
        series = Series(cortes=args.cortes)
        results = []
        for i in range(args.cortes):
            results.append(night.publish_one(series, i))
            print(f"\r  corte {i + 1}/{args.cortes}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        arch = du(night.root / "archive")
        rel_all = du(night.root / "releases")
        from difusor_server import release

        live = os.path.realpath(night.root / "current")
        release.prune(str(night.root / "releases"), args.keep_releases, live)
        rel_keep = du(night.root / "releases")

        # -- 100 MB packages with a static site
        site_results = []
        if args.site_cortes:
            site = Bench(base / "site", args.python, keep=args.keep_releases)
            spec = SiteSpec(files=2000, bytes=args.site_mb * 1_000_000)
            site_series = Series(
                cortes=max(args.site_cortes, 2), site=spec, start="2024-06-02T22:00"
            )
            for i in range(args.site_cortes):
                site_results.append(site.publish_one(site_series, i))
                print(
                    f"\r  site corte {i + 1}/{args.site_cortes}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
            print(file=sys.stderr)
        hostile_figures = None
        if args.hostile_entries:
            hostile_bench = Bench(base / "hostile", args.python, keep=1)
            hostile_figures = hostile_bench.refuse_many_entries(args.hostile_entries)
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)

    mb = 1 / 1e6
    print()
    print(
        f"difusor publisher benchmark  ({os.cpu_count()} CPUs, publisher on "
        f"{subprocess.run([args.python, '-V'], capture_output=True, text=True).stdout.strip()}, "
        f"{platform.system()} {platform.release()}, {time.monotonic() - started:.0f} s in all)"
    )
    print(
        "latency = package complete in incoming -> current symlink points at its release (seconds)"
    )
    print()
    print(
        f"{'package':<28} {'n':>4} {'size MB':^13} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} "
        f"{'own p50':>9} {'run avg':>8}"
    )
    print(row("Veracruz corte (2 elect.)", results))
    if site_results:
        print(row(f"{args.site_mb} MB static site + CSVs", site_results))
        later = site_results[1:]
        linked = statistics.median(r["linked"] for r in later) if later else 0
        print(
            f"  (site packages: {site_results[0]['files']} files each; from the second corte on "
            f"{linked:.0f} unchanged files hard-linked instead of written)"
        )
    print(
        "  own p50 = latency_s the publisher logs itself (file ctime -> switch); "
        "run avg = whole subprocess"
    )
    print()
    print(
        f"disk after {args.cortes} Veracruz-size cortes "
        "(allocated blocks, hard links counted once):"
    )
    print(f"  {'archive (every package, forever)':<44} {arch[0] * mb:>9.1f} MB")
    print(
        f"  {f'releases, all {args.cortes} kept':<44} {rel_all[0] * mb:>9.1f} MB   "
        f"(without hardlink dedup: {rel_all[2] * mb:.1f} MB apparent)"
    )
    print(f"  {'archive + all releases':<44} {(arch[0] + rel_all[0]) * mb:>9.1f} MB")
    kept = f"releases, keep_releases={args.keep_releases} (default)"
    print(f"  {kept:<44} {rel_keep[0] * mb:>9.1f} MB")
    archive_and_kept = f"archive + releases (keep {args.keep_releases})"
    print(f"  {archive_and_kept:<44} {(arch[0] + rel_keep[0]) * mb:>9.1f} MB")
    if hostile_figures:
        print()
        print_hostile(hostile_figures)
    return 0


def hostile(args: argparse.Namespace) -> int:
    """Part 4 alone: the publisher refusing a package that lists too many entries."""
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="difusor-bench-"))
    try:
        figures = Bench(base / "hostile", args.python, keep=1).refuse_many_entries(
            args.hostile_entries
        )
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    print_hostile(figures)
    return 0


def print_hostile(figures: dict) -> None:
    print(
        f"hostile package: {figures['entries']:,} entries, {figures['size'] / 1e6:.1f} MB -> "
        f"refused in {figures['seconds']:.2f} s, publisher peak RSS "
        f"{figures['peak_rss'] / 1e6:.0f} MB"
    )
    print(f"  ({figures['detail']})")


if __name__ == "__main__":
    sys.exit(main())
