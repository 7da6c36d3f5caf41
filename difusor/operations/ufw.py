"""
Manage ufw, which pyinfra does not cover: default policies, the rule set, enabling.

Every operation reads :class:`difusor.facts.UfwState` first and does nothing when ufw
already says what is asked.

Example::

    from difusor.operations import ufw

    ufw.rules(rules=["allow 443/tcp", "allow from 203.0.113.0/28 to any port 22 proto tcp"])
    ufw.policy(incoming="deny", outgoing="allow", routed="deny")
    ufw.enabled()
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


@operation()
def rules(rules: list[str], exclusive: bool = True):
    """
    Make ufw's user rules the given ones.

    + rules: rules in the syntax ``ufw show added`` prints, without the leading ``ufw``
    + exclusive: delete user rules that are not listed (after adding the new ones, so a
      replaced rule never leaves a gap)
    """
    current = host.get_fact(UfwState)["rules"]
    missing = [rule for rule in rules if rule not in current]
    unwanted = [rule for rule in current if rule not in rules] if exclusive else []
    if not missing and not unwanted:
        host.noop(f"ufw has the {len(rules)} rules")
        return
    for rule in missing:
        yield StringCommand("ufw", *_rule_arguments(rule))
    for rule in unwanted:
        yield StringCommand("ufw", "--force", "delete", *_rule_arguments(rule))


@operation()
def policy(
    incoming: str = "deny",
    outgoing: str = "allow",
    routed: str = "deny",
    ipv6: bool = True,
    logging: str = "low",
):
    """
    Set ufw's default policies, IPv6 support and logging level.

    + incoming/outgoing/routed: ``allow``, ``deny`` or ``reject``
    + ipv6: keep ``IPV6=yes``; without it ufw silently ignores every IPv6 rule
    + logging: ``off``, ``low``, ``medium``, ``high`` or ``full``
    """
    state = host.get_fact(UfwState)
    wanted = {"incoming": incoming, "outgoing": outgoing, "routed": routed}
    changed = False
    if ipv6 and not state["ipv6"]:
        changed = True
        yield "sed -i 's/^IPV6=.*/IPV6=yes/' /etc/default/ufw"
    for direction in DIRECTIONS:
        if state["defaults"].get(direction) != wanted[direction]:
            changed = True
            yield StringCommand("ufw", "default", wanted[direction], direction)
    if state["logging"] != logging:
        changed = True
        yield StringCommand("ufw", "logging", logging)
    if not changed:
        host.noop("ufw policies are set")


@operation()
def enabled():
    """Enable ufw (now and at boot). Put the rules in place first: this applies them."""
    if host.get_fact(UfwState)["enabled"]:
        host.noop("ufw is enabled")
        return
    yield "ufw --force enable"
