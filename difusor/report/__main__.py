"""Build the memoria técnica from a local copy (for development; operators use ``difusor report``).

    python -m difusor.report --from-copy COPY --from 2024-06-02T20:00 --to 2024-06-09T23:59:59 \\
        --out memoria [--difusor prep.example.com.mx] [--no-pdf]
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from difusor.report import ReportOptions, build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m difusor.report", description=__doc__)
    parser.add_argument("--from-copy", type=Path, required=True, help="the copy directory")
    parser.add_argument("--from", dest="start", type=datetime.fromisoformat, required=True)
    parser.add_argument("--to", dest="end", type=datetime.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--difusor", help="the portal's name for the title page")
    parser.add_argument("--timezone", help="default: the copy's publisher.json")
    parser.add_argument("--capacity-rps", type=float, help="measured capacity, req/s")
    parser.add_argument("--no-pdf", action="store_true")
    args = parser.parse_args(argv)
    options = ReportOptions(
        difusor=args.difusor,
        timezone=args.timezone,
        capacity_rps=args.capacity_rps,
        pdf=not args.no_pdf,
    )
    try:
        report = build_report(args.from_copy, args.start, args.end, args.out, options)
    except ValueError as exc:
        print(f"difusor report: {exc}", file=sys.stderr)
        return 2
    print(report.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
