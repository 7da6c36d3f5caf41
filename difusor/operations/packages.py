"""
Debian packages, all of them in one apt run judged by one fact.

``installed``: where pyinfra's ``apt.packages`` lists every package of the host for each call
(and ``apt.update`` with ``cache_time`` refreshes the lists once they are an hour old, a
change on a host that needs none), this asks dpkg about the named packages only, and runs
``apt-get update`` and one ``apt-get install`` only when something is missing or unwanted.
apt's own configuration (a proxy in ``apt.conf.d``) applies as to any apt run.

Example::

    from difusor.operations import packages

    packages.installed(packages=["nginx", "chrony"], absent=["systemd-timesyncd"])
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from difusor.facts import InstalledPackages

# As pyinfra's apt operations run apt: no question asked, configuration files an
# administrator changed kept (the kit writes its own after the install).
APT_GET = (
    "DEBIAN_FRONTEND=noninteractive",
    "apt-get",
    "-y",
    '-o Dpkg::Options::="--force-confdef"',
    '-o Dpkg::Options::="--force-confold"',
)


@operation()
def installed(packages: list[str], absent: list[str] | tuple[str, ...] = ()):
    """
    + packages: installed when missing (the package lists refreshed first)
    + absent: removed when installed, in the same apt run (``apt-get install`` takes a
      package name ending in ``-`` as one to remove)
    """
    present = set(host.get_fact(InstalledPackages, packages=(*packages, *absent)))
    missing = [package for package in packages if package not in present]
    unwanted = [package for package in absent if package in present]
    if not missing and not unwanted:
        host.noop(f"{len(packages)} packages installed, {len(absent)} absent")
        return
    if missing:
        yield "apt-get update"
    names = [QuoteString(package) for package in missing]
    names += [QuoteString(f"{package}-") for package in unwanted]
    yield StringCommand(*APT_GET, "install", *names)
