"""
The lockout guard: refuse firewall or SSH changes that would cut off the SSH session the
deploy itself runs through, unless ``allow_lockout`` is set.
"""

from __future__ import annotations

from pyinfra.api.exceptions import DeployError

from difusor.settings import Settings


class LockoutError(DeployError):
    """The deploy would lock out its own SSH client."""


def lockout_problems(
    settings: Settings, client_address: str | None, uses_password: bool
) -> list[str]:
    """What would cut this deploy's SSH client off. Pure: unit-tested."""
    problems = []
    if client_address and not settings.is_trusted(client_address):
        problems.append(
            f"this deploy's SSH client {client_address} is in none of trusted_sources "
            f"({', '.join(settings.trusted_sources)}): the firewall would cut it off. "
            "Add its network to trusted_sources."
        )
    if uses_password and not settings.ssh_password_authentication:
        problems.append(
            "this deploy logs in with a password (ssh_password) but "
            "ssh_password_authentication is False: the next login would be refused. "
            "Log in with a key from operators or root_ssh_keys."
        )
    return problems
