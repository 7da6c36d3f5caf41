"""
difusor: what a difusor's sysadmin runs from their own machine, against the servers of the
same pyinfra inventory the deploy takes.

    difusor check [--inventory FILE] [--host NAME]
    difusor evidence [--inventory FILE] [--host NAME] [--out DIR] [--compare OLD.json]
    difusor status [--inventory FILE] [--host NAME] [--json]
    difusor backup --to DIR [--inventory FILE] [--host NAME]
    difusor restore --from DIR/HOST [--inventory FILE] [--host NAME]
    difusor report [--inventory FILE] [--host NAME] [--from WHEN] [--to WHEN] [--out DIR]

Each subcommand is a module with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
(the exit code). Modules keep heavy imports inside ``run``, so ``difusor --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from difusor.inventory import DEFAULT_INVENTORY
from difusor.settings import SettingsError

# subcommand -> module
SUBCOMMANDS: dict[str, str] = {
    "check": "difusor.check",
    "evidence": "difusor.evidence.command",
    "status": "difusor.status",
    "backup": "difusor.backup",
    "restore": "difusor.restore",
    "report": "difusor.report_command",
}


def add_inventory_arguments(parser: argparse.ArgumentParser, one_host: bool = False) -> None:
    """``--inventory`` and ``--host``, the same for every subcommand."""
    parser.add_argument(
        "-i",
        "--inventory",
        default=DEFAULT_INVENTORY,
        help=f"pyinfra inventory, as for the deploy (default: {DEFAULT_INVENTORY})",
    )
    parser.add_argument(
        "--host",
        help="the host of the inventory to use"
        + (" (needed when the inventory has several)" if one_host else " (default: all)"),
    )


def _subcommand(name: str) -> ModuleType:
    return importlib.import_module(SUBCOMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difusor", description=(__doc__ or "").strip().split("\n\n")[0]
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = _subcommand(name)
        subparser = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SettingsError as error:
        # Bad input is the sysadmin's to fix: one line per problem, no traceback.
        print(
            "\n".join(f"difusor {args.command}: {line}" for line in error.problems), file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
