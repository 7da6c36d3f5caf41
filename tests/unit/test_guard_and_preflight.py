import pytest

from difusor.guard import lockout_problems
from difusor.preflight import resource_warnings, unsupported_system
from difusor.settings import parse_settings


@pytest.fixture()
def settings(valid_data):
    return parse_settings(valid_data)


def test_trusted_client_passes(settings):
    assert lockout_problems(settings, "203.0.113.3", uses_password=False) == []
    assert lockout_problems(settings, "2001:db8:10::7", uses_password=False) == []


def test_local_connection_has_no_client(settings):
    assert lockout_problems(settings, None, uses_password=False) == []


def test_untrusted_client_is_named(settings):
    problems = lockout_problems(settings, "198.51.100.9", uses_password=False)
    assert len(problems) == 1
    assert "198.51.100.9 is in none of trusted_sources (ople)" in problems[0]


def test_password_login_with_passwords_switched_off(settings):
    problems = lockout_problems(settings, "203.0.113.3", uses_password=True)
    assert "ssh_password_authentication is False" in problems[0]


@pytest.mark.parametrize(
    "name, major, minor, supported",
    [
        ("Ubuntu", 22, 4, True),
        ("Ubuntu", 24, 4, True),
        ("Debian", 12, None, True),
        ("Ubuntu", 20, 4, False),
        ("Ubuntu", 22, 10, False),
        ("Debian", 11, None, False),
        ("CentOS", 9, None, False),
    ],
)
def test_supported_systems(name, major, minor, supported):
    problem = unsupported_system(name, major, minor)
    if supported:
        assert problem is None
    else:
        assert problem is not None
        assert "is not supported (supported: Debian 12, Ubuntu 22.04, Ubuntu 24.04)" in problem


def test_institute_minimum_gives_no_warning():
    resources = {"cores": 8, "mhz": 2400, "memory_mb": 15921, "root_gb": 93, "rotational": False}
    assert resource_warnings(resources) == []


def test_small_rehearsal_host_gets_every_warning():
    resources = {"cores": 2, "mhz": 1800, "memory_mb": 4000, "root_gb": 20, "rotational": True}
    warnings = resource_warnings(resources)
    assert warnings == [
        "2 CPU cores, the institute asks for 8",
        "CPU at 1800 MHz, the institute asks for >= 2000",
        "4000 MiB of memory, the institute asks for 16 GB",
        "20 GiB root file system, the institute asks for 100 GB",
        "the root file system is on a rotational disk, the institute asks for SSD",
    ]
