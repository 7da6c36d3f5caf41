"""
Every long-running service of the kit comes back by itself: a systemd drop-in restarts it
whatever ends it (``Restart=always``), a few seconds later, without a start limit. On election
night a killed nginx, publisher or rsync daemon must not wait for a human. The publisher's
own unit says the same in its template. The deploy ends by making sure every service of the
kit runs and starts at boot, all judged by one fact.

Example::

    from difusor.deploys.restart import restart_policies, services_running
    restart_policies()
    ...
    services_running()
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd

from difusor.context import host_settings
from difusor.operations import files, services
from difusor.render import render

RESTART_SECONDS = 2
PUBLISHER_SERVICE = "difusor-publisher"
# Everything of the kit that runs all the time (the monitor is a timer's oneshot).
KIT_SERVICES = (
    "ssh",
    "fail2ban",
    "chrony",
    "nginx",
    PUBLISHER_SERVICE,
    "rsync",
    "containerd",
    "docker",
)


def dropin_path(service: str) -> str:
    return f"/etc/systemd/system/{service}.service.d/difusor-restart.conf"


def restart_policies() -> OperationMeta:
    """The restart drop-ins of every kit service but the publisher (its own unit says the
    same), judged by one fact, and systemd told when one changed (a running service takes
    the policy at the reload: no restart needed). A drop-in may come before its unit."""
    dropins = files.contents(
        name="systemd restarts the kit's services whatever ends them",
        files={
            dropin_path(service): render(
                "base/restart-policy.conf.j2", service=service, restart_seconds=RESTART_SECONDS
            )
            for service in KIT_SERVICES
            if service != PUBLISHER_SERVICE
        },
    )
    systemd.daemon_reload(name="Reload units (restart policies)", _if=dropins.did_change)
    return dropins


@deploy("Services")
def services_running():
    """Last, once every role has written its configuration (rsync's daemon starts only once
    its configuration exists, the publisher once its units are there): the kit's services
    and timers running and started at boot."""
    acme = host_settings().tls_source == "acme"
    services.running(
        name="The kit's services running and started at boot",
        units=[*KIT_SERVICES, "difusor-monitor.timer", *(["certbot.timer"] if acme else [])],
    )
