"""
Reachability as the outside world sees it, from the lab's namespaces: `public` (an
untrusted internet client) and `ople` (a trusted source). Listeners on 80, 443 and 873 are
started for the test, so "unreachable" can only mean the firewall dropped the connection.
"""

import pytest

from difusor.lab import LAB_IPV4, LAB_IPV6

PROBE_PORTS = (80, 443, 873)


@pytest.fixture(scope="module", autouse=True)
def listeners(lab):
    for port in PROBE_PORTS:
        started = lab.ssh(
            f"systemd-run --unit=difusor-probe-{port} python3 -c "
            f"'import socket,time; s=socket.create_server((\"::\", {port}), family=socket.AF_INET6, dualstack_ipv6=True); "
            f"[s.accept()[0].close() for _ in iter(int, 1)]'"
        )
        assert started.returncode == 0, started.stderr
    yield
    for port in PROBE_PORTS:
        lab.ssh(f"systemctl stop difusor-probe-{port}")


ADDRESSES = pytest.mark.parametrize("address", [LAB_IPV4, LAB_IPV6], ids=["ipv4", "ipv6"])


@ADDRESSES
@pytest.mark.parametrize("port", [80, 443])
def test_public_reaches_web_ports(lab, address, port):
    assert lab.tcp_reachable("public", address, port)


@ADDRESSES
@pytest.mark.parametrize("port", [22, 873])
def test_public_cannot_reach_ssh_or_rsync(lab, address, port):
    assert not lab.tcp_reachable("public", address, port)


@ADDRESSES
@pytest.mark.parametrize("port", [22, 873, 80, 443])
def test_trusted_source_reaches_ssh_rsync_and_web(lab, address, port):
    assert lab.tcp_reachable("ople", address, port)
