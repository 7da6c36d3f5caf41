"""
Per-host access to the validated settings from inside deploys.

``host_settings()`` validates the host's data once (group_data + inventory + .env) and
raises :class:`difusor.settings.SettingsError` before any operation has run. From the command
line the same check already ran before pyinfra connected (``config.py``); this one holds for
deploys run through pyinfra's API.
``ensure_no_lockout()`` is called by every deploy that touches the firewall or sshd.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host, logger

from difusor.facts import SshClientAddress
from difusor.guard import LockoutError, lockout_problems
from difusor.settings import Settings, parse_settings, read_secrets

# The current host, typed loosely: difusor keeps its per-host values as attributes on it.
_current_host: Any = host


def host_settings() -> Settings:
    cached = getattr(_current_host, "_difusor_settings", None)
    if cached is None:
        cached = parse_settings(host.data.dict(), read_secrets())
        _current_host._difusor_settings = cached
    return cached


def ensure_no_lockout() -> None:
    if getattr(_current_host, "_difusor_guarded", False):
        return
    settings = host_settings()
    client = host.get_fact(SshClientAddress, _sudo=False, _su_user=None)
    problems = lockout_problems(settings, client, uses_password=bool(host.data.get("ssh_password")))
    if problems and not settings.allow_lockout:
        raise LockoutError(
            "refusing to change the firewall or sshd (set allow_lockout=True to override):\n  "
            + "\n  ".join(problems)
        )
    for problem in problems:
        logger.warning(f"{host.name}: allow_lockout is set, going on although {problem}")
    _current_host._difusor_guarded = True
