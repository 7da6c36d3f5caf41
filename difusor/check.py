"""
difusor check: the settings of every host of an inventory, validated on this machine with no
connection, one line per problem: the host, the setting, why (quoting the value), and the file
it came from.

    difusor check [--inventory inventory/production.py] [--host NAME]

    prep1: OK
    prep2: ntp_servers: List should have at least 1 item (got []) [group_data/all.py:30]

The deploy runs the same check before pyinfra connects to anything: pyinfra executes the
repository's ``config.py`` first, which calls ``check_before_connecting()``.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from difusor.cli import add_inventory_arguments
from difusor.inventory import InventoryHost, Origin, load_inventory, select_hosts, shown_path
from difusor.settings import Problem, SettingsError, parse_settings, secret_sources

HELP = "check the settings of an inventory's hosts, without connecting to them"


def _setting_name(statement: ast.stmt) -> str:
    """The name a top-level statement assigns, for a line about a dict inside it."""
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    if isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    names = [target.id for target in targets if isinstance(target, ast.Name)]
    return names[0] if names else "data"


def duplicate_keys(path: str) -> list[tuple[Problem, Origin]]:
    """Keys written twice in one dict literal of a data file: Python keeps the last silently."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), path)
    found = []
    for statement in tree.body:
        for node in ast.walk(statement):
            if not isinstance(node, ast.Dict):
                continue
            first_line: dict[Any, int] = {}
            for key in node.keys:
                if not isinstance(key, ast.Constant):
                    continue
                if key.value in first_line:
                    problem = Problem(
                        _setting_name(statement),
                        f"key {key.value!r} is written twice in one dict (lines "
                        f"{first_line[key.value]} and {key.lineno}): only the last would count",
                    )
                    found.append((problem, Origin(shown_path(path), key.lineno)))
                first_line.setdefault(key.value, key.lineno)
    return found


def _origins_text(problem: Problem, origins: dict[str, Origin]) -> str:
    known = [(key, origins[key]) for key in problem.keys if key in origins]
    if not known:
        return ""
    if len(known) == 1:
        return f" [{known[0][1]}]"
    return " [" + ", ".join(f"{key} in {origin}" for key, origin in known) + "]"


def host_problems(host: InventoryHost) -> list[str]:
    """Every problem in the settings of ``host``, one line each; none: the settings are valid."""
    lines = [
        f"{host.name}: {problem} [{origin}]"
        for path in host.data_files
        for problem, origin in duplicate_keys(path)
    ]
    secrets = secret_sources()
    # Host data origins last: a secret written in group_data is reported where it was written.
    origins = {name: Origin(source) for name, (_, source) in secrets.items()} | host.origins
    try:
        parse_settings(host.data, {name: value for name, (value, _) in secrets.items()})
    except SettingsError as error:
        lines += [
            f"{host.name}: {problem}{_origins_text(problem, origins)}" for problem in error.details
        ]
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)


def run(args: argparse.Namespace) -> int:
    bad = 0
    for host in select_hosts(load_inventory(args.inventory), args.host):
        lines = host_problems(host)
        print("\n".join(lines) if lines else f"{host.name}: OK")
        bad += bool(lines)
    return 1 if bad else 0


def _matching(hosts: list[InventoryHost], patterns: Iterable[str]) -> set[str]:
    """Names of the hosts ``--limit``/``--exclude`` patterns select, as pyinfra matches them:
    a group's hosts, or else the host names matching the pattern."""
    names: set[str] = set()
    for pattern in patterns:
        in_group = [host for host in hosts if pattern in host.groups]
        names.update(
            host.name for host in in_group or [h for h in hosts if fnmatch(h.name, pattern)]
        )
    return names


def check_before_connecting() -> None:
    """In the pyinfra command line, before it reads the inventory: check the settings of the
    hosts a deploy is about to reach and, on any problem, print the lines and stop (exit 1)
    without connecting to any. Facts, ``exec`` and ``debug-inventory`` read no settings."""
    import click
    from pyinfra import logger
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra_cli.util import parse_cli_arg

    context = click.get_current_context(silent=True)
    if context is None or not all(op.endswith(".py") for op in context.params["operations"]):
        return
    params = context.params
    override_data = {
        key: parse_cli_arg(value)
        for key, _, value in (item.partition("=") for item in params["data"])
    }
    logger.info("--> Checking settings...")
    try:
        hosts = load_inventory(params["inventory"], override_data, list(params["group_data"]))
    except SettingsError as error:
        lines = error.problems
    except (click.ClickException, PyinfraError):
        return  # an inventory pyinfra cannot read: pyinfra reports it in its own words next
    else:
        chosen = _matching(hosts, params["limit"]) if params["limit"] else {h.name for h in hosts}
        chosen -= _matching(hosts, params["exclude"])
        lines = [line for host in hosts if host.name in chosen for line in host_problems(host)]
    if lines:
        for line in lines:
            logger.error(line)
        logger.error("--> Invalid settings: no server was contacted. Fix the lines above.")
        raise SystemExit(1)
