"""Firewall as ufw reports it: policies, IPv6 on, 80/443 open, 22/873 for trusted sources only."""

import re

import pytest

from difusor.deploys.firewall import PUBLIC_TCP_PORTS, TRUSTED_TCP_PORTS


@pytest.fixture(scope="module")
def status(host) -> str:
    return host.check_output("ufw status verbose")


@pytest.fixture(scope="module")
def rules(status) -> list[tuple[str, str, str]]:
    """(to, action, from) rows of `ufw status verbose`."""
    rows = []
    for line in status.split("-- \n", 1)[-1].splitlines():
        match = re.match(
            r"^(\S+(?: \(v6\))?)\s+(ALLOW IN|DENY IN|REJECT IN|LIMIT IN)\s+(.+?)\s*(#.*)?$", line
        )
        if match:
            rows.append((match.group(1), match.group(2), match.group(3)))
    return rows


def test_active_with_default_policies(host, status):
    assert "Status: active" in status
    # ufw shows the routed policy as "disabled" while the kernel does not forward at all.
    assert re.search(
        r"^Default: deny \(incoming\), allow \(outgoing\), (deny|disabled) \(routed\)$",
        status,
        re.M,
    )
    config = host.file("/etc/default/ufw")
    assert config.contains('^DEFAULT_FORWARD_POLICY="DROP"$')
    assert config.contains("^IPV6=yes$")


@pytest.mark.parametrize("port", PUBLIC_TCP_PORTS)
def test_public_ports_open_to_anyone(rules, port):
    assert (f"{port}/tcp", "ALLOW IN", "Anywhere") in rules
    assert (f"{port}/tcp (v6)", "ALLOW IN", "Anywhere (v6)") in rules


@pytest.mark.parametrize("port", TRUSTED_TCP_PORTS)
def test_trusted_ports_only_for_trusted_sources(rules, settings, port):
    sources = {source for to, action, source in rules if to.split()[0] == f"{port}/tcp"}
    expected = {
        str(network.network_address) if network.num_addresses == 1 else str(network)
        for _, network in settings.networks()
    }
    assert sources == expected


def test_nothing_else_allowed(rules):
    allowed = {to.split()[0] for to, _, _ in rules}
    assert allowed == {f"{port}/tcp" for port in PUBLIC_TCP_PORTS + TRUSTED_TCP_PORTS}


def test_firewall_enabled_at_boot(host):
    assert host.service("ufw").is_enabled
    assert host.file("/etc/ufw/ufw.conf").contains("^ENABLED=yes$")
