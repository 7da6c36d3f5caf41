from difusor.facts import (
    ChronyTracking,
    HostResources,
    PlatformTraits,
    SshClientAddress,
    SshSocket,
    UfwState,
    WeakModuli,
)

UFW_OUTPUT = """\
IPV6=yes
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
DEFAULT_FORWARD_POLICY="DROP"
DEFAULT_APPLICATION_POLICY="SKIP"
ENABLED=yes
LOGLEVEL=low
--rules--
Added user rules (see 'ufw status' for running firewall):
ufw allow 80/tcp
ufw allow from 198.18.0.20 to any port 873 proto tcp comment 'difusor:ople'
ufw allow from fd42:d1f0:5e::20 to any port 22 proto tcp comment 'difusor:ople'
""".splitlines()


def test_ufw_state_parses_policies_and_rules():
    state = UfwState().process(UFW_OUTPUT)
    assert state["enabled"] is True
    assert state["ipv6"] is True
    assert state["logging"] == "low"
    assert state["defaults"] == {"incoming": "deny", "outgoing": "allow", "routed": "deny"}
    assert state["rules"] == [
        "allow 80/tcp",
        "allow from 198.18.0.20 to any port 873 proto tcp comment 'difusor:ople'",
        "allow from fd42:d1f0:5e::20 to any port 22 proto tcp comment 'difusor:ople'",
    ]


def test_ufw_state_of_a_fresh_install():
    output = [
        "IPV6=no",
        'DEFAULT_INPUT_POLICY="REJECT"',
        "ENABLED=no",
        "--rules--",
        "Added user rules (see 'ufw status' for running firewall):",
        "(None)",
    ]
    state = UfwState().process(output)
    assert state["enabled"] is False and state["ipv6"] is False
    assert state["defaults"] == {"incoming": "reject"}
    assert state["rules"] == []


def test_ssh_client_address():
    assert SshClientAddress().process(["client=198.18.0.1"]) == "198.18.0.1"
    assert SshClientAddress().process(["client=fd42:d1f0:5e::1"]) == "fd42:d1f0:5e::1"
    assert SshClientAddress().process(["client="]) is None


def test_host_resources_prefers_max_frequency():
    output = [
        "cores=2",
        "mhz=1996",
        "max_khz=3400000",
        "mem_kb=16303916",
        "root_kb=103081248",
        "rotational=0",
    ]
    assert HostResources().process(output) == {
        "cores": 2,
        "mhz": 3400,
        "memory_mb": 15921,
        "root_gb": 98,
        "rotational": False,
    }


def test_host_resources_tolerates_missing_figures():
    output = ["cores=8", "mhz=", "max_khz=", "mem_kb=2048000", "root_kb=1048576", "rotational="]
    resources = HostResources().process(output)
    assert resources["mhz"] is None and resources["rotational"] is None
    assert resources["root_gb"] == 1


def test_weak_moduli_count():
    assert WeakModuli().process(["12"]) == 12
    assert WeakModuli().process([""]) == 0
    assert "$5 + 1 < 3072" in WeakModuli().command(3072)


def test_chrony_tracking():
    output = """\
Reference ID    : C6120014 (198.18.0.20)
Stratum         : 9
Ref time (UTC)  : Sun Nov 22 06:40:01 2026
System time     : 0.000001234 seconds slow of NTP time
Last offset     : -0.000000512 seconds
Leap status     : Normal""".splitlines()
    tracking = ChronyTracking().process(output)
    assert tracking["reference"] == "C6120014 (198.18.0.20)"
    assert tracking["stratum"] == 9
    assert tracking["offset_seconds"] == -0.000001234
    assert tracking["leap_status"] == "Normal"


def test_chrony_not_running():
    tracking = ChronyTracking().process(["506 Cannot talk to daemon"])
    assert tracking["leap_status"] == "unknown" and tracking["offset_seconds"] is None


def test_platform_traits_of_an_ubuntu_image():
    output = ["cloud_init=yes", "apparmor=Y", "python=3.10"]
    assert PlatformTraits().process(output) == {
        "cloud_init": True,
        "apparmor": True,
        "python": (3, 10),
    }


def test_platform_traits_of_a_minimal_host():
    output = ["cloud_init=", "apparmor=", "python="]
    assert PlatformTraits().process(output) == {
        "cloud_init": False,
        "apparmor": False,
        "python": None,
    }


def test_ssh_socket_states():
    assert SshSocket().process(["enabled=enabled", "active=active"]) == {
        "enabled": "enabled",
        "active": "active",
    }
    # A release without the unit: systemctl prints nothing on stdout.
    assert SshSocket().process(["enabled=", "active="]) == {"enabled": "", "active": ""}
