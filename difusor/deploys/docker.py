"""
Docker for the institute's applications: the engine from the distribution or from Docker's
apt repository, a hardened daemon.json (bounded logs, live-restore, no-new-privileges, no
userland proxy, address pools clear of common networks, no TCP socket), and published
container ports kept inside the firewall (DOCKER-USER rules in ufw's after.rules).

All that is Docker's lives here; the other deploys call into it: the firewall adds
:func:`route_rules` to its rule set (ufw's rules are applied as one exclusive set), and SSH
access creates the :func:`docker_group` and puts operators in :func:`operator_groups`.

Example::

    from difusor.deploys.docker import docker
    docker()
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Arch, LinuxDistribution, LinuxDistributionDict
from pyinfra.operations import files, server, systemd

from difusor.context import host_settings
from difusor.operations import accounts, packages
from difusor.platform import Platform, host_platform
from difusor.render import put_json, put_template, render
from difusor.settings import Settings

DOCKER_GROUP = "docker"
DOCKER_KEYRING = "/etc/apt/keyrings/docker.asc"
DOCKER_KEY_URL = "https://download.docker.com/linux/{distro}/gpg"
DOCKER_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}
UFW_AFTER_RULES = "/etc/ufw/after.rules"
PACKAGES = {
    "distro": ["docker.io"],
    "docker-ce": ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"],
}


def docker_networks(settings: Settings) -> list[str]:
    """The default bridge's network and the pool Docker takes user networks from."""
    return [
        str(ipaddress.ip_interface(settings.docker_bridge_ip).network),
        str(settings.docker_address_pool),
    ]


def route_rules(settings: Settings) -> list[str]:
    """`ufw route` rules for container ports (the port inside the container: Docker's DNAT
    comes first), reached through the DOCKER-USER chain of :func:`after_rules`."""
    rules = [
        f"route allow {port}/tcp comment 'difusor-docker:public'"
        for port in settings.docker_public_ports
    ]
    for name, network in settings.networks(4):
        source = network.network_address if network.num_addresses == 1 else network
        rules.extend(
            f"route allow from {source} to any port {port} proto tcp "
            f"comment 'difusor-docker:{name}'"
            for port in settings.docker_trusted_ports
        )
    return rules


def after_rules(settings: Settings) -> str:
    """The DOCKER-USER chain for ufw's after.rules: Docker's forwarded traffic meets ufw."""
    return render("docker/after.rules.j2", docker_networks=docker_networks(settings))


def daemon_config(settings: Settings) -> dict[str, Any]:
    """/etc/docker/daemon.json. Log options are strings, as Docker requires."""
    return {
        "bip": settings.docker_bridge_ip,
        "default-address-pools": [{"base": str(settings.docker_address_pool), "size": 24}],
        "live-restore": True,
        "log-driver": "json-file",
        "log-opts": {
            "max-file": str(settings.docker_log_max_files),
            "max-size": settings.docker_log_max_size,
        },
        "no-new-privileges": True,
        "userland-proxy": False,
    }


def docker_ce_source(settings: Settings, distro: LinuxDistributionDict, arch: str) -> dict:
    """Context of Docker's apt repository (deb822 sources file)."""
    return {
        "distro": str(distro["name"]).lower(),
        "codename": distro["release_meta"].get("VERSION_CODENAME", ""),
        "channel": settings.docker_ce_channel,
        "architecture": DOCKER_ARCHITECTURES.get(arch, arch),
        "keyring": DOCKER_KEYRING,
    }


def operator_groups(settings: Settings) -> list[str]:
    """The Docker groups operators belong to (root-equivalent: only when asked)."""
    return [DOCKER_GROUP] if settings.docker_operators else []


def docker_group(settings: Settings) -> None:
    """The docker group, when operators go in it. Created by SSH access, before operators
    join it: the distribution's engine (installed with the kit's packages) has made it
    already, Docker's own is installed later and reuses it."""
    if settings.docker_operators:
        accounts.group(name="docker group", group=DOCKER_GROUP, system=True)


def engine_packages(settings: Settings, platform: Platform) -> list[str]:
    packages = list(PACKAGES[settings.docker_source])
    if settings.docker_source == "distro" and platform.compose_package:
        packages.append(platform.compose_package)
    if platform.apparmor:
        packages.append("apparmor")
    return packages


@deploy("Docker")
def docker():
    settings = host_settings()

    if settings.docker_source == "docker-ce":
        distro = host.get_fact(LinuxDistribution)
        source = docker_ce_source(settings, distro, host.get_fact(Arch))
        files.download(
            name="Docker's apt key",
            src=DOCKER_KEY_URL.format(distro=source["distro"]),
            dest=DOCKER_KEYRING,
            mode="644",
        )
        put_template(
            name="Docker's apt repository",
            template="docker/docker-ce.sources.j2",
            context=source,
            dest="/etc/apt/sources.list.d/docker.sources",
        )
        # From the distribution, the engine comes with the kit's other packages (base); from
        # Docker's repository, once its key and source are in place.
        packages.installed(
            name="Docker engine from Docker's repository",
            packages=engine_packages(settings, host_platform()),
        )

    ufw_rules = files.block(
        name="Docker traffic through ufw (DOCKER-USER)",
        path=UFW_AFTER_RULES,
        content=after_rules(settings),
        marker="# {mark} DIFUSOR DOCKER-USER",
    )
    server.shell(
        name="Reload ufw with the Docker rules", commands=["ufw reload"], _if=ufw_rules.did_change
    )

    daemon = put_json(
        name="Docker daemon configuration",
        data=daemon_config(settings),
        dest="/etc/docker/daemon.json",
    )
    # live-restore keeps the containers running across this restart.
    systemd.service(
        name="Restart Docker on a new configuration",
        service="docker",
        restarted=True,
        _if=daemon.did_change,
    )
