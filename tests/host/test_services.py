"""Every long-running service of the kit is running, and systemd restarts it whatever ends
it, without a start limit (the lab's continuity tests kill them for real)."""

import pytest

from difusor.deploys.restart import KIT_SERVICES


@pytest.mark.parametrize("service", KIT_SERVICES)
def test_systemd_restarts_the_service_whatever_ends_it(host, service):
    shown = host.check_output(
        f"systemctl show {service}.service -p ActiveState -p Restart -p StartLimitIntervalUSec"
    )
    properties = dict(line.split("=", 1) for line in shown.splitlines())
    assert properties == {
        "ActiveState": "active",
        "Restart": "always",
        "StartLimitIntervalUSec": "0",
    }


def test_chrony_answers_ntp_on_loopback_only(host):
    assert host.socket("udp://127.0.0.1:123").is_listening
    assert not host.socket("udp://0.0.0.0:123").is_listening
    assert not host.socket("udp://:::123").is_listening
