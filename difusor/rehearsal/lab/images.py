"""
Container images for the lab, built on the lab host itself: no registry is reachable, so an
image is ``docker import`` of a tiny root filesystem around Debian's busybox-static.

    from difusor.rehearsal.lab.images import build_busybox_image
    build_busybox_image(lab, "difusor-test/app:latest", {"www/index.html": "hola\n"})
"""

from __future__ import annotations

import shlex

from ..system import LabError
from .core import Lab

# The busybox applets the images use, as links next to the binary (a CGI needs /bin/sh).
APPLETS = ("sh", "cat", "echo", "wc")


def build_busybox_image(
    lab: Lab, image: str, files: dict[str, str], executable: tuple[str, ...] = ()
) -> None:
    """Import ``image`` on the lab host: /bin/busybox with its applets, /tmp, and ``files``
    (path inside the image: text); the paths in ``executable`` get mode 755."""
    script = [
        "set -e",
        "rm -rf /tmp/image /tmp/image-deb",
        "mkdir -p /tmp/image/bin /tmp/image/tmp /tmp/image-deb",
        "chmod 1777 /tmp/image/tmp",
        "cd /tmp/image-deb",
        "apt-get download -q busybox-static >/dev/null",
        "dpkg-deb -x busybox-static_*.deb .",
        "cp bin/busybox /tmp/image/bin/busybox",
        *(f"ln -s busybox /tmp/image/bin/{applet}" for applet in APPLETS),
    ]
    for path, text in files.items():
        target = shlex.quote(f"/tmp/image/{path}")
        script += [
            f"mkdir -p $(dirname {target})",
            f"printf %s {shlex.quote(text)} > {target}",
        ]
    script += [f"chmod 755 {shlex.quote(f'/tmp/image/{path}')}" for path in executable]
    script.append(f"tar -C /tmp/image -c . | docker import - {shlex.quote(image)} >/dev/null")
    result = lab.ssh("\n".join(script), timeout=300)
    if result.returncode:
        raise LabError(f"could not build {image} on the lab host: {result.stderr.strip()}")
