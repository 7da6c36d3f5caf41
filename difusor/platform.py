"""
Where difusor decides per distribution and release, from what the host reports.

Every role asks :func:`host_platform` instead of testing names and versions itself, so each
difference between Debian 12, Ubuntu 22.04 and Ubuntu 24.04 is handled in one place, with the
reason next to it. The decisions come from facts (``/etc/os-release`` through pyinfra's
``LinuxDistribution``, and :class:`difusor.facts.PlatformTraits`): a cloud image and a server
install of the same release differ (cloud-init), and so does a host an administrator already
changed (ssh.socket disabled, cloud-init removed).

Left alone on purpose: snapd (Ubuntu server and cloud images) listens on no network port,
and a provider's agents (e.g. the SSM agent) are snaps that its refreshes keep patched.

Where each fact about the stock releases comes from is recorded with the test data,
``tests/unit/platforms/*.json``.

Example::

    from difusor.platform import host_platform
    platform = host_platform()
    platform.compose_package   # "docker-compose-v2" on Ubuntu, None on Debian 12
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.facts.server import LinuxDistribution, LinuxDistributionDict

from difusor.facts import ContainerType, PlatformTraits

# The publisher runs on the server's own python3 with the standard library only
# (server/difusor_server); Ubuntu 22.04 ships 3.10, the oldest the kit supports.
MINIMUM_PYTHON = (3, 10)

# unattended-upgrades: exactly the origins each distribution's own 50unattended-upgrades
# enables, whatever an image or an administrator changed in that file (the kit's file clears
# the lists first), so every host of a release takes the same updates.
# Ubuntu names archives by pocket and keeps ESM (Ubuntu Pro) in origins of its own: without
# them a host attached to Pro would miss the security updates of universe packages
# (docker.io, fail2ban); on a host without Pro they match nothing. The release pocket is in
# Ubuntu's list because a security update may depend on a package from it; -updates is not.
UBUNTU_SECURITY_ORIGINS = (
    "${distro_id}:${distro_codename}",
    "${distro_id}:${distro_codename}-security",
    "${distro_id}ESMApps:${distro_codename}-apps-security",
    "${distro_id}ESM:${distro_codename}-infra-security",
)
# Debian labels its security archive; its list also takes the stable point releases
# (label=Debian), which carry the fixes that come without an advisory.
DEBIAN_SECURITY_ORIGINS = (
    "origin=Debian,codename=${distro_codename},label=Debian",
    "origin=Debian,codename=${distro_codename},label=Debian-Security",
    "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
)

# Compose v2 as a Docker CLI plugin from the distribution: Ubuntu packages it as
# docker-compose-v2 (universe, in the updates pocket of 22.04 and in 24.04); Debian 12 has
# only the Python Compose v1, which the kit does not install.
DISTRO_COMPOSE = {"Ubuntu": "docker-compose-v2"}

# Releases whose nginx predates 1.19.3 (Ubuntu 22.04: nginx 1.18.0).
NGINX_BEFORE_1_19_3 = {("Ubuntu", 22)}

# The current host, typed loosely: the decisions are kept on it, as the settings are.
_current_host: Any = host


@dataclass(frozen=True)
class Platform:
    name: str
    major: int
    minor: int
    # The unattended-upgrades list the distribution matches its origins with, and the values.
    origins_key: str
    security_origins: tuple[str, ...]
    compose_package: str | None
    # cloud-init runs set_passwords again on a new instance and would write its own
    # PasswordAuthentication; told the kit's value, it leaves sshd_config as the kit wrote it.
    cloud_init: bool
    # The kernel enforces AppArmor (Ubuntu, Debian 12 on a VM): Docker confines containers with
    # its docker-default profile only when apparmor_parser is installed. Never in a container:
    # the profiles belong to its host.
    apparmor: bool
    python: tuple[int, int] | None
    # nginx sets the visitor cookie's Secure, HttpOnly and SameSite with userid_flags since
    # 1.19.3; Ubuntu 22.04 ships 1.18, where the portal puts them after the cookie's path.
    nginx_userid_flags: bool

    def problems(self) -> list[str]:
        """Why the kit cannot deploy this host (before anything changes)."""
        if self.python is not None and self.python < MINIMUM_PYTHON:
            found = ".".join(map(str, self.python))
            wanted = ".".join(map(str, MINIMUM_PYTHON))
            return [f"python3 {found} on the server, the publisher needs {wanted} or later"]
        return []


def decide(distro: Mapping[str, Any], traits: Mapping[str, Any], container: str) -> Platform:
    """The decisions for a host, from pyinfra's LinuxDistribution, :class:`PlatformTraits`
    and :class:`difusor.facts.ContainerType`."""
    name = str(distro.get("name") or "")
    ubuntu = name == "Ubuntu"
    return Platform(
        name=name,
        major=distro.get("major") or 0,
        minor=distro.get("minor") or 0,
        origins_key="Allowed-Origins" if ubuntu else "Origins-Pattern",
        security_origins=UBUNTU_SECURITY_ORIGINS if ubuntu else DEBIAN_SECURITY_ORIGINS,
        compose_package=DISTRO_COMPOSE.get(name),
        cloud_init=traits["cloud_init"],
        apparmor=traits["apparmor"] and container == "none",
        python=tuple(traits["python"]) if traits["python"] else None,
        nginx_userid_flags=(name, distro.get("major")) not in NGINX_BEFORE_1_19_3,
    )


def host_platform() -> Platform:
    """The current host's decisions, read once per host."""
    cached = getattr(_current_host, "_difusor_platform", None)
    if cached is None:
        distro: LinuxDistributionDict = host.get_fact(LinuxDistribution)
        cached = decide(
            distro,
            host.get_fact(PlatformTraits),
            host.get_fact(ContainerType),
        )
        _current_host._difusor_platform = cached
    return cached
