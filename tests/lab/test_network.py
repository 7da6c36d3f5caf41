"""
Reachability as the outside world sees it, from the lab's namespaces: `public` (an
untrusted internet client) and `ople` (a trusted source).
"""

import pytest

from difusor.rehearsal.lab import LAB_IPV4, LAB_IPV6


@pytest.fixture(scope="module", autouse=True)
def services_listen(lab):
    """nginx (80, 443) and the rsync daemon (873) listen on every address of the lab host, so
    a port that cannot be reached is one the firewall dropped."""
    listening = lab.ssh("ss -Hltn").stdout
    for port in (22, 80, 443, 873):
        assert f"0.0.0.0:{port} " in listening and f"[::]:{port} " in listening, port


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
