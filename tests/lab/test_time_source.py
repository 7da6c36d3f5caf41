"""chrony on the lab host follows the NTP server the lab runs on the trusted namespace."""

import time

from difusor.rehearsal.lab import NTP_SERVER_IPV4


def test_synchronised_to_the_lab_ntp_server(lab):
    deadline = time.monotonic() + 90
    while True:
        tracking = lab.ssh("chronyc -n tracking").stdout
        if f"({NTP_SERVER_IPV4})" in tracking and "Leap status     : Normal" in tracking:
            break
        assert time.monotonic() < deadline, tracking
        time.sleep(3)
    sources = lab.ssh("chronyc -n sources").stdout
    assert f"^* {NTP_SERVER_IPV4}" in sources
