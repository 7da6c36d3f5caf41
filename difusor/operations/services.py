"""
systemd services kept running and enabled, each judged by one fact.

Example::

    from difusor.operations import services

    services.running(unit="nginx")
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from difusor.facts import UnitState

# Unit file states that start the unit at boot without a `systemctl enable` of its own.
STARTS_AT_BOOT = {"enabled", "enabled-runtime", "static", "alias", "generated", "indirect"}


@operation()
def running(unit: str):
    """
    Start ``unit`` unless it is active and enable it unless it starts at boot already.

    + unit: a unit name; without a suffix it is a ``.service``, as with ``systemctl``
    """
    name = unit if "." in unit else f"{unit}.service"
    state = host.get_fact(UnitState, unit=name)
    commands = []
    if state["active"] != "active":
        commands.append(StringCommand("systemctl", "start", QuoteString(name)))
    if state["file"] not in STARTS_AT_BOOT:
        commands.append(StringCommand("systemctl", "enable", QuoteString(name)))
    if not commands:
        host.noop(f"{name} is running and starts at boot")
        return
    yield from commands
