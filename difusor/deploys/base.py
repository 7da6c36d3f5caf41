"""
Base system: supported OS, resource preflight, apt (proxy, every package of the kit in one
apt run, unattended security upgrades), time zone, network sysctl hardening and a persistent,
size-capped journal.

Example::

    from difusor.deploys.base import base_system
    base_system()
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import files, server, systemd

from difusor.context import host_settings
from difusor.deploys import (
    docker,
    firewall,
    intrusion,
    portal,
    publisher,
    receiver,
    ssh,
    timesync,
)
from difusor.deploys.restart import restart_policies
from difusor.facts import ContainerType, HostResources
from difusor.hardening import SYSCTL_FILE, SYSCTL_KERNEL, SYSCTL_NETWORK
from difusor.operations import packages
from difusor.platform import Platform, host_platform
from difusor.preflight import resource_warnings, unsupported_system
from difusor.render import put_template, put_texts, render
from difusor.settings import Settings

APT_PROXY_FILE = "/etc/apt/apt.conf.d/80difusor-proxy"
JOURNALD_FILE = "/etc/systemd/journald.conf.d/60-difusor.conf"
NEEDRESTART_FILE = "/etc/needrestart/conf.d/60-difusor.conf"
BASE_PACKAGES = ["unattended-upgrades", "apt-listchanges", "ca-certificates", "curl"]


def kit_packages(settings: Settings, platform: Platform) -> list[str]:
    """Every package the roles need, installed in one apt run before any role configures
    one: one ``dpkg-query`` on a re-run, one apt transaction (one round of dpkg triggers) on
    a first run. Docker's own repository is the exception: its packages wait for its key."""
    return [
        *BASE_PACKAGES,
        *timesync.TIME_PACKAGES,
        *ssh.SSH_PACKAGES,
        *firewall.FIREWALL_PACKAGES,
        *portal.portal_packages(settings),
        *publisher.PUBLISHER_PACKAGES,
        *receiver.RECEIVER_PACKAGES,
        *intrusion.INTRUSION_PACKAGES,
        *(docker.engine_packages(settings, platform) if settings.docker_source == "distro" else []),
    ]


@deploy("Base system")
def base_system():
    settings = host_settings()

    platform = host_platform()
    problem = unsupported_system(platform.name, platform.major, platform.minor)
    if problem:
        raise DeployError(f"{host.name}: {problem}")
    for problem in platform.problems():
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

    # needrestart asks which services to restart in the middle of an apt run, or restarts
    # them by itself. Ubuntu server images have it, and Debian's docker.io recommends it, so
    # the deploy's own installs bring it: its setting is in place before any apt run, on
    # every host.
    put_template(
        name="needrestart lists, never asks nor restarts during apt runs",
        template="base/needrestart.conf.j2",
        dest=NEEDRESTART_FILE,
    )
    packages.installed(
        name="Packages of the kit",
        packages=kit_packages(settings, platform),
        absent=timesync.UNWANTED_PACKAGES,
    )
    restart_policies()
    put_texts(
        name="Unattended security upgrades from the distribution's origins, never a reboot",
        files={
            "/etc/apt/apt.conf.d/20auto-upgrades": render("base/20auto-upgrades.j2"),
            "/etc/apt/apt.conf.d/52difusor-unattended-upgrades": render(
                "base/52difusor-unattended-upgrades.j2",
                origins_key=platform.origins_key,
                origins=platform.security_origins,
            ),
        },
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
