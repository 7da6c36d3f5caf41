"""
Manage ufw, which pyinfra does not cover: IPv6, the rule set, default policies, enabling.

Every operation reads :class:`difusor.facts.UfwState` first and does nothing when ufw
already says what is asked.

Example::

    from difusor.operations import ufw

    ufw.ipv6()
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
def ipv6():
    """
    Turn on ufw's IPv6 support (``IPV6=yes``), before any rule: without it ufw silently keeps
    only the IPv4 half of every rule added. A running ufw is reloaded to apply it.
    """
    state = host.get_fact(UfwState)
    if state["ipv6"]:
        host.noop("ufw handles IPv6")
        return
    yield "sed -i 's/^IPV6=.*/IPV6=yes/' /etc/default/ufw"
    if state["enabled"]:
        yield "ufw reload"


@operation()
def rules(rules: list[str], exclusive: bool = True, ipv6: bool = True):
    """
    Make ufw's user rules the given ones.

    + rules: rules in the syntax ``ufw show added`` prints, without the leading ``ufw``
    + exclusive: delete user rules that are not listed (after adding the new ones, so a
      replaced rule never leaves a gap)
    + ipv6: the rules are for IPv6 too (after :func:`ipv6`). Rules ufw took while its IPv6
      support was off have no IPv6 half: they are all given again, and ufw adds what is
      missing and skips what it has
    """
    state = host.get_fact(UfwState)
    current = state["rules"]
    redo = ipv6 and not state["ipv6"]
    missing = [rule for rule in rules if redo or rule not in current]
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
    logging: str = "low",
):
    """
    Set ufw's default policies and logging level.

    + incoming/outgoing/routed: ``allow``, ``deny`` or ``reject``
    + logging: ``off``, ``low``, ``medium``, ``high`` or ``full``
    """
    state = host.get_fact(UfwState)
    wanted = {"incoming": incoming, "outgoing": outgoing, "routed": routed}
    changed = False
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
