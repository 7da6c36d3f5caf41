"""
Time synchronisation: chrony with the configured servers, no command port,
systemd-timesyncd removed. Check the result with
``pyinfra INVENTORY fact difusor.facts.ChronyTracking``.

Example::

    from difusor.deploys.timesync import time_sync
    time_sync()
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from difusor.context import host_settings
from difusor.render import put_template

# Installed and removed with the kit's other packages (base).
TIME_PACKAGES = ["chrony"]
UNWANTED_PACKAGES = ["systemd-timesyncd"]
NO_CLOCK_CONTROL_DROPIN = "/etc/systemd/system/chrony.service.d/difusor-no-clock-control.conf"


@deploy("Time synchronisation")
def time_sync():
    settings = host_settings()

    config = put_template(
        name="chrony servers",
        template="time/chrony.conf.j2",
        context={"servers": settings.ntp_servers},
        dest="/etc/chrony/chrony.conf",
    )
    if settings.ntp_clock_control:
        dropin = files.file(
            name="chrony controls the clock", path=NO_CLOCK_CONTROL_DROPIN, present=False
        )
    else:
        dropin = put_template(
            name="chrony without clock control (rehearsal container)",
            template="time/chrony-no-clock-control.conf.j2",
            dest=NO_CLOCK_CONTROL_DROPIN,
        )
    systemd.daemon_reload(name="Reload units", _if=dropin.did_change)
    systemd.service(
        name="Restart chrony on a new configuration",
        service="chrony",
        restarted=True,
        _if=any_changed(config, dropin),
    )
