"""
The institute's application behind the portal: a container published on 127.0.0.1 only, the
portal switched to proxy mode by its own deploy, and readers in front. Readers reach the
application over HTTPS only; nginx's micro-cache absorbs a burst (origin hits counted by the
application itself, against the answers readers got); the container's port cannot be reached
from the lab's namespaces, not even by a neighbour that addresses 127.0.0.1 or the container
directly. The portal goes back to static mode at the end.
"""

import re
import uuid
from collections.abc import Iterator

import pytest

from difusor.deploys.portal import MICRO_CACHE_SECONDS
from difusor.rehearsal.lab import LAB_IPV4, LAB_IPV6
from difusor.rehearsal.lab.application import (
    CONTAINER_PORT,
    IMAGE,
    PAGE,
    container_address,
    origin_hits,
    proxied_application,
)
from difusor.rehearsal.lab.inventory import DOCKER_PUBLIC_PORT
from difusor.rehearsal.lab.wrk import wrk

PUBLIC_PORT_CONTAINER = "difusor-app-public"
LOOPBACK_RULE = "-m conntrack --ctorigdst 127.0.0.0/8 -j ufw-docker-deny"


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def port(lab, settings) -> Iterator[int]:
    """The application in its container on 127.0.0.1 and the portal in proxy mode in front."""
    port = int(settings.proxy_upstream.rsplit(":", 1)[1])
    with proxied_application(lab, port):
        yield port


def fetch(lab, settings, url: str, times: int = 1) -> list[tuple[str, str]]:
    """(headers lower-cased, body) of each of ``times`` requests for the URL from `public`,
    back to back on one connection."""
    name = settings.portal_domain
    url = url.format(name=name)
    result = lab.run_in(
        "public",
        [
            "curl",
            "-sS",
            "--insecure",  # the certificate itself is verified by test_portal
            "--max-time",
            "10",
            "--resolve",
            f"{name}:443:{LAB_IPV4}",
            "--resolve",
            f"{name}:80:{LAB_IPV4}",
            "-D",
            "-",
            *[url] * times,
        ],
    )
    assert result.returncode == 0, result.stderr
    responses = re.split(r"^(?=HTTP/)", result.stdout, flags=re.M)[1:]
    assert len(responses) == times, result.stdout
    # Captured as text, curl's CRLF line ends read as LF.
    return [
        (headers.lower(), body)
        for headers, _, body in (response.partition("\n\n") for response in responses)
    ]


def test_readers_get_the_application_over_https_through_the_micro_cache(lab, settings, port):
    before = origin_hits(lab)
    (first, body), (again, _) = fetch(
        lab, settings, "https://{name}" + f"{PAGE}?lector={uuid.uuid4().hex}", times=2
    )
    assert first.startswith("http/2 200"), first
    assert '"aplicacion": "difusor-lab"' in body, (first, body, again)
    assert "strict-transport-security: max-age=63072000" in first
    assert "x-cache-status: miss" in first
    assert "x-cache-status: hit" in again
    assert origin_hits(lab) == before + 1


def test_plain_http_is_redirected_never_proxied(lab, settings, port):
    before = origin_hits(lab)
    [(headers, _)] = fetch(lab, settings, "http://{name}" + f"{PAGE}?lector=http")
    assert headers.startswith("http/1.1 301")
    assert f"location: https://{settings.portal_domain}{PAGE}?lector=http" in headers
    assert origin_hits(lab) == before


def test_micro_cache_absorbs_a_burst(lab, port):
    """One reader address bursting: what the rate limit lets through is answered from the
    cache, and the application sees about one request per micro-cache period."""
    before = origin_hits(lab)
    burst = wrk(
        lab,
        "public",
        f"{PAGE}?rafaga={uuid.uuid4().hex}",
        seconds=5,
        connections=16,
        requests=2000,
    )
    hits = origin_hits(lab) - before
    answered = burst["requests"] - burst["non_2xx"]
    # A burst is answered (the rate limit lets 10 s worth through at once)...
    assert answered >= 100, burst
    # ...and reaches the application once per cache period at most (plus the first miss).
    assert 1 <= hits <= burst["seconds"] / MICRO_CACHE_SECONDS + 2, (hits, burst)


ADDRESSES = pytest.mark.parametrize("address", [LAB_IPV4, LAB_IPV6], ids=["ipv4", "ipv6"])
NAMESPACES = pytest.mark.parametrize("ns", ["public", "ople"])


@NAMESPACES
@ADDRESSES
def test_published_port_unreachable_on_the_hosts_addresses(lab, port, ns, address):
    assert not lab.tcp_reachable(ns, address, port, timeout=1)


@pytest.fixture(scope="module")
def public_port_on_loopback(lab, port) -> Iterator[int]:
    """A second container whose port is in docker_public_ports, published on 127.0.0.1 only."""
    host_port = port + 1
    ok(
        lab.ssh(
            f"docker rm -f {PUBLIC_PORT_CONTAINER} >/dev/null 2>&1; docker run -d "
            f"--name {PUBLIC_PORT_CONTAINER} -p 127.0.0.1:{host_port}:{DOCKER_PUBLIC_PORT} "
            f"{IMAGE} /bin/busybox httpd -f -p {DOCKER_PUBLIC_PORT} -h /www",
            timeout=120,
        )
    )
    yield host_port
    lab.ssh(f"docker rm -f {PUBLIC_PORT_CONTAINER}", timeout=120)


@NAMESPACES
def test_a_neighbour_cannot_reach_the_container(lab, port, public_port_on_loopback, ns):
    """Frames sent straight to the lab host's MAC address: to 127.0.0.1 on the published
    ports (Docker's DNAT rewrites it before the kernel would drop it as martian), also where
    the container port is public, and to the container's own address behind the host."""
    assert not lab.neighbour_reachable(ns, "127.0.0.1", port)
    assert not lab.neighbour_reachable(ns, "127.0.0.1", public_port_on_loopback)
    assert not lab.neighbour_reachable(ns, container_address(lab), CONTAINER_PORT)


def test_the_loopback_hole_exists_without_the_rules_and_ufw_reload_closes_it(
    lab, port, public_port_on_loopback
):
    ok(lab.ssh(f"iptables -D DOCKER-USER {LOOPBACK_RULE}"))
    try:
        # Without the loopback rule, only a public container port is exposed...
        assert lab.neighbour_reachable("public", "127.0.0.1", public_port_on_loopback)
        assert not lab.neighbour_reachable("public", "127.0.0.1", port)
        # ...and without any of difusor's rules, every port published on loopback.
        ok(lab.ssh("iptables -F DOCKER-USER"))
        assert lab.neighbour_reachable("public", "127.0.0.1", port), "the hole did not reproduce"
    finally:
        ok(lab.ssh("ufw reload"))
    assert not lab.neighbour_reachable("public", "127.0.0.1", port)
    assert not lab.neighbour_reachable("public", "127.0.0.1", public_port_on_loopback)
