"""
systemd services kept running and enabled, several judged by one fact.

Example::

    from difusor.operations import services

    services.running(units=["nginx", "certbot.timer"])
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from difusor.facts import UnitStates

# Unit file states that start the unit at boot without a `systemctl enable` of its own.
STARTS_AT_BOOT = {"enabled", "enabled-runtime", "static", "alias", "generated", "indirect"}


@operation()
def running(units: list[str]):
    """
    Start each of ``units`` unless it is active and enable it unless it starts at boot
    already, all judged by one fact.

    + units: unit names; without a suffix a name is a ``.service``, as with ``systemctl``
    """
    names = [unit if "." in unit else f"{unit}.service" for unit in units]
    states = host.get_fact(UnitStates, units=tuple(names))
    commands = []
    for name in names:
        state = states.get(name, {"active": "", "file": ""})
        if state["active"] != "active":
            commands.append(StringCommand("systemctl", "start", QuoteString(name)))
        if state["file"] not in STARTS_AT_BOOT:
            commands.append(StringCommand("systemctl", "enable", QuoteString(name)))
    if not commands:
        host.noop(f"{', '.join(names)} running and started at boot")
        return
    yield from commands
