"""
The hosts of a pyinfra inventory, read as the pyinfra command line reads them: the inventory
file, ``group_data/`` in the current directory and beside the inventory, ``--data`` and
``--group-data``, and connectors such as ``@vagrant``. Every ``difusor`` subcommand takes its
hosts from here, so it sees the same servers and the same settings as the deploy.

Each host also knows where each of its settings came from, by pyinfra's own precedence:
``--data``, then the host's data in the inventory, then the group data of its groups (the
last group wins; for one group, ``--group-data`` over ``group_data/`` beside the inventory
over ``group_data/`` in the current directory over the group's data in the inventory file),
then ``all`` the same way.

Example::

    from difusor.inventory import load_inventory, select_hosts

    for host in select_hosts(load_inventory("inventory/production.py"), None):
        print(host.name, host.settings().portal_domain, host.origins["portal_domain"])
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from difusor.settings import Settings, SettingsError, parse_settings, read_secrets

if TYPE_CHECKING:
    from pyinfra.api import Host, Inventory

DEFAULT_INVENTORY = "inventory/production.py"

# What each group_data folder gave, in the order pyinfra read them: folder -> group -> data.
GroupDataByFolder = list[tuple[str, dict[str, dict[str, Any]]]]


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: a file, with the line that sets it when known, or
    another source (``--data``, ``@vagrant``, the environment)."""

    source: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass(frozen=True)
class InventoryHost:
    """One host of an inventory: its name, its merged pyinfra data and its groups; where each
    key of the data came from, and the files that data was read from."""

    name: str
    data: dict[str, Any] = field(repr=False)
    groups: tuple[str, ...] = ()
    origins: dict[str, Origin] = field(default_factory=dict, repr=False, compare=False)
    data_files: tuple[str, ...] = ()

    def settings(self) -> Settings:
        """The validated settings of this host (group data, host data and ``.env``)."""
        return parse_settings(self.data, read_secrets())


def shown_path(path: str | os.PathLike) -> str:
    """A path as the sysadmin wrote it: relative to the current directory when inside it."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def assigned_names(path: str) -> dict[str, int]:
    """Names a Python data file assigns at module level (also inside ``if``/``try``), each with
    the line of its last assignment."""
    lines: dict[str, int] = {}

    def visit(statements: list[Any]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
                targets = [statement.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        lines[node.id] = statement.lineno
            # the blocks of if, for, while, with and try (and try's except handlers)
            for block in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(statement, block, []))

    visit(ast.parse(Path(path).read_text(encoding="utf-8"), path).body)
    return lines


@contextmanager
def _recording_group_data() -> Iterator[GroupDataByFolder]:
    """pyinfra's own reader of group_data folders, noting what each folder gave: pyinfra merges
    them in that order without keeping where a value came from."""
    from pyinfra_cli import inventory as cli_inventory

    read = cli_inventory._get_group_data
    folders: GroupDataByFolder = []

    def recording(folder: str) -> dict[str, dict[str, Any]]:
        data = read(folder)
        folders.append((folder, data))
        return data

    cli_inventory._get_group_data = recording
    try:
        yield folders
    finally:
        cli_inventory._get_group_data = read


class _DataSources:
    """Where each key of a host's data came from, by pyinfra's precedence (module docstring)."""

    def __init__(self, inventory: str, pyinfra_inventory: Inventory, folders: GroupDataByFolder):
        self.inventory = pyinfra_inventory
        self.folders = folders
        self.inventory_file = Path(inventory) if Path(inventory).is_file() else None
        self.inventory_source = shown_path(inventory) if self.inventory_file else inventory
        self._assigned: dict[str, dict[str, int]] = {}

    def _group_file(self, folder: str, group: str) -> str:
        return folder if Path(folder).is_file() else str(Path(folder) / f"{group}.py")

    def _line(self, path: str, key: str) -> int | None:
        if path not in self._assigned:
            self._assigned[path] = assigned_names(path)
        return self._assigned[path].get(key)

    def _group_origin(self, group: str, key: str) -> Origin:
        for folder, groups in reversed(self.folders):
            if key in groups.get(group, {}):
                path = self._group_file(folder, group)
                return Origin(shown_path(path), self._line(path, key))
        # Data given to the group (or to `all`) in the inventory file itself.
        return Origin(self.inventory_source)

    def origin(self, host: Host, key: str) -> Origin | None:
        """Where ``key`` of ``host``'s data came from; None: nowhere (a default applies)."""
        if key in self.inventory.get_override_data():
            return Origin("--data")
        if key in self.inventory.get_host_data(host.name):
            return Origin(self.inventory_source)
        for group in reversed(host.groups):
            if key in self.inventory.get_group_data(group):
                return self._group_origin(group, key)
        if key in self.inventory.get_data():
            return self._group_origin("all", key)
        return None

    def data_files(self, host: Host) -> tuple[str, ...]:
        """The inventory file and the group_data files whose data reach ``host``."""
        files = [str(self.inventory_file)] if self.inventory_file else []
        for folder, groups in self.folders:
            files += [
                self._group_file(folder, group)
                for group in [*host.groups, "all"]
                if group in groups
            ]
        return tuple(dict.fromkeys(files))

    def host(self, host: Host) -> InventoryHost:
        data = host.data.dict()
        origins = {key: self.origin(host, key) for key in data}
        return InventoryHost(
            name=host.name,
            data=data,
            groups=tuple(host.groups),
            origins={key: origin for key, origin in origins.items() if origin is not None},
            data_files=self.data_files(host),
        )


def load_inventory(
    inventory: str,
    override_data: dict[str, Any] | None = None,
    group_data_directories: list[str] | None = None,
) -> list[InventoryHost]:
    """Every host of a pyinfra inventory file (or connector spec such as ``@vagrant``), with
    ``--data`` overrides and extra ``--group-data`` folders as the command line takes them."""
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if inventory.endswith(".py") and not os.path.isfile(inventory):
        raise SettingsError([f"inventory: {inventory!r} does not exist"])
    # pyinfra reads inventory files inside a state context, as its command line does.
    with ctx_state.use(State(config=Config())), _recording_group_data() as folders:
        pyinfra_inventory = make_inventory(
            inventory,
            override_data=override_data,
            cwd=os.getcwd(),
            group_data_directories=group_data_directories,
        )
    if not len(pyinfra_inventory):
        raise SettingsError([f"inventory: {inventory!r} has no hosts"])
    sources = _DataSources(inventory, pyinfra_inventory, folders)
    return [sources.host(host) for host in pyinfra_inventory]


def select_hosts(hosts: list[InventoryHost], name: str | None) -> list[InventoryHost]:
    """All hosts, or the one called ``name``."""
    if name is None:
        return hosts
    chosen = [host for host in hosts if host.name == name]
    if not chosen:
        names = ", ".join(host.name for host in hosts)
        raise SettingsError([f"host {name!r} is not in the inventory (has: {names})"])
    return chosen


def inventory_settings(inventory: str, host_name: str | None = None) -> tuple[str, Settings]:
    """Name and settings of one host of an inventory (the first one when none is named)."""
    hosts = load_inventory(inventory)
    host = select_hosts(hosts, host_name)[0] if host_name else hosts[0]
    return host.name, host.settings()
