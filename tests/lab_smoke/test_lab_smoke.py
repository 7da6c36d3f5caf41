"""Smoke test of the local rehearsal lab itself (not of the deploy).

Needs root and the host packages (debootstrap, systemd-container, tinyproxy, chrony,
iproute2). It brings the lab up, so it tears down any lab already running: it only
runs when DIFUSOR_LAB_SMOKE=1.

    sudo DIFUSOR_LAB_SMOKE=1 python -m pytest tests/lab_smoke -v
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from difusor.rehearsal.lab import (
    LAB_IPV4,
    LAB_IPV6,
    MACHINE,
    NTP_SERVER_IPV4,
    NTP_SERVER_IPV6,
    PROXY_URL,
    Lab,
)

REQUIRED_TOOLS = (
    "debootstrap",
    "systemd-nspawn",
    "tinyproxy",
    "chronyd",
    "ip",
    "ssh",
    "ssh-keygen",
    "tar",
)

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("DIFUSOR_LAB_SMOKE") != "1",
        reason="lab smoke test: set DIFUSOR_LAB_SMOKE=1 (it replaces a running lab)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in REQUIRED_TOOLS),
        reason=f"missing host tools (need {', '.join(REQUIRED_TOOLS)})",
    ),
]


@pytest.fixture(scope="module")
def lab():
    lab = Lab()
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        left = lab.leftovers()
        assert not left, f"lab down left things behind: {left}"


def test_ssh_config_and_state(lab):
    text = lab.ssh_config.read_text()
    assert f"Host {MACHINE}" in text and f"HostName {LAB_IPV4}" in text
    assert lab.key_path.exists()
    state = lab.state()
    assert state["machine"] == MACHINE
    assert state["addresses"]["lab"]["ipv4"] == LAB_IPV4


def test_ssh_runs_commands(lab):
    res = lab.ssh(["hostname"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == MACHINE
    res = lab.ssh("systemctl is-system-running --wait", timeout=120)
    assert res.stdout.strip() in ("running", "degraded"), res.stdout + res.stderr


def test_ssh_with_plain_openssh_client(lab):
    res = subprocess.run(
        ["ssh", "-F", str(lab.ssh_config), MACHINE, "true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr


def test_lab_addresses_configured(lab):
    res = lab.ssh(["ip", "-o", "addr", "show", "dev", "host0"])
    assert f"{LAB_IPV4}/24" in res.stdout
    assert f"{LAB_IPV6}/64" in res.stdout
    assert "tentative" not in res.stdout


@pytest.mark.parametrize("ns", ["ople", "public"])
@pytest.mark.parametrize("address", [LAB_IPV4, LAB_IPV6])
def test_ssh_port_reachable_from_namespaces(lab, ns, address):
    assert lab.tcp_reachable(ns, address, 22)


def test_closed_port_not_reachable(lab):
    assert not lab.tcp_reachable("public", LAB_IPV4, 9, timeout=2)


def test_run_in_namespace(lab):
    res = lab.run_in("public", ["ip", "-o", "addr", "show", "dev", "eth0"])
    assert res.returncode == 0 and "198.18.0.30/24" in res.stdout


def test_apt_through_proxy(lab):
    res = lab.ssh(
        ["apt-get", "-q", "-o", f"Acquire::http::Proxy={PROXY_URL}", "update"], timeout=300
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "bookworm-security" in res.stdout or "-security" in res.stdout


@pytest.mark.parametrize("server", [NTP_SERVER_IPV4, NTP_SERVER_IPV6])
def test_ntp_answers_lab_host(lab, server):
    res = lab.ntp_query("lab", server)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "stratum=8" in res.stdout


def test_machine_cannot_set_clock(lab):
    res = lab.ssh(["sh", "-c", "grep CapBnd /proc/1/status"])
    capbnd = int(res.stdout.split()[1], 16)
    assert not capbnd & (1 << 25), "CAP_SYS_TIME must be dropped"
