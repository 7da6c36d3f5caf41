"""
The fail2ban jails as rendered: thresholds from the settings, who is never banned, and each
filter against log lines in the exact format nginx and rsync write (the portal's access log
line is built from nginx.conf's own log_format, so the two cannot drift apart).
"""

import configparser
import json
import re

import pytest

from difusor import paths
from difusor.deploys import intrusion
from difusor.deploys.portal import CLOUDFLARE_NETWORKS, PORTAL_JAILS, ban_list, nginx_config
from difusor.render import render
from difusor.settings import SettingsError, parse_settings

# fail2ban's <ADDR> tag: an IPv4 or IPv6 address.
ADDR = r"(?P<addr>[0-9a-fA-F.:]+)"


@pytest.fixture()
def settings(valid_data):
    return parse_settings(
        dict(
            valid_data,
            trusted_sources={"ople": ["203.0.113.20/32", "2001:db8:10::/48"]},
            cdn_networks=["192.0.2.0/24", "203.0.113.20/32"],
        )
    )


def jail_file(settings) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read_string(
        render(
            "fail2ban/jails.local.j2",
            jails=intrusion.jails(settings),
            nginx_action=intrusion.NGINX_ACTION,
        )
    )
    return parser


def failregex(name: str) -> re.Pattern:
    """The filter's failregex as fail2ban compiles it: interpolated, <ADDR> an address."""
    parser = configparser.ConfigParser()
    parser.read_string(render(f"fail2ban/{name}.conf.j2", **intrusion.filter_contexts()[name]))
    return re.compile(parser["Definition"]["failregex"].replace("<ADDR>", ADDR))


def banned_address(name: str, line: str, date: str) -> str | None:
    """The address a filter takes from a line, after fail2ban has cut the date off it."""
    rest = re.sub(date, "", line, count=1)
    match = failregex(name).search(rest)
    return match["addr"] if match else None


def test_default_thresholds(valid_data):
    settings = parse_settings(valid_data)
    by_name = {jail.name: jail for jail in intrusion.jails(settings)}
    assert [(j.maxretry, j.findtime, j.bantime) for j in by_name.values()] == [
        (5, 600, 3600),  # sshd, as the SSH role had it
        (600, 60, 600),  # portal-flood
        (3, 600, 3600),  # portal-scan
        (5, 600, 600),  # rsync-auth: shorter than a corte period
    ]


def test_jails_take_their_thresholds_from_the_settings(valid_data):
    settings = parse_settings(
        dict(valid_data, portal_scan_jail_maxretry=4, rsync_jail_bantime=30, ssh_jail_findtime=60)
    )
    jails = jail_file(settings)
    assert jails["portal-scan"]["maxretry"] == "4"
    assert jails["rsync-auth"]["bantime"] == "30"
    assert jails["sshd"]["findtime"] == "60"


def test_ports_each_jail_closes_and_where(settings):
    jails = jail_file(settings)
    assert jails.sections() == ["sshd", "portal-flood", "portal-scan", "rsync-auth"]
    for name, ports in (("sshd", "22"), ("portal-flood", "80,443"), ("rsync-auth", "873")):
        action = jails[name]["action"].splitlines()
        assert action[0] == (
            f'nftables[type=multiport, port="{ports}", protocol=tcp, blocktype=drop]'
        ), name
    # Portal bans are also enforced in nginx (a reader behind the CDN); the others are not.
    assert jails["portal-scan"]["action"].splitlines()[1] == intrusion.NGINX_ACTION
    assert len(jails["rsync-auth"]["action"].splitlines()) == 1
    assert jails["sshd"]["backend"] == "systemd" and "logpath" not in jails["sshd"]
    assert jails["portal-flood"]["logpath"] == paths.NGINX_ERROR_LOG
    assert jails["portal-scan"]["logpath"] == paths.NGINX_ACCESS_LOG
    assert jails["rsync-auth"]["logpath"] == paths.RSYNC_LOG


def test_who_is_never_banned(settings):
    jails = jail_file(settings)
    loopback = ["127.0.0.1/8", "::1"]
    trusted = ["203.0.113.20/32", "2001:db8:10::/48"]
    assert jails["sshd"]["ignoreip"].split() == loopback + trusted
    # The portal never bans a trusted source nor a CDN address (each listed once).
    assert jails["portal-flood"]["ignoreip"].split() == [*loopback, *trusted, "192.0.2.0/24"]
    assert jails["portal-scan"]["ignoreip"] == jails["portal-flood"]["ignoreip"]
    # Only trusted sources reach 873: the rsync jail must be able to ban them (there only).
    assert jails["rsync-auth"]["ignoreip"].split() == loopback


def test_cloudflare_edges_are_never_banned_from_the_portal(valid_data):
    settings = parse_settings(dict(valid_data, cdn="cloudflare"))
    ignored = jail_file(settings)["portal-flood"]["ignoreip"].split()
    assert set(CLOUDFLARE_NETWORKS) <= set(ignored)


def access_line(settings, **values: str) -> str:
    """One access log line as nginx writes it with the portal's log_format difusor_json."""
    conf = nginx_config(settings)
    block = re.search(r"log_format difusor_json escape=json (.*?);\n", conf, re.S)
    assert block
    template = "".join(re.findall(r"'([^']*)'", block[1]))
    samples = {
        "time_iso8601": "2026-11-22T01:08:00-06:00",
        "remote_addr": "198.51.100.7",
        "status": "404",
        "body_bytes_sent": "153",
        "request_time": "0.000",
        "request_method": "GET",
        "host": "prep.example.com.mx",
        **values,
    }

    def value(match: re.Match) -> str:
        # escape=json: quotes and backslashes escaped, as json.dumps does.
        return json.dumps(samples.get(match[1], ""))[1:-1]

    line = re.sub(r"\$(\w+)", value, template)
    assert json.loads(line)["status"] == int(samples["status"])
    return line


def scanned(settings, path: str, status: str = "404", **values: str) -> str | None:
    line = access_line(settings, uri=path, status=status, **values)
    return banned_address("difusor-portal-scan", line, r'^\{"time":"[^"]+"')


@pytest.mark.parametrize(
    "path",
    [
        "/wp-login.php",
        "/WP-ADMIN/",
        "/xmlrpc.php",
        "/.env",
        "/.git/config",
        "/static/.aws/credentials",
        "/phpmyadmin/index.php",
        "/cgi-bin/luci",
        "/index.php/x",
        "/backup.sql",
    ],
)
def test_a_probe_answered_404_counts(settings, path):
    assert scanned(settings, path) == "198.51.100.7"


@pytest.mark.parametrize(
    "path",
    [
        "/favicon.ico",
        "/robots.txt",
        "/apple-touch-icon.png",
        "/resultados/2018/VER_GUB_2018.csv",
        "/resultados.htm",
        "/.well-known/security.txt",
        "/.well-known/acme-challenge/token",
        "/phpinfo",
        "/pmapa.html",
    ],
)
def test_a_readers_404_never_counts(settings, path):
    assert scanned(settings, path) is None


def test_a_probe_that_exists_does_not_count(settings):
    assert scanned(settings, "/wp-login.php", status="200") is None


def test_a_field_cannot_fake_the_path(settings):
    assert scanned(settings, "/", host='x","path":"/.env') is None
    assert scanned(settings, '/x","status":404,"p":"/.env') is None


def test_ipv6_readers_are_counted(settings):
    assert scanned(settings, "/.env", remote_addr="2001:db8:77::5") == "2001:db8:77::5"


NGINX_DATE = r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"


@pytest.mark.parametrize(
    "line, address",
    [
        (
            "2026/11/22 01:08:00 [warn] 812#812: *5219 limiting requests, excess: 300.520 by zone "
            '"difusor_req", client: 198.51.100.7, server: prep.example.com.mx, request: '
            '"GET / HTTP/2.0", host: "prep.example.com.mx"',
            "198.51.100.7",
        ),
        (
            "2026/11/22 01:08:00 [warn] 812#812: *5220 limiting connections by zone "
            '"difusor_conn", client: 2001:db8:77::5, server: prep.example.com.mx, request: '
            '"GET / HTTP/1.1", host: "prep.example.com.mx"',
            "2001:db8:77::5",
        ),
        (
            '2026/11/22 01:08:00 [error] 812#812: *5221 open() "/srv/x" failed (2: No such file '
            "or directory), client: 198.51.100.8, server: prep.example.com.mx, request: "
            '"GET /x HTTP/2.0", host: "limiting requests, excess: 1 by zone "a", client: 1.2.3.4,"',
            None,
        ),
    ],
    ids=["rate-limit", "connection-limit", "other-error"],
)
def test_flood_filter_counts_refusals_only(line, address):
    assert banned_address("difusor-portal-flood", line, NGINX_DATE) == address


@pytest.mark.parametrize(
    "line, address",
    [
        (
            "2026/11/22 01:08:00 [2345] auth failed on module prep from UNDETERMINED "
            "(198.51.100.20) for prep: password mismatch",
            "198.51.100.20",
        ),
        (
            "2026/11/22 01:08:00 [2346] auth failed on module prep from unknown "
            "(2001:db8:10::20) for intruso: unauthorized user",
            "2001:db8:10::20",
        ),
        (
            "2026/11/22 01:08:00 [2345] auth failed on module prep from unknown "
            "(198.51.100.21): password mismatch",
            "198.51.100.21",
        ),
        ("2026/11/22 01:08:00 [2347] connect from unknown (198.51.100.20)", None),
        ("2026/11/22 01:08:00 [2347] rsync allowed access on module prep from x (1.2.3.4)", None),
    ],
    ids=["password", "user", "without-user", "connect", "allowed"],
)
def test_rsync_filter_counts_authentication_failures(line, address):
    assert banned_address("difusor-rsync-auth", line, NGINX_DATE) == address


def test_nginx_enforces_the_bans_by_the_real_address(settings):
    conf = nginx_config(settings)
    # geo reads $remote_addr, which set_real_ip_from has already made the reader's address.
    assert "set_real_ip_from 192.0.2.0/24;" in conf
    lists = "".join(rf"\s*include {re.escape(ban_list(jail))};" for jail in PORTAL_JAILS)
    assert re.search(r"geo \$difusor_banned \{\s*default 0;" + lists + r"\s*\}", conf)
    https = conf[conf.index("listen 443") :]
    assert re.search(r"if \(\$difusor_banned\) \{\s*return 403;\s*\}", https)
    # Refusals reach the error log the flood jail reads.
    assert "limit_req_log_level warn;" in conf and "limit_conn_log_level warn;" in conf
    assert f"error_log {paths.NGINX_ERROR_LOG} warn;" in conf


# Methods of fail2ban's actions: an [Init] tag of one of these names is taken for a method
# call with JSON arguments, and fail2ban stops at its start (fail2ban 1.0, transmitter.py).
ACTION_METHODS = {"start", "stop", "ban", "unban", "flush", "reload", "prolong", "consistencyCheck"}


def test_the_nginx_action_tags_are_no_action_methods():
    action = configparser.RawConfigParser()
    action.read_string(render("fail2ban/difusor-nginx-ban.conf.j2", bans_dir=paths.NGINX_BANS_DIR))
    assert not set(action["Init"]) & ACTION_METHODS


def test_the_nginx_action_writes_geo_entries_per_jail(settings):
    action = configparser.RawConfigParser()
    action.read_string(render("fail2ban/difusor-nginx-ban.conf.j2", bans_dir=paths.NGINX_BANS_DIR))
    assert action["Init"]["bans_file"] == "<bans_dir>/<name>.conf"
    # The lists nginx includes are those the action writes, one per jail enforced in nginx.
    in_nginx = [jail.name for jail in intrusion.jails(settings) if jail.in_nginx]
    assert in_nginx == list(PORTAL_JAILS)
    assert ban_list(in_nginx[0]) == f"{paths.NGINX_BANS_DIR}/{in_nginx[0]}.conf"
    assert action["Definition"]["actionban"].startswith("echo '<ip> 1;' >> <bans_file>")
    assert "grep -vxF '<ip> 1;' <bans_file>" in action["Definition"]["actionunban"]


INTRUSION_MALFORMED = [
    (
        "scan_bans_on_one_request",
        {"portal_scan_jail_maxretry": 1},
        "portal_scan_jail_maxretry: Input should be greater than or equal to 2",
    ),
    (
        "flood_bans_on_a_few_refusals",
        {"portal_flood_jail_maxretry": 3},
        "portal_flood_jail_maxretry: Input should be greater than or equal to 10",
    ),
    (
        "ban_too_short",
        {"ssh_jail_bantime": 5},
        "ssh_jail_bantime: Input should be greater than or equal to 10",
    ),
    (
        "ban_over_a_week",
        {"rsync_jail_bantime": 8 * 86400},
        "rsync_jail_bantime: Input should be less than or equal to 604800",
    ),
    (
        "find_time_over_a_day",
        {"portal_flood_jail_findtime": 2 * 86400},
        "portal_flood_jail_findtime: Input should be less than or equal to 86400",
    ),
    (
        "retries_not_a_number",
        {"rsync_jail_maxretry": "five"},
        "rsync_jail_maxretry: Input should be a valid integer",
    ),
]


@pytest.mark.parametrize(
    "change, expected",
    [c[1:] for c in INTRUSION_MALFORMED],
    ids=[c[0] for c in INTRUSION_MALFORMED],
)
def test_malformed_intrusion_settings(valid_data, change, expected):
    with pytest.raises(SettingsError) as error:
        parse_settings({**valid_data, **change})
    assert expected in str(error.value)
