"""
SSH server state that pyinfra has no operation for.

Example::

    from difusor.operations import ssh

    ssh.moduli(min_bits=3072)
    ssh.listens_itself()
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation

from difusor.facts import SshSocket, WeakModuli


@operation()
def moduli(min_bits: int = 3072):
    """
    Remove Diffie-Hellman groups smaller than ``min_bits`` from ``/etc/ssh/moduli``.
    """
    weak = host.get_fact(WeakModuli, min_bits=min_bits)
    if not weak:
        host.noop(f"no moduli under {min_bits} bits")
        return
    candidate = "/etc/ssh/moduli.difusor-new"
    yield (
        f"awk '/^#/ || $5 + 1 >= {int(min_bits)}' /etc/ssh/moduli > {candidate}"
        f" && chmod 644 {candidate} && mv -f {candidate} /etc/ssh/moduli"
    )


@operation()
def listens_itself():
    """
    Run sshd as ``ssh.service``, listening where ``sshd_config`` says, instead of from
    ``ssh.socket`` (Ubuntu's default since 22.10).

    Under socket activation systemd holds the listening sockets: sshd_config's ``Port`` and
    ``ListenAddress`` reach them only through a generator at the next ``daemon-reload`` and
    socket restart, and reloading ssh.service keeps the old ones. As a service, sshd binds
    them itself and a reload applies them. The switch restarts ssh.service, which leaves open
    sessions (the deploying one too) running; if it fails, the socket comes back.
    """
    socket = host.get_fact(SshSocket)
    if socket["enabled"] not in ("enabled", "enabled-runtime") and socket["active"] != "active":
        host.noop("sshd is not socket-activated")
        return
    yield (
        "systemctl disable --now ssh.socket && systemctl enable ssh.service"
        " && systemctl restart ssh.service"
        " || { systemctl enable --now ssh.socket; exit 1; }"
    )
