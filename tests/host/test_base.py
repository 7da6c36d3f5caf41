"""Base system: packages, time zone, unattended upgrades, sysctl, journal."""

import re

import pytest

from difusor.deploys.base import APT_PROXY_FILE, BASE_PACKAGES, JOURNALD_FILE, NEEDRESTART_FILE
from difusor.hardening import SYSCTL_FILE, SYSCTL_KERNEL, SYSCTL_NETWORK
from difusor.platform import DEBIAN_SECURITY_ORIGINS, UBUNTU_SECURITY_ORIGINS


@pytest.fixture(scope="module")
def in_container(host) -> bool:
    return host.run("systemd-detect-virt --container").stdout.strip() not in ("", "none")


@pytest.mark.parametrize("package", BASE_PACKAGES)
def test_base_packages_installed(host, package):
    assert host.package(package).is_installed


def test_timezone(host, settings):
    assert host.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{settings.timezone}"


def test_unattended_security_upgrades(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in config
    assert host.service("unattended-upgrades").is_enabled


def test_security_origins_are_exactly_the_distributions(host):
    """Whatever the image's 50unattended-upgrades lists, the origins are the kit's (Ubuntu's
    security pocket and ESM, or Debian's security archive), and only those."""
    ubuntu = host.system_info.distribution == "ubuntu"
    key = "Allowed-Origins" if ubuntu else "Origins-Pattern"
    wanted = UBUNTU_SECURITY_ORIGINS if ubuntu else DEBIAN_SECURITY_ORIGINS
    dump = host.check_output("apt-config dump")
    found = re.findall(rf'^Unattended-Upgrade::{key}:: "(.*)";$', dump, re.MULTILINE)
    assert found == list(wanted)
    other = "Origins-Pattern" if ubuntu else "Allowed-Origins"
    assert not re.findall(rf"^Unattended-Upgrade::{other}:: ", dump, re.MULTILINE)


def test_needrestart_never_asks(host):
    assert host.file(NEEDRESTART_FILE).contains(r"^\$nrconf{restart} = 'l';$")


def test_apt_proxy_matches_settings(host, settings):
    proxy = host.file(APT_PROXY_FILE)
    if settings.apt_proxy:
        assert proxy.contains(f'Acquire::http::Proxy "{settings.apt_proxy}";')
    else:
        assert not proxy.exists


@pytest.mark.parametrize("key, value", SYSCTL_NETWORK.items())
def test_network_sysctl(host, key, value):
    assert host.sysctl(key) == value
    assert host.file(SYSCTL_FILE).contains(f"^{key} = {value}$")


@pytest.mark.parametrize("key, value", SYSCTL_KERNEL.items())
def test_kernel_sysctl(host, in_container, key, value):
    if in_container:
        pytest.skip("not applicable: a container shares its host's kernel (runs in the Vagrant VM)")
    assert host.sysctl(key) == value


def test_journal_is_persistent_and_capped(host, settings):
    assert host.file("/var/log/journal").is_directory
    assert host.file("/var/log/journal").mode == 0o2755
    config = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "Storage=persistent" in config
    assert f"SystemMaxUse={settings.journal_max_use_mb}M" in config
    assert host.file(JOURNALD_FILE).mode == 0o644
    machine_id = host.file("/etc/machine-id").content_string.strip()
    assert host.file(f"/var/log/journal/{machine_id}").is_directory
