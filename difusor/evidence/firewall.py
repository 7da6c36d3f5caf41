"""
What a firewall rule set lets in, read from ufw's own rule syntax (``ufw show added``), so the
evidence can say which sources reach a port whatever way a rule was written by hand:
``allow 22/tcp``, ``allow OpenSSH``, ``allow from 10.0.0.0/8`` (every port),
``allow proto tcp from any to any port 80,443``, ``limit 6000:6007/tcp``.

    sources_for(rules, 22)   # {"198.18.0.1", "fd42:d1f0:5e::1", ...} or {"any", ...}
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from difusor.deploys.firewall import desired_rules
from difusor.settings import Settings

ANY = "any"
# Ports of the service names and application profiles a sysadmin is likely to type.
NAMED_PORTS: dict[str, tuple[int, ...]] = {
    "ssh": (22,),
    "openssh": (22,),
    "http": (80,),
    "https": (443,),
    "www": (80,),
    "www secure": (443,),
    "www full": (80, 443),
    "nginx http": (80,),
    "nginx https": (443,),
    "nginx full": (80, 443),
    "rsync": (873,),
}
_KEYWORDS = {"from", "to", "port", "proto", "on", "in", "out", "app", "comment"}


@dataclass(frozen=True)
class Rule:
    """One ufw rule: who it lets in (``source``), to which ports (``None``: every port)."""

    text: str
    action: str  # allow, limit, deny, reject
    incoming: bool
    routed: bool
    source: str
    ports: tuple[tuple[int, int], ...] | None
    proto: str  # tcp, udp or any
    comment: str = ""

    @property
    def admits(self) -> bool:
        return self.action in ("allow", "limit") and self.incoming

    def covers(self, port: int, proto: str = "tcp") -> bool:
        if self.proto not in (ANY, proto):
            return False
        return self.ports is None or any(low <= port <= high for low, high in self.ports)


def _ports(spec: str) -> tuple[tuple[int, int], ...] | None:
    """'80,443' / '6000:6007' / 'ssh' / 'Nginx Full' -> port ranges; None when unknown."""
    if spec.lower() in NAMED_PORTS:
        return tuple((port, port) for port in NAMED_PORTS[spec.lower()])
    ranges = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        ranges.append((int(low), int(high or low)))
    return tuple(ranges)


def parse_rule(text: str) -> Rule:
    """A rule as ``ufw show added`` prints it (without the leading ``ufw``)."""
    words = shlex.split(text)
    comment = ""
    if "comment" in words:
        at = words.index("comment")
        comment = " ".join(words[at + 1 :])
        words = words[:at]
    routed = bool(words) and words[0] == "route"
    words = words[1:] if routed else words
    action = words.pop(0) if words else ""
    incoming = True
    if words and words[0] in ("in", "out"):
        incoming = words.pop(0) == "in"
    source, proto = ANY, ANY
    ports: tuple[tuple[int, int], ...] | None = None
    if words and words[0] not in _KEYWORDS:
        # simple syntax: PORT[/PROTO] or an application profile
        spec, _, proto = " ".join(words).partition("/")
        ports = _ports(spec) or ((0, -1),)  # an unknown name covers nothing we can tell
        proto = proto or ANY
        words = []
    while words:
        keyword = words.pop(0)
        value = words.pop(0) if words else ""
        if keyword == "from":
            source = value
        elif keyword == "port":
            ports = _ports(value) or ((0, -1),)
        elif keyword == "proto":
            proto = value
        elif keyword == "app":
            ports = _ports(value) or ((0, -1),)
    return Rule(text, action, incoming, routed, source, ports, proto, comment)


def sources_for(rules: list[str], port: int, proto: str = "tcp") -> set[str]:
    """The sources the rules let in on ``port`` (``"any"`` for everyone)."""
    parsed = [parse_rule(rule) for rule in rules]
    return {
        rule.source
        for rule in parsed
        if rule.admits and not rule.routed and rule.covers(port, proto)
    }


def trusted_sources_as_rules(settings: Settings) -> dict[str, str]:
    """Trusted networks as ufw writes them (a single address without its /32) -> source name."""
    return {
        str(network.network_address if network.num_addresses == 1 else network): name
        for name, network in settings.networks()
    }


@dataclass(frozen=True)
class RuleSetDrift:
    unexpected: list[str]
    missing: list[str]

    @property
    def exact(self) -> bool:
        return not self.unexpected and not self.missing


def drift(settings: Settings, rules: list[str]) -> RuleSetDrift:
    """The host's rules against the settings' rule set (the deploy keeps it exclusive)."""
    wanted = desired_rules(settings)
    return RuleSetDrift(
        unexpected=[rule for rule in rules if rule not in wanted],
        missing=[rule for rule in wanted if rule not in rules],
    )
