"""
Publication benchmark in the lab: from the moment the institute's rsync upload completes (on
the trusted namespace) to the moment the portal serves that corte over HTTPS (polled from
the public namespace every 50 ms): p50 and p99 over a series of Veracruz-size cortes, and
over ~100 MB packages holding a static site; then the disk the archive and releases use.

    python bench/publication.py [--cortes 30] [--site-cortes 5] [--reuse]

Bounded by the counts given; prints figures, asserts nothing. (bench/publisher.py measures
the publisher alone, without rsync and nginx, and the disk for 97 cortes.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from difusor.rehearsal.lab.rehearse import deployed_lab
from difusor.rehearsal.lab.simulacro import recent_cortes_start, run_simulacro
from difusor.rehearsal.prep.generator import SiteSpec


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def row(label: str, reports) -> str:
    latencies = [r.latency_s for r in reports if r.published]
    if not latencies:
        return f"{label:<34}{'none published':>30}"
    return (
        f"{label:<34}{len(latencies):>4}/{len(reports):<4}{statistics.median(latencies):>9.3f}"
        f"{percentile(latencies, 0.99):>9.3f}{max(latencies):>9.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cortes", type=int, default=30, help="Veracruz-size cortes")
    parser.add_argument("--site-cortes", type=int, default=5, help="~100 MB static-site cortes")
    parser.add_argument("--reuse", action="store_true", help="use a lab that is up and deployed")
    args = parser.parse_args()
    with deployed_lab(args.reuse) as lab:
        # One series of corte times for both runs: the site cortes follow the Veracruz ones.
        start = recent_cortes_start(args.cortes + args.site_cortes)
        veracruz = run_simulacro(lab, args.cortes, period_seconds=0, start=start)
        site = (
            run_simulacro(
                lab,
                args.site_cortes,
                period_seconds=0,
                site=SiteSpec(),
                start=start + timedelta(minutes=args.cortes),
            )
            if args.site_cortes
            else []
        )
        disk = lab.ssh(
            "du -sh --apparent-size /srv/difusor/archive /srv/difusor/releases; du -sh /srv/difusor"
        ).stdout
    print("\npublication benchmark: upload complete (rsync from ople) -> live on HTTPS (public)")
    print(f"{'package':<34}{'published':>9}{'p50 s':>9}{'p99 s':>9}{'max s':>9}")
    print(row("Veracruz-size corte (GUB+DIP_LOC)", veracruz))
    if site:
        print(row("~100 MB static site + CSVs", site))
    print("disk on the lab host:\n" + disk)


if __name__ == "__main__":
    main()
