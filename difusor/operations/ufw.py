"""
Manage ufw, which pyinfra does not cover: IPv6, the rule set, default policies, enabling.

One operation reads :class:`difusor.facts.UfwState` once and does nothing when ufw already
says what is asked.

Example::

    from difusor.operations import ufw

    ufw.configured(
        rules=["allow 443/tcp", "allow from 203.0.113.0/28 to any port 22 proto tcp"],
        incoming="deny", outgoing="allow", routed="deny",
    )
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from difusor.facts import UfwState

DIRECTIONS = ("incoming", "outgoing", "routed")


def _rule_arguments(rule: str) -> list[QuoteString]:
    """A rule's words as ufw must receive them: a quoted comment stays one argument."""
    return [QuoteString(word) for word in shlex.split(rule)]


def _ipv6(state: dict) -> list:
    """IPv6 support on (``IPV6=yes``), before any rule: without it ufw silently keeps only the
    IPv4 half of every rule added. A running ufw is reloaded to apply it."""
    if state["ipv6"]:
        return []
    commands = ["sed -i 's/^IPV6=.*/IPV6=yes/' /etc/default/ufw"]
    if state["enabled"]:
        commands.append("ufw reload")
    return commands


def _rules(state: dict, rules: list[str], exclusive: bool) -> list:
    """The missing rules added, then (``exclusive``) the unlisted ones deleted, so a replaced
    rule never leaves a gap. Rules ufw took while its IPv6 support was off have no IPv6 half:
    they are all given again, and ufw adds what is missing and skips what it has."""
    current = state["rules"]
    missing = [rule for rule in rules if not state["ipv6"] or rule not in current]
    unwanted = [rule for rule in current if rule not in rules] if exclusive else []
    return [StringCommand("ufw", *_rule_arguments(rule)) for rule in missing] + [
        StringCommand("ufw", "--force", "delete", *_rule_arguments(rule)) for rule in unwanted
    ]


def _policy(state: dict, wanted: dict[str, str], logging: str) -> list:
    commands: list = [
        StringCommand("ufw", "default", wanted[direction], direction)
        for direction in DIRECTIONS
        if state["defaults"].get(direction) != wanted[direction]
    ]
    if state["logging"] != logging:
        commands.append(StringCommand("ufw", "logging", logging))
    return commands


@operation()
def configured(
    rules: list[str],
    incoming: str = "deny",
    outgoing: str = "allow",
    routed: str = "deny",
    logging: str = "low",
    exclusive: bool = True,
):
    """
    ufw with IPv6 on, the given rules, default policies and logging level, then enabled (now
    and at boot), in that order: enabling applies the rules already in place.

    + rules: rules in the syntax ``ufw show added`` prints, without the leading ``ufw``
    + incoming/outgoing/routed: ``allow``, ``deny`` or ``reject``
    + logging: ``off``, ``low``, ``medium``, ``high`` or ``full``
    + exclusive: delete user rules that are not listed (after adding the new ones)
    """
    state = host.get_fact(UfwState)
    wanted = {"incoming": incoming, "outgoing": outgoing, "routed": routed}
    commands = [
        *_ipv6(state),
        *_rules(state, rules, exclusive),
        *_policy(state, wanted, logging),
        *([] if state["enabled"] else ["ufw --force enable"]),
    ]
    if not commands:
        host.noop(f"ufw is enabled with IPv6, its policies and the {len(rules)} rules")
        return
    yield from commands
