"""
Every long-running service of the kit comes back by itself: a systemd drop-in restarts it
whatever ends it (``Restart=always``), a few seconds later, without a start limit. On election
night a killed nginx, publisher or rsync daemon must not wait for a human. The publisher's
own unit says the same in its template.

Example::

    from difusor.deploys.restart import keep_running
    keep_running("nginx", "nginx", reload_on=[nginx_conf])
"""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from difusor.operations import services
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


def keep_running(
    service: str,
    label: str,
    *,
    restart_on: Sequence[OperationMeta] = (),
    reload_on: Sequence[OperationMeta] = (),
) -> None:
    """``service`` under the restart policy and running, then restarted when one of
    ``restart_on`` changed its configuration, or reloaded when one of ``reload_on`` did."""
    restart_policy(service)
    services.running(name=f"{label} running", unit=service)
    if restart_on:
        systemd.service(
            name=f"Restart {label} on a new configuration",
            service=service,
            restarted=True,
            _if=any_changed(*restart_on),
        )
    if reload_on:
        systemd.service(
            name=f"Reload {label} on a new configuration",
            service=service,
            reloaded=True,
            _if=any_changed(*reload_on),
        )
