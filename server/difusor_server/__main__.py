"""python3 -m difusor_server {publish,watch,monitor,status,manifest,restore} [--config FILE]

Exit codes: 0 done (rejections are normal outcomes); 1 an incident left a package waiting
(e.g. disk full) or the monitor could not run; 2 bad configuration or usage.
"""

import argparse
import contextlib
import json
import os
import sys

from . import __version__
from .config import ConfigError, load
from .log import Logger

DEFAULT_CONFIG = "/etc/difusor/publisher.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m difusor_server", description="Verify, publish and monitor PREP packages."
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("publish", "process every pending package, then exit"),
        ("watch", "publish each package as it arrives (the service); runs until stopped"),
        ("monitor", "check the freshness of the live corte once, then exit"),
        ("status", "print the live corte, releases, pending packages and queues as JSON"),
        ("manifest", "print every archived file with its sha256, and the live stamp, as JSON"),
        ("restore", "verify a restored archive, merge its state, bring its last corte live"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument(
            "--config",
            default=DEFAULT_CONFIG,
            help=f"configuration file (default {DEFAULT_CONFIG})",
        )
        if name == "monitor":
            command.add_argument(
                "--now", help="evaluate at this ISO date-time instead of now (for drills and tests)"
            )
        if name == "restore":
            command.add_argument(
                "--from",
                dest="from_dir",
                required=True,
                help="directory holding the backup's manifest.json and state.json",
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)

    try:
        cfg = load(args.config)
    except ConfigError as exc:
        Logger().event("config-error", detail=str(exc))
        return 2
    log = Logger(cfg.log_file, cfg.zone)
    if cfg.log_file:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(cfg.log_file), exist_ok=True)

    if args.command == "publish":
        from .publisher import Publisher

        return Publisher(cfg, log).run()
    if args.command == "watch":
        from .publisher import watch

        return watch(cfg, log)
    if args.command == "monitor":
        from . import monitor
        from .timeutil import parse_local

        at = None
        if args.now:
            try:
                at = parse_local(args.now, cfg.zone)
            except ValueError:
                parser.error(f"--now: {args.now!r} is not an ISO date-time")
        monitor.run(cfg, log, at)
        return 0
    code = 0
    if args.command == "manifest":
        from .restore import manifest

        document = manifest(cfg)
    elif args.command == "restore":
        from .restore import restore

        code, document = restore(cfg, Logger(cfg.log_file, cfg.zone, sys.stderr), args.from_dir)
    else:
        from .status import status

        document = status(cfg)
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
