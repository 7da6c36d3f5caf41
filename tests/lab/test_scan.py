"""
The outside scan: nmap from `public` (an internet client) and from `ople` (a trusted
source), every TCP port over IPv4 and IPv6 and the UDP ports a Linux host commonly opens.
Exactly the allowed ports answer, and nothing else does: every other port is dropped
(filtered), none refused (closed) and no UDP port open. A SYN scan completes no connection
and sends no request, so it trips no jail, and none is loosened for it.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass

import pytest

from difusor.rehearsal.lab import LAB_IPV4, LAB_IPV6, NTP_SERVER_IPV4, OPLE_IPV4, PUBLIC_IPV4

from .bans import banned

ALLOWED_TCP = {"public": {80, 443}, "ople": {22, 80, 443, 873}}
# DNS, DHCP, TFTP, rpcbind, NTP, NetBIOS, SNMP, chrony's command port, IKE, syslog, RIP,
# DHCPv6, SSDP, IPsec NAT-T, mDNS, LLMNR, memcached, WireGuard.
COMMON_UDP = [53, 67, 68, 69, 111, 123, 137, 138, 161, 162, 323, 500, 514, 520, 546, 547]
COMMON_UDP += [1900, 4500, 5353, 5355, 11211, 51820]
# A local bridge answers in well under a millisecond; a dropped probe is retried once.
TIMING = ["-T4", "--max-retries", "1", "--initial-rtt-timeout", "50ms", "--max-rtt-timeout"]
TIMING += ["200ms", "--host-timeout", "300s"]
TCP_ALL = ["-sS", "-p-", "--min-rate", "20000", *TIMING]
UDP_COMMON = ["-sU", "-p", ",".join(map(str, COMMON_UDP)), *TIMING]

ADDRESSES = pytest.mark.parametrize("address", [LAB_IPV4, LAB_IPV6], ids=["ipv4", "ipv6"])
SOURCES = pytest.mark.parametrize("ns", ["public", "ople"])


@dataclass
class Scan:
    open: set[int]  # the ports that answered
    states: Counter[str]  # ports per state, those nmap lists and those it lumps together
    seconds: float

    def __str__(self) -> str:
        states = ", ".join(f"{count} {state}" for state, count in sorted(self.states.items()))
        return f"{states} ({self.seconds:.0f} s)"


def scan(lab, ns: str, address: str, options: list[str]) -> Scan:
    family = ["-6"] if ":" in address else []
    started = time.monotonic()
    result = lab.run_in(ns, ["nmap", "-n", "-Pn", "-oX", "-", *family, *options, address], 400)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    [host] = ElementTree.fromstring(result.stdout).iter("host")
    assert host.get("timedout") != "true", "the scan did not finish within --host-timeout"
    found = Scan(set(), Counter(), seconds)
    for port in host.iter("port"):
        state = port.find("state")
        assert state is not None
        found.states[state.get("state", "")] += 1
        if state.get("state") == "open":
            found.open.add(int(port.get("portid", 0)))
    for extra in host.iter("extraports"):
        found.states[extra.get("state", "")] += int(extra.get("count", 0))
    return found


@SOURCES
@ADDRESSES
def test_every_tcp_port_exactly_the_allowed_ones_answer(lab, ns, address, summary_line):
    found = scan(lab, ns, address, TCP_ALL)
    assert found.open == ALLOWED_TCP[ns]
    assert found.states == {"open": len(found.open), "filtered": 65535 - len(found.open)}
    summary_line(f"open {','.join(map(str, sorted(found.open)))}; {found}")


@SOURCES
@ADDRESSES
def test_no_common_udp_port_answers(lab, ns, address, summary_line):
    found = scan(lab, ns, address, UDP_COMMON)
    # Dropped: no answer at all (open|filtered), never a refusal (closed) or a service.
    assert found.states == {"open|filtered": len(COMMON_UDP)}
    summary_line(str(found))


def test_the_udp_scan_finds_a_port_that_does_answer(lab):
    """The same scan sees an open UDP port where there is one: the lab's NTP server."""
    assert scan(lab, "public", NTP_SERVER_IPV4, UDP_COMMON).open == {123}


def test_the_scans_tripped_no_jail(lab):
    for jail in ("sshd", "portal-flood", "portal-scan", "rsync-auth"):
        assert not banned(lab, jail) & {PUBLIC_IPV4, OPLE_IPV4}, jail
