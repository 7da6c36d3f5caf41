"""Local rehearsal lab: a systemd-nspawn machine plus three network namespaces on a
host bridge, an apt proxy and an NTP server, all on the host (needs root).

    from difusor.rehearsal.lab import Lab
    with Lab() as lab:
        lab.ssh(["uname", "-a"])

Importing is harmless as any user; using the lab needs root.
"""

from ..system import LabError
from .core import Lab, default_workdir
from .network import (
    BRIDGE,
    BRIDGE_IPV4,
    BRIDGE_IPV6,
    CONTROLLER_IPV4,
    CONTROLLER_IPV6,
    LAB_IPV4,
    LAB_IPV6,
    MACHINE,
    NTP_SERVER_IPV4,
    NTP_SERVER_IPV6,
    OPLE_IPV4,
    OPLE_IPV6,
    OPLE_NETNS,
    PROXY_URL,
    PUBLIC_IPV4,
    PUBLIC_IPV6,
    PUBLIC_NETNS,
    READER_IPV4,
    READER_IPV6,
    READER_NETNS,
)
from .rootfs import PACKAGES, RootfsSpec

__all__ = [
    "BRIDGE",
    "BRIDGE_IPV4",
    "BRIDGE_IPV6",
    "CONTROLLER_IPV4",
    "CONTROLLER_IPV6",
    "LAB_IPV4",
    "LAB_IPV6",
    "MACHINE",
    "NTP_SERVER_IPV4",
    "NTP_SERVER_IPV6",
    "OPLE_IPV4",
    "OPLE_IPV6",
    "OPLE_NETNS",
    "PACKAGES",
    "PROXY_URL",
    "PUBLIC_IPV4",
    "PUBLIC_IPV6",
    "PUBLIC_NETNS",
    "READER_IPV4",
    "READER_IPV6",
    "READER_NETNS",
    "Lab",
    "LabError",
    "RootfsSpec",
    "default_workdir",
]
