"""Intrusion prevention as the running server has it: fail2ban's jails and their thresholds
(fail2ban-client), the ports each ban closes, who is never banned, nginx's ban lists."""

import re

import pytest

from difusor import paths
from difusor.deploys.portal import PORTAL_JAILS, ban_list

# Each jail and the settings prefix of its thresholds.
JAILS = {
    "sshd": "ssh",
    "portal-flood": "portal_flood",
    "portal-scan": "portal_scan",
    "rsync-auth": "rsync",
}
PORTS = {"sshd": "22", "portal-flood": "80,443", "portal-scan": "80,443", "rsync-auth": "873"}


def client(host, *args: str) -> str:
    return host.check_output("fail2ban-client " + " ".join(args))


def test_fail2ban_runs_exactly_the_jails(host):
    assert host.service("fail2ban").is_running and host.service("fail2ban").is_enabled
    listed = re.search(r"Jail list:\s*(.*)$", client(host, "status"), re.M)
    assert listed and sorted(listed[1].split(", ")) == sorted(JAILS)


@pytest.mark.parametrize("jail", JAILS)
@pytest.mark.parametrize("option", ["maxretry", "findtime", "bantime"])
def test_thresholds_are_the_settings(host, settings, jail, option):
    assert int(client(host, "get", jail, option)) == getattr(
        settings, f"{JAILS[jail]}_jail_{option}"
    )


@pytest.mark.parametrize("jail", JAILS)
def test_each_ban_closes_its_ports_at_the_firewall(host, jail):
    actions = client(host, "get", jail, "actions").splitlines()[-1].split(", ")
    assert "nftables" in actions
    assert client(host, "get", jail, "action", "nftables", "port") == PORTS[jail]
    assert client(host, "get", jail, "action", "nftables", "blocktype") == "drop"
    # Portal bans are also enforced in nginx, by the reader's real address.
    assert ("difusor-nginx-ban" in actions) == jail.startswith("portal-")


def ignored(host, jail: str) -> str:
    return client(host, "get", jail, "ignoreip")


def listed(network, text: str) -> bool:
    return str(network) in text or (
        network.num_addresses == 1 and str(network.network_address) in text
    )


@pytest.mark.parametrize("jail", ["sshd", "portal-flood", "portal-scan"])
def test_trusted_sources_are_never_banned_from_ssh_or_the_portal(host, settings, jail):
    text = ignored(host, jail)
    assert all(listed(network, text) for _, network in settings.networks())


@pytest.mark.parametrize("jail", ["portal-flood", "portal-scan"])
def test_cdn_addresses_are_never_banned_from_the_portal(host, settings, jail):
    text = ignored(host, jail)
    assert all(listed(network, text) for network in settings.cdn_networks)


def test_rsync_bans_trusted_sources_on_873(host, settings):
    text = ignored(host, "rsync-auth")
    assert not any(listed(network, text) for _, network in settings.networks())


@pytest.mark.parametrize(
    "jail, log",
    [
        ("portal-flood", paths.NGINX_ERROR_LOG),
        ("portal-scan", paths.NGINX_ACCESS_LOG),
        ("rsync-auth", paths.RSYNC_LOG),
    ],
)
def test_file_jails_watch_their_logs(host, jail, log):
    assert client(host, "get", jail, "logpath").splitlines()[-1].endswith(log)


def test_sshd_jail_reads_the_journal(host):
    assert "_COMM=sshd" in client(host, "get", "sshd", "journalmatch")


def test_nginx_includes_the_ban_lists(host):
    config = host.check_output("nginx -T 2>/dev/null")
    for jail in PORTAL_JAILS:
        assert host.file(ban_list(jail)).is_file, jail
        assert f"include {ban_list(jail)};" in config
    assert "if ($difusor_banned)" in config


def test_no_jail_file_of_earlier_versions(host):
    assert not host.file("/etc/fail2ban/jail.d/difusor-sshd.local").exists
