"""python -m difusor.rehearsal.prep generate --out DIR --cortes N [options]"""

from __future__ import annotations

import argparse
import sys
import time

from .dialects import PRESETS, TOKENS
from .generator import Series


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m difusor.rehearsal.prep", description="Synthetic PREP packages."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a series of cortes")
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--cortes", type=int, required=True, help="number of cortes")
    gen.add_argument(
        "--start", default="2024-06-02T20:00", help="first corte, local central-Mexico time"
    )
    gen.add_argument("--period-minutes", type=int, default=15)
    gen.add_argument("--state", default="VER")
    gen.add_argument("--actas", type=int, default=11030, help="expected actas per election")
    gen.add_argument("--elections", default="GUB,DIP_LOC")
    gen.add_argument(
        "--dialect",
        default="ine",
        help=f"preset ({', '.join(PRESETS)}) or tokens joined by '+' ({', '.join(TOKENS)})",
    )
    gen.add_argument("--nesting", choices=["zip", "folder", "flat"], default="zip")
    gen.add_argument(
        "--final-capture", type=float, default=0.98, help="captured fraction at the last corte"
    )
    gen.add_argument("--seed", type=int, default=2024)
    gen.add_argument("--sidecar", action="store_true", help="also write NAME.zip.sha256")
    gen.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        series = Series(
            start=args.start,
            cortes=args.cortes,
            period_minutes=args.period_minutes,
            state=args.state,
            actas=args.actas,
            elections=args.elections,
            dialect=args.dialect,
            seed=args.seed,
            final_capture=args.final_capture,
            nesting=args.nesting,
        )
    except ValueError as exc:
        parser.error(str(exc))
    t0 = time.monotonic()
    for i in range(series.cortes):
        path = series.write(i, args.out, sidecar=args.sidecar)
        if not args.quiet:
            print(f"{path}  {path.stat().st_size} bytes")
    if not args.quiet:
        print(f"{series.cortes} cortes in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
