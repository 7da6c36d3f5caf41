"""
Firewall: ufw with default deny incoming / allow outgoing / deny routed, IPv6 on;
TCP 80 and 443 from anywhere; TCP 22 and 873 only from the trusted sources.

Example::

    from difusor.deploys.firewall import firewall
    firewall()
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from difusor.context import ensure_no_lockout, host_settings
from difusor.hardening import SYSCTL_NETWORK
from difusor.operations import ufw
from difusor.settings import Settings

PUBLIC_TCP_PORTS = (80, 443)
TRUSTED_TCP_PORTS = (22, 873)
# ufw re-applies its own sysctl file on every start and reload, and that file turns martian
# logging off: keep it in line with the baseline.
UFW_SYSCTL_FILE = "/etc/ufw/sysctl.conf"
UFW_SYSCTL_KEYS = ("net.ipv4.conf.all.log_martians", "net.ipv4.conf.default.log_martians")


def desired_rules(settings: Settings) -> list[str]:
    """ufw rules in the exact syntax ``ufw show added`` prints them back."""
    rules = [f"allow {port}/tcp" for port in PUBLIC_TCP_PORTS]
    for name, network in settings.networks():
        source = network.network_address if network.num_addresses == 1 else network
        for port in TRUSTED_TCP_PORTS:
            rules.append(
                f"allow from {source} to any port {port} proto tcp comment 'difusor:{name}'"
            )
    return rules + docker_rules(settings)


def docker_rules(settings: Settings) -> list[str]:
    """`ufw route` rules for container ports (the port inside the container: Docker's DNAT
    comes first), reached through the DOCKER-USER chain (difusor/deploys/docker.py)."""
    rules = [
        f"route allow {port}/tcp comment 'difusor-docker:public'"
        for port in settings.docker_public_ports
    ]
    for name, network in settings.networks(4):
        source = network.network_address if network.num_addresses == 1 else network
        for port in settings.docker_trusted_ports:
            rules.append(
                f"route allow from {source} to any port {port} proto tcp comment 'difusor-docker:{name}'"
            )
    return rules


@deploy("Firewall")
def firewall():
    settings = host_settings()
    ensure_no_lockout()

    apt.packages(name="ufw", packages=["ufw"])
    for key in UFW_SYSCTL_KEYS:
        ufw_key = key.replace(".", "/")
        files.line(
            name=f"ufw keeps {key}",
            path=UFW_SYSCTL_FILE,
            line=f"^{ufw_key}=.*$",
            replace=f"{ufw_key}={SYSCTL_NETWORK[key]}",
        )
    ufw.rules(name="Firewall rules", rules=desired_rules(settings))
    ufw.policy(name="Firewall policies", incoming="deny", outgoing="allow", routed="deny")
    ufw.enabled(name="Firewall enabled")
