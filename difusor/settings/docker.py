"""Docker, for the institute's applications: its packages, logs, networks and exposed ports."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, field_validator

from .base import Broken, SettingsModel, rule
from .types import Network

Port = Annotated[int, Field(ge=1, le=65535)]


class DockerSettings(SettingsModel):
    """Docker for the institute's applications: its packages, logs and networks, and which
    container ports readers or trusted sources reach."""

    docker_source: Literal["distro", "docker-ce"] = Field(
        default="distro",
        description="distro: the distribution's docker.io (and compose where packaged); docker-ce: "
        "Docker's own apt repository (signed-by keyring), the usual choice on Ubuntu.",
    )
    docker_ce_channel: Literal["stable", "test"] = Field(
        default="stable", description="docker-ce channel."
    )
    docker_operators: bool = Field(
        default=False, description="Put the operators in the docker group (root-equivalent)."
    )
    docker_log_max_size: str = Field(
        default="10m", description="Container log file size before rotation."
    )
    docker_log_max_files: int = Field(
        default=5, ge=1, le=100, description="Rotated container log files kept."
    )
    docker_address_pool: Network = Field(
        default=ipaddress.IPv4Network("172.30.0.0/16"),
        description="Where Docker takes its networks (split into /24s): clear of the lab, of "
        "Docker's 172.17-31 defaults and of common 192.168 LANs.",
    )
    docker_bridge_ip: str = Field(
        default="172.29.0.1/24",
        description="Address and prefix of Docker's default bridge (docker0).",
    )
    docker_public_ports: list[Port] = Field(
        default=[],
        description="Container TCP ports reachable from anywhere when published on all interfaces "
        "(the port inside the container). Prefer publishing on 127.0.0.1 behind the portal's "
        "proxy mode.",
    )
    docker_trusted_ports: list[Port] = Field(
        default=[], description="Container TCP ports reachable only from trusted_sources."
    )

    @field_validator("docker_bridge_ip")
    @classmethod
    def _valid_bridge_ip(cls, value: str) -> str:
        try:
            interface = ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an address with prefix, e.g. 172.29.0.1/24"
            ) from None
        if interface.version != 4 or interface.ip == interface.network.network_address:
            raise ValueError(
                f"{value!r} must be an IPv4 host address with its prefix, e.g. 172.29.0.1/24"
            )
        return value

    @rule("docker_address_pool")
    def _address_pool_is_ipv4_with_room_for_a_24(self) -> Iterator[Broken]:
        """`docker_address_pool` is IPv4 and a /24 or larger (Docker splits it into /24s)."""
        if self.docker_address_pool.version != 4 or self.docker_address_pool.prefixlen > 24:
            yield Broken(f"'{self.docker_address_pool}' must be IPv4 and /24 or larger")

    @rule("docker_bridge_ip", "docker_address_pool")
    def _bridge_outside_address_pool(self) -> Iterator[Broken]:
        """`docker_bridge_ip`'s network lies outside `docker_address_pool`."""
        pool = self.docker_address_pool
        if ipaddress.ip_interface(self.docker_bridge_ip).network.overlaps(pool):
            yield Broken(f"'{self.docker_bridge_ip}' overlaps docker_address_pool {pool}")

    @rule("docker_public_ports", "docker_trusted_ports")
    def _port_is_public_or_trusted_not_both(self) -> Iterator[Broken]:
        """No port is in both `docker_public_ports` and `docker_trusted_ports`."""
        both = sorted(set(self.docker_public_ports) & set(self.docker_trusted_ports))
        if both:
            yield Broken(
                f"ports {both} are in docker_trusted_ports too: public or trusted, not both"
            )
