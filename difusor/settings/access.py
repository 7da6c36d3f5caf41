"""
Access: who may reach SSH (22) and rsync (873), and who administers the server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .base import Broken, SettingsModel, rule
from .types import UNIX_NAME, IPNetwork, Network, PublicKey, SourceName, address_count

RESERVED_ACCOUNTS = {
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "nobody",
    "sshd",
    "www-data",
    "_chrony",
}


# The widest trusted network by IP version: a /8 is a whole provider's allocation; past it a
# trusted source stops naming anyone in particular.
WIDEST_TRUSTED_PREFIX = {4: 8, 6: 32}


class Operator(BaseModel):
    """A person who administers the server: a Unix account with SSH keys and sudo."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unix account name.")
    ssh_keys: list[PublicKey] = Field(
        min_length=1, description="OpenSSH public keys; at least one."
    )
    sudo: bool = Field(default=True, description="Member of the passwordless sudo group.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not UNIX_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid account name (lower case, up to 32 chars)")
        if value in RESERVED_ACCOUNTS:
            raise ValueError(f"{value!r} is a system account; root keys go in root_ssh_keys")
        return value


class AccessSettings(SettingsModel):
    """Who reaches SSH (22) and rsync (873): the institute's technicians and pushers and the
    sysadmins' own networks; everyone else only sees 80 and 443. Who logs in, and how."""

    trusted_sources: dict[SourceName, Annotated[list[Network], Field(min_length=1)]] = Field(
        min_length=1,
        description="Named lists of IPv4/IPv6 networks (CIDR) allowed to reach TCP 22 and 873.",
    )
    operators: list[Operator] = Field(
        min_length=1,
        description="Administrator accounts. One taken off this list keeps its account and files "
        "but loses its keys, its shell, sudo and docker.",
    )
    root_ssh_keys: list[PublicKey] = Field(
        default=[],
        description="Keys allowed to log in as root (the institute asks for root access). "
        "Written to /etc/ssh/authorized_keys.d/root, which holds exactly these keys: one taken off "
        "this list stops working. root's own ~/.ssh/authorized_keys is left as it is.",
    )
    ssh_password_authentication: bool = Field(
        default=False, description="Allow password logins over SSH (off: keys only)."
    )
    allow_wide_trusted_sources: bool = Field(
        default=False,
        description="Accept trusted sources wider than /8 (IPv4) or /32 (IPv6), up to the whole "
        "internet: SSH and rsync then answer far more of it than your institute and admins.",
    )
    allow_lockout: bool = Field(
        default=False,
        description="Apply firewall/SSH changes even when they would cut off the SSH client "
        "running the deploy. Only for consoles with out-of-band access.",
    )

    @field_validator("operators")
    @classmethod
    def _unique_operators(cls, value: list[Operator]) -> list[Operator]:
        names = [operator.name for operator in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"operator names must be unique, repeated: {duplicates}")
        return value

    @rule("trusted_sources", "allow_wide_trusted_sources")
    def _trusted_sources_name_someone(self) -> Iterator[Broken]:
        """No trusted network wider than /8 (IPv4) or /32 (IPv6), unless
        `allow_wide_trusted_sources = True`: SSH and rsync are for the institute and the admins."""
        if self.allow_wide_trusted_sources:
            return
        for name, networks in self.trusted_sources.items():
            for index, network in enumerate(networks):
                widest = WIDEST_TRUSTED_PREFIX[network.version]
                if network.prefixlen < widest:
                    reach = address_count(network)
                    yield Broken(
                        f"'{network}' opens SSH and rsync to {reach}: trusted sources are at "
                        f"most /{widest} (set allow_wide_trusted_sources = True to take the risk)",
                        at=(name, index),
                    )

    def networks(self, family: int | None = None) -> list[tuple[str, IPNetwork]]:
        """All trusted networks as (source name, network), optionally of one IP version."""
        return [
            (name, network)
            for name, networks in self.trusted_sources.items()
            for network in networks
            if family is None or network.version == family
        ]

    def is_trusted(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in network for _, network in self.networks(ip.version))
