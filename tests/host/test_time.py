"""Time: chrony with the configured servers, no command port, timesyncd gone."""

import time


def test_chrony_running_timesyncd_absent(host):
    assert host.service("chrony").is_running and host.service("chrony").is_enabled
    assert not host.package("systemd-timesyncd").is_installed


def test_chrony_servers_and_no_command_port(host, settings):
    config = host.file("/etc/chrony/chrony.conf")
    for server in settings.ntp_servers:
        assert config.contains(f" {server} iburst")
    assert config.contains("^cmdport 0$")
    assert not host.socket("udp://0.0.0.0:323").is_listening
    assert not host.socket("udp://:::323").is_listening


def test_chrony_synchronised(host):
    deadline = time.monotonic() + 90
    while True:
        tracking = host.check_output("chronyc -n tracking")
        if "Leap status     : Normal" in tracking or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert "Leap status     : Normal" in tracking
