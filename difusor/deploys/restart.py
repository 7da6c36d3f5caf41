"""
Every long-running service of the kit comes back by itself: a systemd drop-in restarts it
whatever ends it (``Restart=always``), a few seconds later, without a start limit. On election
night a killed nginx, publisher or rsync daemon must not wait for a human. The publisher's
own unit says the same in its template.

Example::

    from difusor.deploys.restart import restart_policy
    restart_policy("nginx")
"""

from __future__ import annotations

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd

from difusor.render import put_template

RESTART_SECONDS = 2
# Everything of the kit that runs all the time (the monitor is a timer's oneshot).
KIT_SERVICES = (
    "ssh",
    "fail2ban",
    "chrony",
    "nginx",
    "difusor-publisher",
    "rsync",
    "containerd",
    "docker",
)


def dropin_path(service: str) -> str:
    return f"/etc/systemd/system/{service}.service.d/difusor-restart.conf"


def restart_policy(service: str) -> OperationMeta:
    """The restart drop-in for ``service``, and systemd told when it changed (the running
    service takes the policy at the reload: no restart needed)."""
    dropin = put_template(
        name=f"systemd restarts {service} whatever ends it",
        template="base/restart-policy.conf.j2",
        context={"service": service, "restart_seconds": RESTART_SECONDS},
        dest=dropin_path(service),
    )
    systemd.daemon_reload(name=f"Reload units ({service} restart policy)", _if=dropin.did_change)
    return dropin
