"""
The hosts of a pyinfra inventory, read as the pyinfra command line reads them: the inventory
file, ``group_data/`` beside it and in the current directory, and connectors such as
``@vagrant``. Every ``difusor`` subcommand takes its hosts from here, so it sees the same
servers and the same settings as the deploy.

Example::

    from difusor.inventory import load_inventory, select_hosts

    for host in select_hosts(load_inventory("inventory/production.py"), None):
        print(host.name, host.settings().portal_domain)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from difusor.settings import Settings, SettingsError, parse_settings, read_secrets

DEFAULT_INVENTORY = "inventory/production.py"


@dataclass(frozen=True)
class InventoryHost:
    """One host of an inventory: its name, its merged pyinfra data and its groups."""

    name: str
    data: dict[str, Any] = field(repr=False)
    groups: tuple[str, ...] = ()

    def settings(self) -> Settings:
        """The validated settings of this host (group data, host data and ``.env``)."""
        return parse_settings(self.data, read_secrets())


def load_inventory(inventory: str) -> list[InventoryHost]:
    """Every host of a pyinfra inventory file (or connector spec such as ``@vagrant``)."""
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not inventory.startswith("@") and not os.path.isfile(inventory):
        raise SettingsError([f"inventory: {inventory!r} does not exist"])
    # pyinfra reads inventory files inside a state context, as its command line does.
    with ctx_state.use(State(config=Config())):
        return [
            InventoryHost(
                name=host.name,
                data=host.data.dict(),
                groups=tuple(host.groups),
            )
            for host in make_inventory(inventory, cwd=os.getcwd())
        ]


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
