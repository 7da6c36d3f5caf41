"""The facts difusor evidence reads: each ``process`` on output captured from a lab host, and
``Remote.fact`` running a fact's command and processing it as pyinfra does."""

import json
import subprocess
from pathlib import Path

from pyinfra.facts.systemd import SystemdStatus

from difusor.facts import (
    ArchivedPackages,
    ChronySources,
    Fail2banJails,
    HostAddresses,
    HostResources,
    JsonDocument,
    LiveReleaseIntegrity,
    LynisReport,
    NginxDirectives,
    PrivilegedAccess,
    SshdConfig,
    UfwActive,
)
from difusor.remote import Remote, SshTarget


class LocalRemote(Remote):
    """A Remote whose commands run on this machine, to test how facts are read."""

    def run(self, command, timeout=120, privileged=True):
        return subprocess.run(
            ["/bin/sh", "-c", command], capture_output=True, text=True, check=False
        )


def test_fail2ban_jails_and_counters():
    output = """\
Status for the jail: sshd
|- Filter
|  |- Currently failed:\t1
|  |- Total failed:\t7
|  `- Journal matches:\t_SYSTEMD_UNIT=sshd.service + _COMM=sshd
`- Actions
   |- Currently banned:\t2
   |- Total banned:\t3
   `- Banned IP list:\t198.18.0.30 fd42:d1f0:5e::30
Status for the jail: nginx-limit
|- Filter
|  |- Currently failed:\t0
|  |- Total failed:\t0
`- Actions
   |- Currently banned:\t0
   |- Total banned:\t0
   `- Banned IP list:\t
""".splitlines()
    assert Fail2banJails().process(output) == {
        "sshd": {
            "currently_failed": 1,
            "total_failed": 7,
            "currently_banned": 2,
            "total_banned": 3,
        },
        "nginx-limit": {
            "currently_failed": 0,
            "total_failed": 0,
            "currently_banned": 0,
            "total_banned": 0,
        },
    }


def test_sshd_config_keeps_repeated_keys():
    output = ["port 22", "permitrootlogin without-password", "hostkey /a", "hostkey /b", ""]
    assert SshdConfig().process(output) == {
        "port": "22",
        "permitrootlogin": "without-password",
        "hostkey": "/a\n/b",
    }


def test_ufw_active():
    assert UfwActive().process(["Status: active"]) is True
    assert UfwActive().process(["Status: inactive"]) is False


def test_nginx_directives_of_the_effective_configuration():
    output = """\
# configuration file /etc/nginx/nginx.conf:
# The whole file is templated: Debian's stock nginx.conf already sets ssl_protocols and
http {
    ssl_protocols TLSv1.2 TLSv1.3;
    log_format difusor_json escape=json
        '{"time":"$time_iso8601",'
        '"client":"$remote_addr"}';
    userid on;
    access_log /var/log/nginx/access.log difusor_json buffer=64k flush=1s;
    server {
        server_name prep.lab.test;
        limit_req zone=difusor_req burst=300 nodelay;
        add_header Content-Security-Policy "frame-ancestors 'self'; base-uri 'self'" always;
    }
    server {
        server_name prep.lab.test;  # the redirect
    }
}
""".splitlines()
    directives = NginxDirectives().process(output)
    assert directives["ssl_protocols"] == ["TLSv1.2 TLSv1.3"]
    assert directives["server_name"] == ["prep.lab.test", "prep.lab.test"]
    assert directives["log_format"] == ["difusor_json escape=json"]
    assert directives["limit_req"] == ["zone=difusor_req burst=300 nodelay"]
    assert directives["add_header"] == [
        "Content-Security-Policy \"frame-ancestors 'self'; base-uri 'self'\" always"
    ]
    assert "http" not in directives and '\'{"time"' not in str(directives)


def test_host_addresses_without_loopback_or_link_local():
    output = [
        json.dumps(
            [
                {
                    "ifname": "lo",
                    "flags": ["LOOPBACK", "UP"],
                    "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}],
                },
                {
                    "ifname": "eth0",
                    "flags": ["UP"],
                    "addr_info": [
                        {"local": "198.18.0.10", "prefixlen": 24},
                        {"local": "fe80::54ed:89ff:fecc:fdc4", "prefixlen": 64},
                        {"local": "2001:4860:4860::8888", "prefixlen": 64},
                        {"local": "203.0.113.7", "prefixlen": 24},
                        {"local": "8.8.4.4", "prefixlen": 24},
                    ],
                },
            ]
        )
    ]
    assert HostAddresses().process(output) == [
        {"interface": "eth0", "address": "198.18.0.10", "prefixlen": 24, "public": False},
        {"interface": "eth0", "address": "2001:4860:4860::8888", "prefixlen": 64, "public": True},
        {"interface": "eth0", "address": "203.0.113.7", "prefixlen": 24, "public": False},
        {"interface": "eth0", "address": "8.8.4.4", "prefixlen": 24, "public": True},
    ]


def test_chrony_sources():
    output = [
        "# pool 2.debian.pool.ntp.org",
        "server 198.18.0.20 iburst",
        "pool 0.mx.pool.ntp.org iburst maxsources 2",
        "server 198.18.0.20 iburst",
    ]
    assert ChronySources().process(output) == ["198.18.0.20", "0.mx.pool.ntp.org"]


def test_privileged_access():
    assert PrivilegedAccess().process(["root_keys=2", "sudo=ana,luis"]) == {
        "root_keys": 2,
        "sudo_members": ["ana", "luis"],
    }
    assert PrivilegedAccess().process(["root_keys=", "sudo="]) == {
        "root_keys": 0,
        "sudo_members": [],
    }


def test_json_document():
    assert JsonDocument().process(['{"live": {', '"corte": null}}']) == {"live": {"corte": None}}
    assert JsonDocument().process(["not json"]) is None


def test_archived_packages(tmp_path):
    for name in (
        "20240602/20240602_2100_PREP_VER.zip",
        "20240602/20240602_2115_PREP_VER.zip",
        "20240602/rejected/x.zip",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"PK")
    remote = LocalRemote(SshTarget("local", "localhost"))
    assert remote.fact(ArchivedPackages, str(tmp_path)) == {"published": 2, "rejected": 1}
    assert remote.fact(ArchivedPackages, str(tmp_path / "none")) == {"published": 0, "rejected": 0}


def release(tmp_path: Path) -> tuple[Path, Path]:
    """A live release as the publisher leaves it, and its archived package."""
    import hashlib

    package = b"PK\x05\x06" + bytes(18)
    current = tmp_path / "releases" / "20240602T2115-abc"
    (current / "site").mkdir(parents=True)
    files = {"site/index.html": b"<html>PREP</html>", "site/VER_GUB_2024.csv": b"a,b\n1,2\n"}
    for path, data in files.items():
        (current / path).write_bytes(data)
    manifest = {
        "files": [
            {
                "path": path,
                "size": len(data),
                "crc32": 0,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for path, data in files.items()
        ]
    }
    (current / "manifest.json").write_text(json.dumps(manifest))
    stamp = {"package": "20240602_2115_PREP_VER.zip", "sha256": hashlib.sha256(package).hexdigest()}
    (current / "corte.json").write_text(json.dumps(stamp))
    archive = tmp_path / "archive"
    (archive / "20240602").mkdir(parents=True)
    (archive / "20240602" / stamp["package"]).write_bytes(package)
    link = tmp_path / "current"
    link.symlink_to(current)
    return link, archive


def test_live_release_integrity_byte_for_byte(tmp_path):
    link, archive = release(tmp_path)
    remote = LocalRemote(SshTarget("local", "localhost"))
    report = remote.fact(LiveReleaseIntegrity, str(link), str(archive))
    assert report == {
        "release": "20240602T2115-abc",
        "package": "20240602_2115_PREP_VER.zip",
        "files": 2,
        "bytes": 25,
        "mismatched": [],
        "missing": [],
        "archived": True,
        "archived_sha256_ok": True,
    }
    (link / "site" / "VER_GUB_2024.csv").write_bytes(b"a,b\n1,3\n")
    (link / "site" / "index.html").unlink()
    (archive / "20240602" / "20240602_2115_PREP_VER.zip").write_bytes(b"altered")
    report = remote.fact(LiveReleaseIntegrity, str(link), str(archive))
    assert report["mismatched"] == ["site/VER_GUB_2024.csv"]
    assert report["missing"] == ["site/index.html"]
    assert report["archived_sha256_ok"] is False


def test_live_release_integrity_before_the_first_corte(tmp_path):
    remote = LocalRemote(SshTarget("local", "localhost"))
    (tmp_path / "placeholder").mkdir()
    assert remote.fact(LiveReleaseIntegrity, str(tmp_path / "placeholder"), str(tmp_path)) is None


LYNIS_REPORT = """\
# Lynis Report
report_version_major=1
lynis_version=3.0.8
report_datetime_end=2026-11-24 20:41:02
hardening_index=73
lynis_tests_done=251
warning[]=FIRE-4512|iptables module(s) loaded, but no rules active|-|-|
suggestion[]=AUTH-9230|Configure password hashing rounds in /etc/login.defs|-|-|
suggestion[]=PKGS-7346|Purge old/removed packages (1 found)|-|-|
""".splitlines()


def test_lynis_report():
    assert LynisReport().process(LYNIS_REPORT) == {
        "hardening_index": 73,
        "tests_performed": 251,
        "version": "3.0.8",
        "finished": "2026-11-24 20:41:02",
        "warnings": [
            {"test": "FIRE-4512", "text": "iptables module(s) loaded, but no rules active"}
        ],
        "suggestions": [
            {"test": "AUTH-9230", "text": "Configure password hashing rounds in /etc/login.defs"},
            {"test": "PKGS-7346", "text": "Purge old/removed packages (1 found)"},
        ],
    }
    assert LynisReport().process([]) is None


def test_remote_fact_runs_the_command_and_processes_it():
    remote = LocalRemote(SshTarget("local", "localhost"))
    resources = remote.fact(HostResources)
    assert resources["cores"] >= 1 and resources["memory_mb"] > 0


def test_remote_fact_gives_the_default_when_the_program_is_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    remote = LocalRemote(SshTarget("local", "localhost"))
    # SystemdStatus requires systemctl; Fail2banJails requires fail2ban-client
    assert remote.fact(SystemdStatus, services=["ssh.service"]) == {}
    assert remote.fact(Fail2banJails) == {}


SSLYZE_OUTPUT = """\
 CHECKING CONNECTIVITY TO SERVER(S)
 -----------------------------------

   prep.lab.test:443 {198.18.0.10}  => 198.18.0.10

 COMPLIANCE AGAINST TLS CONFIGURATION
 ------------------------------------

    Checking results against Mozilla's "intermediate" configuration.

    prep.lab.test:443: FAILED - Not compliant.
        * tls_versions: TLS versions {'TLSv1.1'} are supported, but should be rejected.
        * ciphers: Cipher suites {'TLS_RSA_WITH_AES_128_CBC_SHA'} are supported.

"""


def sslyze_report(tmp_path, accepted: dict[str, int]) -> Path:
    report = tmp_path / "sslyze.json"
    scan: dict[str, object] = {
        f"{protocol}_cipher_suites": {"result": {"accepted_cipher_suites": [{}] * n}}
        for protocol, n in accepted.items()
    }
    report.write_text(
        json.dumps({"server_scan_results": [{"scan_status": "COMPLETED", "scan_result": scan}]})
    )
    return report


def test_tls_scan_verdict_and_accepted_suites(tmp_path):
    from difusor.evidence.observe import parse_tls_scan

    report = sslyze_report(tmp_path, {"tls_1_1": 2, "tls_1_2": 6, "tls_1_3": 3})
    result = parse_tls_scan(report, SSLYZE_OUTPUT, "prep.lab.test")
    assert result["accepted"]["tls_1_1"] == 2 and result["accepted"]["tls_1_3"] == 3
    assert result["accepted"]["ssl_2_0"] is None  # not scanned
    assert result["mozilla_intermediate"] is False
    assert result["issues"] == [
        "tls_versions: TLS versions {'TLSv1.1'} are supported, but should be rejected.",
        "ciphers: Cipher suites {'TLS_RSA_WITH_AES_128_CBC_SHA'} are supported.",
    ]
    compliant = SSLYZE_OUTPUT.split("    prep.lab.test:443: FAILED")[0] + (
        "    prep.lab.test:443: OK - Compliant.\n"
    )
    assert parse_tls_scan(report, compliant, "prep.lab.test")["mozilla_intermediate"] is True
    assert "error" in parse_tls_scan(tmp_path / "none.json", "boom", "prep.lab.test")


def test_probe_port_reads_the_greeting_and_names_a_refusal():
    import socket
    import threading

    from difusor.evidence.observe import probe_port

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def greet() -> None:
        connection, _ = server.accept()
        connection.sendall(b"@RSYNCD: 31.0 sha512\n")
        connection.close()

    threading.Thread(target=greet, daemon=True).start()
    try:
        assert probe_port("127.0.0.1", port, greets=True) == {
            "open": True,
            "answer": "@RSYNCD: 31.0 sha512",
            "error": "",
        }
    finally:
        server.close()
    assert probe_port("127.0.0.1", port) == {
        "open": False,
        "answer": "",
        "error": "conexión rechazada",
    }


def test_junit_cases_as_pytest_node_ids(tmp_path):
    from difusor.evidence.observe import junit_cases

    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.host.test_ssh" name="test_packages[sudo]"/>'
        '<testcase classname="tests.host.test_firewall" name="test_nothing_else_allowed">'
        "<failure message=\"assert {'8753/tcp'} == set()\">long</failure></testcase>"
        '<testcase classname="tests.host.test_base" name="test_kernel_sysctl[kernel.sysrq-0]">'
        '<skipped message="not applicable: a container"/></testcase>'
        '<testcase classname="tests.host.test_devsec_linux" name="test_sysctl[sysctl-07]">'
        '<skipped type="pytest.xfail" message="exception: tcp_timestamps kept on"/></testcase>'
        "</testsuite></testsuites>"
    )
    assert junit_cases(report) == [
        {"id": "tests/host/test_ssh.py::test_packages[sudo]", "outcome": "passed", "message": ""},
        {
            "id": "tests/host/test_firewall.py::test_nothing_else_allowed",
            "outcome": "failed",
            "message": "assert {'8753/tcp'} == set()",
        },
        {
            "id": "tests/host/test_base.py::test_kernel_sysctl[kernel.sysrq-0]",
            "outcome": "skipped",
            "message": "not applicable: a container",
        },
        {
            "id": "tests/host/test_devsec_linux.py::test_sysctl[sysctl-07]",
            "outcome": "xfailed",
            "message": "exception: tcp_timestamps kept on",
        },
    ]
