"""
Intrusion prevention from outside (2024 II.C.c: a firewall that detects and prevents
intrusions), with the lab's short ban times: a reader flooding the portal from `public` is
banned at the firewall over IPv4 and IPv6 and released; a scanner probing paths no difusor
has is banned, a reader's mistyped paths are not; a reader behind the CDN stand-in (`ople`,
trusted and in the lab's cdn_networks) is banned in nginx by its real address while the CDN
and its other readers are served; wrong rsync passwords ban the trusted source on 873 only.
Every test ends with no ban left.
"""

from __future__ import annotations

import functools
import json
import socket
import subprocess
import sys

import pytest

from difusor import paths
from difusor.rehearsal.lab import (
    LAB_IPV4,
    LAB_IPV6,
    OPLE_IPV4,
    OPLE_IPV6,
    PUBLIC_IPV4,
    PUBLIC_IPV6,
    READER_IPV4,
)
from difusor.rehearsal.lab.inventory import LAB_BAN_SECONDS, lab_secrets
from difusor.rehearsal.lab.network import namespace
from difusor.rehearsal.lab.simulacro import PORTAL_NAME, RSYNC_URL

from .bans import banned, fail2ban, wait_for

# Readers as the CDN stand-in forwards them (TEST-NET-3 addresses, not on the lab network).
CDN_READER = "203.0.113.77"
OTHER_CDN_READER = "203.0.113.78"
PROBES = ("/wp-login.php", "/.env", "/phpmyadmin/", "/.git/config", "/xmlrpc.php", "/admin.php")
READER_MISTAKES = (
    "/favicon.ico",
    "/robots.txt",
    "/resultados/2018/VER_GUB_2018.csv",
    "/resultado.htm",
    "/.well-known/security.txt",
)


@pytest.fixture(autouse=True)
def no_ban_left(lab):
    yield
    fail2ban(lab, "unban", "--all")


def start_load(
    lab, ns: str, host: str, requests: int, seconds: float, interval: float = 0, *headers: str
) -> subprocess.Popen:
    """The lab's load generator in a namespace, in the background (bounded in count and time)."""
    argv = ["ip", "netns", "exec", namespace(ns).name, sys.executable, "-m"]
    argv += ["difusor.rehearsal.lab.load", "--host", host, "--name", PORTAL_NAME, "--path", "/"]
    argv += ["--requests", str(requests), "--seconds", str(seconds), "--interval", str(interval)]
    argv += ["--threads", "1" if interval else "4"]
    for header in headers:
        argv += ["--header", header]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def finish(load: subprocess.Popen) -> dict:
    """The load's report: requests sent and status counts (a timeout counts by its name)."""
    return json.loads(load.communicate(timeout=120)[0])


# How long a flood lasts at most (it is also bounded by its size).
FLOOD_SECONDS = 10


def flood_size(settings) -> int:
    """Requests enough to be refused twice as often as the flood jail bans for, however slowly
    they are sent within FLOOD_SECONDS: the burst and the rate are allowed, the rest refused."""
    allowed = settings.rate_limit_per_second * (10 + FLOOD_SECONDS)
    return allowed + 2 * settings.portal_flood_jail_maxretry


def status(lab, ns: str, path: str = "/", forwarded_for: str | None = None) -> str:
    """The HTTP status a reader in the namespace gets (000: no answer)."""
    header = ["-H", f"X-Forwarded-For: {forwarded_for}"] if forwarded_for else []
    result = lab.run_in(
        ns,
        [
            "curl",
            "-sk",
            "--max-time",
            "3",
            "--resolve",
            f"{PORTAL_NAME}:443:{LAB_IPV4}",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            *header,
            f"https://{PORTAL_NAME}{path}",
        ],
    )
    return result.stdout.strip()


def test_a_flooding_reader_is_banned_and_released_and_no_one_else(lab, settings, summary_line):
    flooder = {PUBLIC_IPV4, PUBLIC_IPV6}
    size = flood_size(settings)
    # Another reader on its own address, two requests a second until after the release.
    reader = start_load(lab, "reader", LAB_IPV4, 10_000, LAB_BAN_SECONDS + 15, 0.5)
    floods = [
        start_load(lab, "public", host, size, FLOOD_SECONDS) for host in (LAB_IPV4, f"[{LAB_IPV6}]")
    ]
    trusted = start_load(lab, "ople", LAB_IPV4, size, FLOOD_SECONDS)

    to_ban = wait_for(lambda: flooder <= banned(lab, "portal-flood"), 30)
    assert to_ban is not None, banned(lab, "portal-flood")
    for address in (LAB_IPV4, LAB_IPV6):
        assert not lab.tcp_reachable("public", address, 443, timeout=2), address
    for ns, port in (("ople", 443), ("ople", 22), ("reader", 443)):
        assert lab.tcp_reachable(ns, LAB_IPV4, port), (ns, port)

    # The trusted source was refused as often as the flooder, and is not banned.
    assert finish(trusted)["status"].get("429", 0) >= settings.portal_flood_jail_maxretry
    assert not banned(lab, "portal-flood") & {OPLE_IPV4, OPLE_IPV6, READER_IPV4}

    released = wait_for(lambda: not flooder & banned(lab, "portal-flood"), LAB_BAN_SECONDS + 15)
    assert released is not None
    # Lifted at the firewall and in nginx (each action may end a moment after the jail's list).
    for address in (LAB_IPV4, LAB_IPV6):
        reachable = functools.partial(lab.tcp_reachable, "public", address, 443)
        assert wait_for(reachable, 5) is not None, address
    assert wait_for(lambda: status(lab, "public") == "200", 5) is not None
    for flood in floods:
        assert finish(flood)["status"].get("429", 0) > 0
    served = finish(reader)
    assert served["status"] == {"200": served["sent"]}, served
    summary_line(
        f"public banned {to_ban:.1f} s into its flood (IPv4, IPv6), released {released:.1f} s "
        f"later; {served['sent']} requests of another reader all served"
    )


def test_a_scanner_is_banned_and_a_readers_404s_never_count(lab, settings, summary_line):
    for path in READER_MISTAKES * 2:
        assert status(lab, "reader", path) == "404", path
    for path in PROBES[: settings.portal_scan_jail_maxretry]:
        assert status(lab, "public", path) == "404", path

    to_ban = wait_for(lambda: PUBLIC_IPV4 in banned(lab, "portal-scan"), 15)
    assert to_ban is not None
    assert not lab.tcp_reachable("public", LAB_IPV4, 443, timeout=2)
    assert READER_IPV4 not in banned(lab, "portal-scan")
    assert status(lab, "reader") == "200"
    summary_line(f"banned {to_ban:.1f} s after its last probe; the reader's 404s not counted")


def test_a_reader_behind_the_cdn_is_banned_in_nginx_by_its_real_address(
    lab, settings, summary_line
):
    flood = start_load(
        lab,
        "ople",
        LAB_IPV4,
        flood_size(settings),
        FLOOD_SECONDS,
        0,
        f"X-Forwarded-For: {CDN_READER}",
    )
    to_ban = wait_for(lambda: CDN_READER in banned(lab, "portal-flood"), 30)
    assert to_ban is not None
    # nginx answers the banned reader 403 once it has reloaded its ban list.
    assert wait_for(lambda: status(lab, "ople", "/", CDN_READER) == "403", 10) is not None
    bans = lab.ssh(f"cat {paths.NGINX_BANS_DIR}/portal-flood.conf").stdout
    assert bans.splitlines() == [f"{CDN_READER} 1;"]
    # The CDN itself and its other readers are served, and never banned.
    assert status(lab, "ople", "/", OTHER_CDN_READER) == "200"
    assert status(lab, "ople") == "200"
    assert not banned(lab, "portal-flood") & {OPLE_IPV4, OPLE_IPV6}
    finish(flood)

    fail2ban(lab, "set", "portal-flood", "unbanip", CDN_READER)
    assert wait_for(lambda: status(lab, "ople", "/", CDN_READER) == "200", 10) is not None
    summary_line(f"{CDN_READER} behind the CDN answered 403 {to_ban:.1f} s into its flood")


def wrong_rsync_password(lab) -> subprocess.CompletedProcess:
    password = "not-" + lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]
    return lab.run_in(
        "ople",
        [
            "env",
            f"RSYNC_PASSWORD={password}",
            "rsync",
            "--contimeout=5",
            "/etc/hostname",
            RSYNC_URL,
        ],
    )


def test_wrong_rsync_passwords_ban_the_trusted_source_on_873_only(lab, settings, summary_line):
    for _ in range(settings.rsync_jail_maxretry):
        assert "auth failed" in wrong_rsync_password(lab).stderr
    to_ban = wait_for(lambda: OPLE_IPV4 in banned(lab, "rsync-auth"), 15)
    assert to_ban is not None

    assert not lab.tcp_reachable("ople", LAB_IPV4, 873, timeout=2)
    for port in (22, 80, 443):
        assert lab.tcp_reachable("ople", LAB_IPV4, port), port
    # Only the address that failed: ople's IPv6 address and the controller still reach 873.
    assert lab.tcp_reachable("ople", LAB_IPV6, 873)
    socket.create_connection((LAB_IPV4, 873), timeout=3).close()
    for jail in ("sshd", "portal-flood", "portal-scan"):
        assert OPLE_IPV4 not in banned(lab, jail), jail
    summary_line(
        f"ople banned on 873 {to_ban:.1f} s after {settings.rsync_jail_maxretry} wrong "
        "passwords; 22, 80, 443 open"
    )
