"""A converged lab host as ``difusor evidence`` observes it (values captured from the lab),
and its settings, for the evidence's unit tests."""

from __future__ import annotations

import copy
from typing import Any

from difusor.deploys.firewall import desired_rules
from difusor.evidence.observe import UNITS
from difusor.settings import Settings, parse_settings


def lab_settings(public_key: str, **overrides: Any) -> Settings:
    data = {
        "portal_domain": "prep.lab.test",
        "admin_email": "sistemas@example.com.mx",
        "rehearsal": True,
        "trusted_sources": {
            "lab-controller": ["198.18.0.1/32", "fd42:d1f0:5e::1/128"],
            "ople": ["198.18.0.20/32", "fd42:d1f0:5e::20/128"],
        },
        "operators": [{"name": "operador", "ssh_keys": [public_key]}],
        "ntp_servers": ["198.18.0.20"],
        "ntp_clock_control": False,
        "tls_source": "selfsigned",
        "embed_origins": ["https://www.difusor.rehearsal.lab.test"],
        "cdn_networks": ["198.18.0.20/32", "fd42:d1f0:5e::20/128"],
        "docker_public_ports": [82],
        "docker_trusted_ports": [81],
        "contacts": [
            {
                "name": "Coordinación del ensayo",
                "role": "Coordinación",
                "phone": "+52 228 000 0101",
                "email": "coordinacion@difusor.rehearsal.lab.test",
            }
        ],
    }
    return parse_settings({**data, **overrides}, {"rsync_password": "a-long-lab-password"})


def suite_cases(failed: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """A few of the host suite's test ids, passed unless named in ``failed``."""
    ids = [
        "tests/host/test_firewall.py::test_active_with_default_policies",
        "tests/host/test_firewall.py::test_public_ports_open_to_anyone[80]",
        "tests/host/test_firewall.py::test_trusted_ports_only_for_trusted_sources[22]",
        "tests/host/test_firewall.py::test_trusted_ports_only_for_trusted_sources[873]",
        "tests/host/test_firewall.py::test_nothing_else_allowed",
        "tests/host/test_ssh.py::test_sshd_running_and_config_private",
        "tests/host/test_ssh.py::test_sshd_effective_config[maxauthtries-2]",
        "tests/host/test_ssh.py::test_fail2ban_guards_sshd",
        "tests/host/test_base.py::test_network_sysctl[net.ipv4.tcp_syncookies-1]",
        "tests/host/test_base.py::test_kernel_sysctl[kernel.sysrq-0]",
        "tests/host/test_portal.py::test_nginx_effective_config[ssl_protocols TLSv1.2 TLSv1.3;]",
    ]
    outcome = {"tests/host/test_base.py::test_kernel_sysctl[kernel.sysrq-0]": "skipped"}
    return [
        {
            "id": case,
            "outcome": "failed" if case.split("::")[1] in failed else outcome.get(case, "passed"),
            "message": "",
        }
        for case in ids
    ]


def lab_observed(settings: Settings) -> dict[str, Any]:
    """What the evidence reads on the converged lab host, from the operator at 198.18.0.1."""
    return copy.deepcopy(
        {
            "operator_address": "198.18.0.1",
            "operator_trusted": True,
            "target": {"name": "difusor-lab", "address": "198.18.0.10"},
            "os": {
                "name": "Debian",
                "major": 12,
                "minor": 8,
                "pretty": "Debian GNU/Linux 12 (bookworm)",
            },
            "container": "systemd-nspawn",
            "resources": {
                "cores": 2,
                "mhz": 2596,
                "memory_mb": 24105,
                "root_gb": 252,
                "rotational": None,
            },
            "addresses": [
                {"interface": "host0", "address": "198.18.0.10", "prefixlen": 24, "public": False},
                {
                    "interface": "host0",
                    "address": "fd42:d1f0:5e::10",
                    "prefixlen": 64,
                    "public": False,
                },
                {"interface": "docker0", "address": "172.29.0.1", "prefixlen": 24, "public": False},
            ],
            "services": {unit: {"active": True, "enabled": True} for unit in UNITS},
            "ufw": {
                "enabled": True,
                "ipv6": True,
                "logging": "low",
                "defaults": {"incoming": "deny", "outgoing": "allow", "routed": "deny"},
                "rules": desired_rules(settings),
                "active": True,
            },
            "sshd": {
                "permitrootlogin": "without-password",
                "pubkeyauthentication": "yes",
                "passwordauthentication": "no",
            },
            "access": {"root_keys": 0, "sudo_members": ["operador"]},
            "nginx": {
                "ssl_protocols": ["TLSv1.2 TLSv1.3"],
                "server_name": ["prep.lab.test", "prep.lab.test"],
                "userid": ["on"],
                "access_log": ["/var/log/nginx/access.log difusor_json buffer=64k flush=1s"],
                "limit_req": ["zone=difusor_req burst=300 nodelay"],
                "limit_conn": ["difusor_conn 100"],
            },
            "certificate": {
                "serial": "447387715F9953EB",
                "not_after": "Feb 22 20:26:45 2099 GMT",
                "issuer": "CN = Pebble Intermediate CA 11a692",
                "names": ["prep.lab.test"],
            },
            "chrony": {
                "reference": "C6120014 (198.18.0.20)",
                "stratum": 9,
                "offset_seconds": -2.7e-05,
                "leap_status": "Normal",
                "sources": ["198.18.0.20"],
            },
            "fail2ban": {
                "sshd": {
                    "currently_failed": 0,
                    "total_failed": 0,
                    "currently_banned": 0,
                    "total_banned": 0,
                }
            },
            "docker": {"version": "Docker 20.10.24+dfsg1", "containers": []},
            "publisher": {
                "status": {
                    "live": {
                        "corte": "2026-11-24T14:15:00-06:00",
                        "package": "20261124_1415_PREP_VER.zip",
                    },
                    "releases": ["20261124T1415-94d0ec20748d"],
                    "quarantine": [],
                    "health": {"status": "ok", "level": "ok", "missed_periods": 0},
                },
                "config": {"window_start": None, "keep_releases": 10},
                "archive": {"published": 1, "rejected": 0},
                "integrity": {
                    "release": "20261124T1415-94d0ec20748d",
                    "package": "20261124_1415_PREP_VER.zip",
                    "files": 8,
                    "bytes": 8586540,
                    "mismatched": [],
                    "missing": [],
                    "archived": True,
                    "archived_sha256_ok": True,
                },
            },
            "lynis": None,
            "reachability": {
                "22": {
                    "open": True,
                    "answer": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
                    "error": "",
                },
                "80": {"open": True, "answer": "", "error": ""},
                "443": {"open": True, "answer": "", "error": ""},
                "873": {"open": True, "answer": "@RSYNCD: 31.0", "error": ""},
            },
            "dns": {"addresses": [], "error": "Name or service not known"},
            "http": {
                "/": {
                    "status": 200,
                    "verified": True,
                    "body": "",
                    "headers": {
                        "content-security-policy": "frame-ancestors 'self' "
                        "https://www.difusor.rehearsal.lab.test; base-uri 'self'; object-src 'none'"
                    },
                },
                "/corte.json": {
                    "status": 200,
                    "verified": True,
                    "headers": {},
                    "body": '{"package": "20261124_1415_PREP_VER.zip"}',
                },
            },
            "suite": {"ran": True, "seconds": 41.0, "cases": suite_cases()},
            "tls": {
                "accepted": {
                    "ssl_2_0": 0,
                    "ssl_3_0": 0,
                    "tls_1_0": 0,
                    "tls_1_1": 0,
                    "tls_1_2": 6,
                    "tls_1_3": 3,
                },
                "mozilla_intermediate": True,
                "issues": [],
            },
            "timings": {},
        }
    )
