"""``difusor evidence``: the compliance documents of one server, measured live."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from difusor.cli import add_inventory_arguments

HELP = (
    "measure one server against the institute's requirements, without changing it, and write "
    "the compliance matrix (HTML, PDF), the service diagram, the staff list and evidence.json"
)
# Exit codes: bits, so a comparison can say both things at once.
EXIT_FAIL = 1
EXIT_CHANGED = 4


def exit_code(fail_rows: int, changes: list[str] | None = None) -> int:
    """0 all PASS/WARN (and, compared, nothing changed); +1 a FAIL; +4 a change since OLD."""
    return (EXIT_FAIL if fail_rows else 0) | (EXIT_CHANGED if changes else 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser, one_host=True)
    parser.add_argument(
        "--out", default=None, help="directory for the documents (default: evidence/HOST)"
    )
    parser.add_argument(
        "--compare",
        metavar="OLD.json",
        help="an earlier evidence.json: print what changed on the server since "
        f"(exit code +{EXIT_CHANGED} when anything did)",
    )
    parser.add_argument(
        "--ca-file",
        help="CA certificate to trust for the portal (a private or test CA; the public ones "
        "are trusted already)",
    )


def run(args: argparse.Namespace) -> int:
    from difusor.evidence.build import EvidenceError, build_evidence
    from difusor.evidence.compare import changes
    from difusor.evidence.document import CSV_NAME, HTML_NAME, JSON_NAME, PDF_NAME
    from difusor.evidence.matrix import FAIL, STATUSES
    from difusor.inventory import load_inventory, select_hosts
    from difusor.settings import SettingsError

    hosts = select_hosts(load_inventory(args.inventory), args.host)
    if len(hosts) > 1:
        names = ", ".join(host.name for host in hosts)
        raise SettingsError([f"--host: the inventory has several hosts, name one ({names})"])
    host = hosts[0]
    old = None
    if args.compare:
        try:
            old = json.loads(Path(args.compare).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SettingsError(
                [f"--compare: {args.compare!r} is not an evidence.json ({error})"]
            ) from None
    out = Path(args.out or Path("evidence") / host.name)
    try:
        evidence = build_evidence(
            host,
            out,
            args.inventory,
            ca_file=args.ca_file,
            progress=lambda step: print(f"evidence: {step}...", file=sys.stderr, flush=True),
        )
    except EvidenceError as error:
        print(f"difusor evidence: {error}", file=sys.stderr)
        return 2
    width = max(len(row["clause"]) for row in evidence["rows"])
    for row in evidence["rows"]:
        print(f"  {row['status']:<6} {row['clause']:<{width}}  {row['title']}: {row['measured']}")
    tally = ", ".join(f"{evidence['counts'][s]} {s}" for s in STATUSES)
    print(f"evidence: {len(evidence['rows'])} requirements: {tally} ({evidence['seconds']} s)")
    files = [
        evidence["diagram"]["svg"],
        evidence["diagram"]["png"],
        HTML_NAME,
        PDF_NAME,
        CSV_NAME,
        JSON_NAME,
    ]
    print(f"evidence: written to {out}/: {', '.join(files)}")
    lines = None
    if old is not None:
        lines = changes(old, evidence)
        print(f"evidence: {len(lines)} changes since {args.compare} ({old.get('generated')})")
        for line in lines:
            print(f"  {line}")
    return exit_code(evidence["counts"][FAIL], lines)
