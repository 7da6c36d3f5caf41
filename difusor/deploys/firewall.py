"""
Firewall: ufw with default deny incoming / allow outgoing / deny routed, IPv6 on;
TCP 80 and 443 from anywhere; TCP 22 and 873 only from the trusted sources; the routes to
container ports that the Docker deploy asks for.

Example::

    from difusor.deploys.firewall import firewall
    firewall()
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from difusor.context import ensure_no_lockout, host_settings
from difusor.deploys.docker import route_rules
from difusor.hardening import SYSCTL_NETWORK
from difusor.operations import ufw
from difusor.settings import Settings

# Installed with the kit's other packages (base).
FIREWALL_PACKAGES = ["ufw"]
PUBLIC_TCP_PORTS = (80, 443)
SSH_PORT = 22
RSYNC_PORT = 873
TRUSTED_TCP_PORTS = (SSH_PORT, RSYNC_PORT)
# ufw re-applies its own sysctl file on every start and reload, and that file turns martian
# logging off: keep it in line with the baseline.
UFW_SYSCTL_FILE = "/etc/ufw/sysctl.conf"
UFW_SYSCTL_KEYS = ("net.ipv4.conf.all.log_martians", "net.ipv4.conf.default.log_martians")


def desired_rules(settings: Settings) -> list[str]:
    """The whole rule set, the host's and Docker's: ``ufw.configured`` deletes any rule it is not
    given. In the exact syntax ``ufw show added`` prints them back."""
    rules = [f"allow {port}/tcp" for port in PUBLIC_TCP_PORTS]
    for name, network in settings.networks():
        source = network.network_address if network.num_addresses == 1 else network
        rules.extend(
            f"allow from {source} to any port {port} proto tcp comment 'difusor:{name}'"
            for port in TRUSTED_TCP_PORTS
        )
    return rules + route_rules(settings)


@deploy("Firewall")
def firewall():
    settings = host_settings()
    ensure_no_lockout()

    for key in UFW_SYSCTL_KEYS:
        ufw_key = key.replace(".", "/")
        files.line(
            name=f"ufw keeps {key}",
            path=UFW_SYSCTL_FILE,
            line=f"^{ufw_key}=.*$",
            replace=f"{ufw_key}={SYSCTL_NETWORK[key]}",
        )
    ufw.configured(
        name="Firewall: IPv6, rules, policies, enabled",
        rules=desired_rules(settings),
        incoming="deny",
        outgoing="allow",
        routed="deny",
    )
