"""The lab network: fixed addresses, the host bridge and the extra namespaces.

Layout (all on one layer-2 bridge on the host, no routing, no NAT)::

    difusor0 (host)   198.18.0.1/24   fd42:d1f0:5e::1/64   controller, apt proxy
    difusor-lab       198.18.0.10/24  fd42:d1f0:5e::10/64  systemd-nspawn machine (host0)
    difusor-ople      198.18.0.20/24  fd42:d1f0:5e::20/64  netns: trusted source, NTP server
    difusor-public    198.18.0.30/24  fd42:d1f0:5e::30/64  netns: untrusted internet client
    difusor-reader    198.18.0.40/24  fd42:d1f0:5e::40/64  netns: another internet reader, on
                                                           an address of its own (bans of
                                                           `public` must not touch it)

198.18.0.0/15 is reserved for network benchmarking (RFC 2544) and fd00::/8 is IPv6
unique-local space, so none of this collides with real networks or Docker's pools.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from ..system import LabError, log, run

# ---------------------------------------------------------------- the contract

IPV4_PREFIX = "198.18.0.0/24"
IPV6_PREFIX = "fd42:d1f0:5e::/64"
IPV4_PREFIXLEN = 24
IPV6_PREFIXLEN = 64

BRIDGE = "difusor0"
BRIDGE_IPV4 = "198.18.0.1"
BRIDGE_IPV6 = "fd42:d1f0:5e::1"
CONTROLLER_IPV4 = BRIDGE_IPV4  # the deploy's SSH arrives from here
CONTROLLER_IPV6 = BRIDGE_IPV6

MACHINE = "difusor-lab"  # nspawn machine name and hostname
MACHINE_VETH = "ve-difusor-lab"  # host side of the machine's veth (created by nspawn)
MACHINE_IFACE = "host0"  # machine side
LAB_IPV4 = "198.18.0.10"
LAB_IPV6 = "fd42:d1f0:5e::10"

NETNS_PREFIX = "difusor-"
OPLE_NETNS = "difusor-ople"
OPLE_IPV4 = "198.18.0.20"
OPLE_IPV6 = "fd42:d1f0:5e::20"
PUBLIC_NETNS = "difusor-public"
PUBLIC_IPV4 = "198.18.0.30"
PUBLIC_IPV6 = "fd42:d1f0:5e::30"
READER_NETNS = "difusor-reader"
READER_IPV4 = "198.18.0.40"
READER_IPV6 = "fd42:d1f0:5e::40"

PROXY_HOST = BRIDGE_IPV4
PROXY_PORT = 3128
PROXY_URL = f"http://{PROXY_HOST}:{PROXY_PORT}"

NTP_SERVER_IPV4 = OPLE_IPV4
NTP_SERVER_IPV6 = OPLE_IPV6
NTP_STRATUM = 8


class Namespace:
    """One extra host on the bridge: a network namespace joined by a veth pair."""

    def __init__(self, short: str, ipv4: str, ipv6: str):
        self.short = short
        self.name = NETNS_PREFIX + short
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.host_veth = f"dfs-{short}"[:15]  # host side, enslaved to the bridge
        self.inner_iface = "eth0"

    def __repr__(self) -> str:
        return f"Namespace({self.name!r}, {self.ipv4!r}, {self.ipv6!r})"


NAMESPACES: dict[str, Namespace] = {
    "ople": Namespace("ople", OPLE_IPV4, OPLE_IPV6),
    "public": Namespace("public", PUBLIC_IPV4, PUBLIC_IPV6),
    "reader": Namespace("reader", READER_IPV4, READER_IPV6),
}


def namespace(ns: str) -> Namespace:
    """Accept "ople"/"public"/"reader" or the full netns name."""
    key = ns[len(NETNS_PREFIX) :] if ns.startswith(NETNS_PREFIX) else ns
    try:
        return NAMESPACES[key]
    except KeyError:
        raise ValueError(
            f"unknown lab namespace {ns!r}; expected one of {sorted(NAMESPACES)}"
        ) from None


def addresses() -> dict:
    """All lab addresses as plain data (written to lab.json)."""
    return {
        "ipv4_prefix": IPV4_PREFIX,
        "ipv6_prefix": IPV6_PREFIX,
        "controller": {"ipv4": CONTROLLER_IPV4, "ipv6": CONTROLLER_IPV6, "bridge": BRIDGE},
        "lab": {"ipv4": LAB_IPV4, "ipv6": LAB_IPV6, "machine": MACHINE, "host_veth": MACHINE_VETH},
        **{
            key: {"ipv4": n.ipv4, "ipv6": n.ipv6, "netns": n.name, "host_veth": n.host_veth}
            for key, n in NAMESPACES.items()
        },
        "proxy": PROXY_URL,
        "ntp": {"ipv4": NTP_SERVER_IPV4, "ipv6": NTP_SERVER_IPV6, "stratum": NTP_STRATUM},
    }


# ---------------------------------------------------------------- helpers


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def _ip(*args: str, check: bool = True):
    return run(["ip", *args], check=check)


def _netns_ip(ns: str, *args: str):
    return run(["ip", "-n", ns, *args])


def bridge_netfilter_report() -> str:
    """Describe whether bridged traffic would go through the host's iptables."""
    base = Path("/proc/sys/net/bridge")
    if not base.exists():
        return "br_netfilter not loaded: bridged traffic bypasses iptables"
    vals = {}
    for key in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"):
        with contextlib.suppress(OSError):
            vals[key] = (base / key).read_text().strip()
    report = "br_netfilter active: " + ", ".join(f"{k}={v}" for k, v in vals.items())
    if vals.get("bridge-nf-call-iptables") == "1" or vals.get("bridge-nf-call-ip6tables") == "1":
        report += "; bridged lab traffic passes the host's FORWARD chains, which must accept it"
    return report


# ---------------------------------------------------------------- up / down


def setup_bridge() -> None:
    log.info(
        "creating bridge %s %s/%d %s/%d",
        BRIDGE,
        BRIDGE_IPV4,
        IPV4_PREFIXLEN,
        BRIDGE_IPV6,
        IPV6_PREFIXLEN,
    )
    _ip(
        "link",
        "add",
        BRIDGE,
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
        "mcast_snooping",
        "0",
    )
    # the host is the controller on this link, never a router: no RA autoconfiguration
    for key, val in (("accept_ra", "0"), ("autoconf", "0")):
        p = Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/{key}")
        if p.exists():
            p.write_text(val)
    _ip("addr", "add", f"{BRIDGE_IPV4}/{IPV4_PREFIXLEN}", "dev", BRIDGE)
    _ip("-6", "addr", "add", f"{BRIDGE_IPV6}/{IPV6_PREFIXLEN}", "dev", BRIDGE, "nodad")
    _ip("link", "set", BRIDGE, "up")


def setup_namespace(n: Namespace) -> None:
    log.info("creating namespace %s %s %s", n.name, n.ipv4, n.ipv6)
    _ip("netns", "add", n.name)
    _ip("link", "add", n.host_veth, "type", "veth", "peer", "name", n.inner_iface, "netns", n.name)
    _ip("link", "set", n.host_veth, "master", BRIDGE)
    _ip("link", "set", n.host_veth, "up")
    _netns_ip(n.name, "link", "set", "lo", "up")
    _netns_ip(n.name, "addr", "add", f"{n.ipv4}/{IPV4_PREFIXLEN}", "dev", n.inner_iface)
    _netns_ip(
        n.name, "-6", "addr", "add", f"{n.ipv6}/{IPV6_PREFIXLEN}", "dev", n.inner_iface, "nodad"
    )
    _netns_ip(n.name, "link", "set", n.inner_iface, "up")


def attach_machine_veth(timeout: float = 30, alive=lambda: True) -> None:
    """Enslave the machine's host-side veth (made by systemd-nspawn) to the bridge."""
    import time

    deadline = time.monotonic() + timeout
    while not link_exists(MACHINE_VETH):
        if not alive():
            raise LabError("systemd-nspawn exited before creating its veth")
        if time.monotonic() > deadline:
            raise LabError(f"{MACHINE_VETH} did not appear within {timeout}s")
        time.sleep(0.1)
    _ip("link", "set", MACHINE_VETH, "master", BRIDGE)
    _ip("link", "set", MACHINE_VETH, "up")
    log.info("attached %s to %s", MACHINE_VETH, BRIDGE)


def remove_machine_veth() -> None:
    """Delete the veth of a machine that is gone. After a killed poweroff the kernel may
    still be tearing it down; a new boot must not find and attach the dying one."""
    if link_exists(MACHINE_VETH):
        _ip("link", "del", MACHINE_VETH, check=False)


def setup() -> None:
    """Bridge plus the namespaces. Expects teardown() to have run first."""
    setup_bridge()
    for n in NAMESPACES.values():
        setup_namespace(n)


def pids_in_netns(name: str) -> list[int]:
    """Processes whose network namespace is the named one (for cleanup)."""
    import os

    try:
        st = os.stat(Path("/run/netns", name))
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            pst = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (pst.st_ino, pst.st_dev) == (st.st_ino, st.st_dev):
            found.append(int(entry))
    return found


def teardown() -> None:
    """Delete namespaces, veths and the bridge; quiet and idempotent.

    Processes still inside the namespaces must have been stopped first (a netns
    with processes in it outlives `ip netns del`)."""
    for n in NAMESPACES.values():
        if netns_exists(n.name):
            log.info("deleting namespace %s", n.name)
            _ip("netns", "del", n.name, check=False)
        if link_exists(n.host_veth):
            _ip("link", "del", n.host_veth, check=False)
    remove_machine_veth()
    if link_exists(BRIDGE):
        log.info("deleting bridge %s", BRIDGE)
        _ip("link", "del", BRIDGE, check=False)
    left = [n.name for n in NAMESPACES.values() if netns_exists(n.name)]
    left += [
        link
        for link in [BRIDGE, MACHINE_VETH, *(n.host_veth for n in NAMESPACES.values())]
        if link_exists(link)
    ]
    if left:
        raise LabError(f"network leftovers could not be removed: {left}")


# ---------------------------------------------------------------- probes run inside a namespace

TCP_PROBE = r"""
import socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(timeout)
try:
    s.connect((host, port))
except OSError as exc:
    print(f"unreachable: {exc}")
    sys.exit(1)
print("reachable")
"""

# A TCP SYN in an Ethernet frame sent straight to a neighbour's MAC address: what any machine
# on the same network segment can do without a route, also to addresses no router carries
# (127.0.0.1, Docker's networks behind the neighbour). Exit 0 on a SYN-ACK, 1 otherwise.
NEIGHBOUR_SYN_PROBE = r"""
import random, socket, struct, sys, time
iface, source, neighbour, target, port, timeout = sys.argv[1:7]
port, deadline = int(port), time.monotonic() + float(timeout)

def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

def neighbour_mac():
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"", (neighbour, 9))  # resolve it
    while time.monotonic() < deadline:
        for line in open("/proc/net/arp").read().splitlines()[1:]:
            fields = line.split()
            if fields[0] == neighbour and fields[2] != "0x0":
                return bytes.fromhex(fields[3].replace(":", ""))
        time.sleep(0.05)
    print(f"no MAC address for {neighbour}"); sys.exit(2)

sport, seq = random.randint(20000, 60000), random.getrandbits(32)
src, dst = socket.inet_aton(source), socket.inet_aton(target)
tcp = struct.pack("!HHIIBBHHH", sport, port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
pseudo_header = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", checksum(pseudo_header + tcp)) + tcp[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, random.getrandbits(16), 0x4000, 64, 6, 0, src, dst)
ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
own_mac = bytes.fromhex(open(f"/sys/class/net/{iface}/address").read().strip().replace(":", ""))
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
raw.bind((iface, 0))
raw.send(neighbour_mac() + own_mac + b"\x08\x00" + ip + tcp)
while time.monotonic() < deadline:
    raw.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        frame = raw.recv(2048)
    except socket.timeout:
        break
    packet = frame[14:]
    if packet[9] != 6 or packet[12:16] != dst:
        continue
    segment = packet[(packet[0] & 0x0F) * 4:]
    their_port, our_port, _, ack, _, flags = struct.unpack("!HHIIBB", segment[:14])
    if (their_port, our_port) == (port, sport) and ack == (seq + 1) & 0xFFFFFFFF:
        print("reachable" if flags & 0x12 == 0x12 else "refused")
        sys.exit(0 if flags & 0x12 == 0x12 else 1)
print("no answer"); sys.exit(1)
"""

# SNTP client (RFC 4330): prints "stratum=N offset=S" and exits 0 on a valid server answer.
NTP_PROBE = r"""
import socket, struct, sys, time
host, timeout = sys.argv[1], float(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(timeout)
NTP_EPOCH = 2208988800
t0 = time.time()
frac, sec = __import__("math").modf(t0 + NTP_EPOCH)
req = bytearray(48)
req[0] = (0 << 6) | (4 << 3) | 3  # LI=0, VN=4, mode=3 (client)
struct.pack_into("!II", req, 40, int(sec), int(frac * 2**32))
try:
    s.sendto(bytes(req), (host, 123))
    data, _ = s.recvfrom(512)
except OSError as exc:
    print(f"no answer: {exc}")
    sys.exit(1)
t3 = time.time()
if len(data) < 48:
    print("short answer"); sys.exit(1)
li, mode, stratum = data[0] >> 6, data[0] & 7, data[1]
rx = struct.unpack_from("!II", data, 32); tx = struct.unpack_from("!II", data, 40)
t1 = rx[0] - NTP_EPOCH + rx[1] / 2**32
t2 = tx[0] - NTP_EPOCH + tx[1] / 2**32
offset = ((t1 - t0) + (t2 - t3)) / 2
print(f"li={li} mode={mode} stratum={stratum} offset={offset:.6f}")
sys.exit(0 if mode == 4 and li != 3 and 0 < stratum < 16 else 2)
"""


def probe_argv(script: str, *args: object, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-I", "-c", script, *map(str, args)]
