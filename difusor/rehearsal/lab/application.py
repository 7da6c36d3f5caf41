"""
A stand-in for the institute's application behind the portal: a container (busybox httpd
with a CGI page, built on the lab host) published on 127.0.0.1 only, and the portal switched
to proxy mode by its own deploy. The page counts the requests it answers, so what reaches
the origin can be told from what readers asked.

    from difusor.rehearsal.lab.application import proxied_application, origin_hits
    with proxied_application(lab, 8080):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..system import LabError
from .core import Lab
from .images import build_busybox_image
from .rehearse import run_pyinfra

IMAGE = "difusor-test/app:latest"
CONTAINER = "difusor-app"
CONTAINER_PORT = 80
PAGE = "/cgi-bin/resultados"
# Every request the page answers is one line in /tmp/hits inside the container.
PAGE_SCRIPT = """#!/bin/sh
echo hit >> /tmp/hits
echo "Content-Type: application/json"
echo
echo "{\\"aplicacion\\": \\"difusor-lab\\", \\"origen\\": $(wc -l < /tmp/hits)}"
"""
PORTAL_DEPLOY = "difusor.deploys.portal.portal"


def _ok(lab: Lab, command: str, timeout: float = 120) -> str:
    result = lab.ssh(command, timeout=timeout)
    if result.returncode:
        raise LabError(f"{command!r} failed on the lab host: {result.stdout}{result.stderr}")
    return result.stdout


def origin_hits(lab: Lab) -> int:
    """Requests the application has answered since it started."""
    return int(_ok(lab, f"docker exec {CONTAINER} sh -c 'cat /tmp/hits' | wc -l").strip())


def container_address(lab: Lab) -> str:
    """The container's own address on Docker's bridge."""
    return _ok(
        lab, f"docker inspect --format '{{{{.NetworkSettings.IPAddress}}}}' {CONTAINER}"
    ).strip()


@contextmanager
def proxied_application(lab: Lab, port: int) -> Iterator[None]:
    """The application on 127.0.0.1:port, the portal in proxy mode in front of it; afterwards
    the portal's deploy puts static mode back and the container goes."""
    build_busybox_image(lab, IMAGE, {f"www{PAGE}": PAGE_SCRIPT}, executable=(f"www{PAGE}",))
    _ok(
        lab,
        f"docker rm -f {CONTAINER} >/dev/null 2>&1; docker run -d --restart unless-stopped "
        f"--name {CONTAINER} -p 127.0.0.1:{port}:{CONTAINER_PORT} {IMAGE} "
        f"/bin/busybox httpd -f -p {CONTAINER_PORT} -h /www >/dev/null; "
        f"docker exec {CONTAINER} sh -c ': > /tmp/hits'",
    )
    try:
        switched = run_pyinfra(PORTAL_DEPLOY, "--data", "portal_mode=proxy")
        if not switched.ok or not switched.changed:
            raise LabError("the portal did not switch to proxy mode:\n" + switched.output[-4000:])
        yield
    finally:
        restored = run_pyinfra(PORTAL_DEPLOY)
        lab.ssh(f"docker rm -f {CONTAINER}", timeout=120)
        if not restored.ok:
            raise LabError("the portal did not go back to static mode:\n" + restored.output[-4000:])
