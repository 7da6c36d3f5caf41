"""
Docker for the institute's applications: the engine from the distribution or from Docker's
apt repository, a hardened daemon.json (bounded logs, live-restore, no-new-privileges, no
userland proxy, address pools clear of common networks, no TCP socket), and published
container ports kept inside the firewall (DOCKER-USER rules in ufw's after.rules).

Example::

    from difusor.deploys.docker import docker
    docker()
"""

from __future__ import annotations

import ipaddress
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Arch, LinuxDistribution
from pyinfra.operations import apt, files, server, systemd

from difusor.context import host_settings
from difusor.render import render
from difusor.settings import Settings

DOCKER_KEYRING = "/etc/apt/keyrings/docker.asc"
DOCKER_KEY_URL = "https://download.docker.com/linux/{distro}/gpg"
UFW_AFTER_RULES = "/etc/ufw/after.rules"
PACKAGES = {
    "distro": ["docker.io"],
    "docker-ce": ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"],
}
# Compose v2 as a plugin, where the distribution packages it (Ubuntu 24.04, Debian 13).
DISTRO_COMPOSE = {("Ubuntu", 24): "docker-compose-v2"}


def docker_networks(settings: Settings) -> list[str]:
    return [
        str(ipaddress.ip_interface(settings.docker_bridge_ip).network),
        str(settings.docker_address_pool),
    ]


@deploy("Docker")
def docker():
    settings = host_settings()
    distro = host.get_fact(LinuxDistribution)

    if settings.docker_source == "docker-ce":
        name = distro["name"].lower()
        files.download(
            name="Docker's apt key",
            src=DOCKER_KEY_URL.format(distro=name),
            dest=DOCKER_KEYRING,
            mode="644",
        )
        files.put(
            name="Docker's apt repository",
            src=StringIO(
                render(
                    "docker/docker-ce.sources.j2",
                    distro=name,
                    codename=distro["release_meta"].get("VERSION_CODENAME", ""),
                    channel=settings.docker_ce_channel,
                    architecture={"x86_64": "amd64", "aarch64": "arm64"}.get(
                        host.get_fact(Arch), host.get_fact(Arch)
                    ),
                    keyring=DOCKER_KEYRING,
                )
            ),
            dest="/etc/apt/sources.list.d/docker.sources",
        )
    packages = PACKAGES[settings.docker_source] + (
        [DISTRO_COMPOSE[(distro["name"], distro["major"])]]
        if settings.docker_source == "distro"
        and (distro["name"], distro["major"]) in DISTRO_COMPOSE
        else []
    )
    apt.packages(
        name="Docker engine", packages=packages, update=settings.docker_source == "docker-ce"
    )

    after_rules = files.block(
        name="Docker traffic through ufw (DOCKER-USER)",
        path=UFW_AFTER_RULES,
        content=render("docker/after.rules.j2", docker_networks=docker_networks(settings)),
        marker="# {mark} DIFUSOR DOCKER-USER",
    )
    server.shell(
        name="Reload ufw with the Docker rules", commands=["ufw reload"], _if=after_rules.did_change
    )

    daemon = files.put(
        name="Docker daemon configuration",
        src=StringIO(render("docker/daemon.json.j2", settings=settings)),
        dest="/etc/docker/daemon.json",
    )
    for service in ("containerd", "docker"):
        systemd.service(name=f"{service} running", service=service, running=True, enabled=True)
    # live-restore keeps the containers running across this restart.
    systemd.service(
        name="Restart Docker on a new configuration",
        service="docker",
        restarted=True,
        _if=daemon.did_change,
    )
