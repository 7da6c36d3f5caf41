"""
SSH server state that pyinfra has no operation for.

Example::

    from difusor.operations import ssh

    ssh.moduli(min_bits=3072)
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation

from difusor.facts import WeakModuli


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
