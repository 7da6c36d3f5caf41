"""fail2ban on the lab host, for the tests that ban, or must not get banned."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PORTAL_JAILS = ("portal-flood", "portal-scan")


def fail2ban(lab, *args: str) -> str:
    result = lab.ssh(["fail2ban-client", *args])
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def banned(lab, jail: str) -> set[str]:
    """The addresses the jail bans now."""
    found = re.search(r"Banned IP list:[ \t]*(.*)$", fail2ban(lab, "status", jail), re.M)
    assert found, jail
    return set(found[1].split())


def wait_for(check: Callable[[], bool], seconds: float, step: float = 0.5) -> float | None:
    """Seconds until ``check()`` held, or None if it did not within ``seconds``."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            return None
        time.sleep(step)


@contextmanager
def portal_jails_ignoring(lab, *addresses: str) -> Iterator[None]:
    """The portal's jails leave these addresses alone for a while: for tests of nginx's own
    limits, which flood on purpose. Nothing is written: a fail2ban restart forgets it."""
    for jail in PORTAL_JAILS:
        for address in addresses:
            fail2ban(lab, "set", jail, "addignoreip", address)
    try:
        yield
    finally:
        # fail2ban reads its logs once a second: let it count the last lines as ignored.
        time.sleep(2)
        for jail in PORTAL_JAILS:
            for address in addresses:
                fail2ban(lab, "set", jail, "delignoreip", address)
