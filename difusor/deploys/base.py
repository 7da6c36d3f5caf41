"""
Base system: supported OS, resource preflight, apt (proxy, unattended security upgrades),
time zone, network sysctl hardening and a persistent, size-capped journal.

Example::

    from difusor.deploys.base import base_system
    base_system()
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, server, systemd

from difusor.context import host_settings
from difusor.facts import ContainerType, HostResources
from difusor.hardening import SYSCTL_FILE, SYSCTL_KERNEL, SYSCTL_NETWORK
from difusor.preflight import resource_warnings, unsupported_system
from difusor.render import put_template

APT_PROXY_FILE = "/etc/apt/apt.conf.d/80difusor-proxy"
JOURNALD_FILE = "/etc/systemd/journald.conf.d/60-difusor.conf"
BASE_PACKAGES = ["unattended-upgrades", "apt-listchanges", "ca-certificates", "curl"]


@deploy("Base system")
def base_system():
    settings = host_settings()

    distro = host.get_fact(LinuxDistribution)
    problem = unsupported_system(distro["name"], distro["major"], distro["minor"])
    if problem:
        raise DeployError(f"{host.name}: {problem}")
    for warning in resource_warnings(host.get_fact(HostResources)):
        logger.warning(f"{host.name}: preflight: {warning}")

    if settings.apt_proxy:
        put_template(
            name="Route apt through the configured proxy",
            template="base/apt-proxy.conf.j2",
            context={"proxy": settings.apt_proxy},
            dest=APT_PROXY_FILE,
        )
    else:
        files.file(name="No apt proxy", path=APT_PROXY_FILE, present=False)

    apt.packages(name="Base packages", packages=BASE_PACKAGES, update=True, cache_time=3600)
    put_template(
        name="Unattended security upgrades, never an automatic reboot",
        template="base/20auto-upgrades.j2",
        dest="/etc/apt/apt.conf.d/20auto-upgrades",
    )
    put_template(
        name="Unattended upgrades policy",
        template="base/52difusor-unattended-upgrades.j2",
        dest="/etc/apt/apt.conf.d/52difusor-unattended-upgrades",
    )

    server.timezone(name=f"Time zone {settings.timezone}", timezone=settings.timezone)

    container = host.get_fact(ContainerType)
    sysctls = dict(SYSCTL_NETWORK)
    if container == "none":
        sysctls.update(SYSCTL_KERNEL)
    else:
        logger.info(
            f"{host.name}: kernel-wide sysctls not applicable in a {container} container "
            f"(they belong to its host): {', '.join(SYSCTL_KERNEL)}"
        )
    for key, value in sysctls.items():
        server.sysctl(
            name=f"sysctl {key}", key=key, value=value, persist=True, persist_file=SYSCTL_FILE
        )

    files.directory(
        name="Persistent journal",
        path="/var/log/journal",
        user="root",
        group="systemd-journal",
        mode="2755",
    )
    journald = put_template(
        name="journald: persistent, compressed, capped",
        template="base/journald.conf.j2",
        context={
            "max_use_mb": settings.journal_max_use_mb,
            "retention_days": settings.log_retention_days,
        },
        dest=JOURNALD_FILE,
    )
    systemd.service(
        name="Restart journald on a new configuration",
        service="systemd-journald",
        restarted=True,
        _if=journald.did_change,
    )
