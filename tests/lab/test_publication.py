"""
Receiving and publishing, end to end in the lab: the institute's rsync push from the trusted
namespace, the publisher behind it, and the portal serving the corte over HTTPS.
"""

import hashlib
import json
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timedelta

import pytest

from difusor.rehearsal.lab import LAB_IPV4, OPLE_NETNS, PUBLIC_NETNS
from difusor.rehearsal.lab.inventory import lab_secrets
from difusor.rehearsal.lab.simulacro import (
    PORTAL_NAME,
    RSYNC_URL,
    live_package,
    push,
    recent_cortes_start,
    wait_live,
)
from difusor.rehearsal.prep.generator import generate_series

# Each test's cortes come after the previous test's and after whatever is live already.
_clock: dict[str, datetime | None] = {"next": None}


def next_start(count: int) -> datetime:
    start = _clock["next"]
    if start is None:
        live = json.loads(https_get("/corte.json")).get("corte")
        start = recent_cortes_start(240)
        if live:
            start = max(
                start, datetime.fromisoformat(live).replace(tzinfo=None) + timedelta(minutes=1)
            )
    _clock["next"] = start + timedelta(minutes=count)
    return start


@pytest.fixture(scope="module")
def password(lab) -> str:
    return lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]


def rsync_from(ns: str, package, password: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "env",
            f"RSYNC_PASSWORD={password}",
            "rsync",
            "--contimeout=5",
            "--timeout=20",
            str(package),
            RSYNC_URL,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def https_get(path: str) -> bytes:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            PUBLIC_NETNS,
            "curl",
            "-sk",
            "--fail",
            "--max-time",
            "10",
            "--resolve",
            f"{PORTAL_NAME}:443:{LAB_IPV4}",
            f"https://{PORTAL_NAME}{path}",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout


def test_push_is_served_byte_for_byte_with_its_stamp(lab, password, tmp_path):
    [package] = generate_series(tmp_path, 1, start=next_start(1), period_minutes=1, actas=300)
    assert push(lab, package, password).returncode == 0
    assert wait_live(package.name) is not None
    stamp = json.loads(https_get("/corte.json"))
    assert stamp["package"] == package.name
    assert stamp["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert stamp["corte"].startswith(
        f"{package.name[0:4]}-{package.name[4:6]}-{package.name[6:8]}T"
    )
    with zipfile.ZipFile(package) as outer:
        for member in outer.namelist():
            assert https_get(f"/{member}") == outer.read(member), member
            if member.endswith(".zip"):
                with zipfile.ZipFile(outer.open(member)) as inner:
                    for csv in inner.namelist():
                        assert https_get(f"/{member[:-4]}/{csv}") == inner.read(csv), csv


def test_broken_package_is_refused_and_the_live_corte_stays(lab, password, tmp_path):
    before = live_package()
    [package] = generate_series(tmp_path, 1, start=next_start(1), period_minutes=1, actas=300)
    package.write_bytes(package.read_bytes()[: package.stat().st_size * 2 // 3])
    assert push(lab, package, password).returncode == 0
    deadline = time.monotonic() + 20
    reason = lab.ssh(f"cat /srv/difusor/quarantine/{package.name}.reason.json")
    while reason.returncode and time.monotonic() < deadline:
        time.sleep(0.5)
        reason = lab.ssh(f"cat /srv/difusor/quarantine/{package.name}.reason.json")
    assert json.loads(reason.stdout)["reason"] in ("truncated", "corrupt", "not-a-zip")
    assert live_package() == before
    assert (
        lab.ssh(
            f'grep -c \'"event": "rejected".*{package.name}\' /var/log/difusor/publisher.log'
        ).stdout.strip()
        == "1"
    )


def test_untrusted_source_cannot_push(lab, password, tmp_path):
    [package] = generate_series(tmp_path, 1, start=next_start(1), period_minutes=1, actas=50)
    result = rsync_from(PUBLIC_NETNS, package, password)
    assert result.returncode != 0


def test_hosts_allow_refuses_untrusted_even_if_the_firewall_lets_it_in(lab, password, tmp_path):
    [package] = generate_series(tmp_path, 1, start=next_start(1), period_minutes=1, actas=50)
    opened = lab.ssh("ufw insert 1 allow from 198.18.0.30 to any port 873 proto tcp")
    assert opened.returncode == 0, opened.stderr
    try:
        result = rsync_from(PUBLIC_NETNS, package, password)
    finally:
        lab.ssh("ufw --force delete allow from 198.18.0.30 to any port 873 proto tcp")
    # The daemon does not even admit the module exists to an address outside `hosts allow`.
    assert result.returncode != 0 and "Unknown module 'prep'" in result.stderr
    log = lab.ssh("grep -F 'denied on module prep' /var/log/rsyncd.log | tail -n 1").stdout
    assert "(198.18.0.30)" in log


def test_wrong_password_is_refused_and_logged(lab, tmp_path):
    [package] = generate_series(tmp_path, 1, start=next_start(1), period_minutes=1, actas=50)
    result = rsync_from(OPLE_NETNS, package, "not-the-password")
    assert result.returncode != 0 and "auth failed" in result.stderr
    log = lab.ssh("grep -F 'auth failed on module prep' /var/log/rsyncd.log | tail -n 1").stdout
    assert "198.18.0.20" in log and "password mismatch" in log


def test_healthz_reports_the_corte_age(lab):
    lab.ssh("systemctl start difusor-monitor.service")
    health = json.loads(https_get("/healthz"))
    assert health["package"] == live_package()
    assert isinstance(health["corte_age_seconds"], int) and health["corte_age_seconds"] >= 0
    assert health["level"] in ("ok", "incident", "escalation", "critical")


def test_fifty_publications_under_load_never_mix_cortes(lab, password, tmp_path):
    packages = generate_series(
        tmp_path, 51, start=next_start(51), period_minutes=1, actas=50, nesting="flat"
    )
    csv_path = "/" + next(
        name for name in zipfile.ZipFile(packages[0]).namelist() if name.startswith("VER_GUB_2")
    )
    assert push(lab, packages[0], password).returncode == 0
    assert wait_live(packages[0].name) is not None
    published_before = int(
        lab.ssh('grep -c \'"event": "published"\' /var/log/difusor/publisher.log').stdout
    )
    # Under the portal's per-reader rate limit: every answer must be a 200.
    reader = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            PUBLIC_NETNS,
            sys.executable,
            "-m",
            "difusor.rehearsal.lab.load",
            "--host",
            LAB_IPV4,
            "--name",
            PORTAL_NAME,
            "--path",
            csv_path,
            "--requests",
            "100000",
            "--threads",
            "2",
            "--interval",
            "0.08",
            "--seconds",
            "45",
            "--check-corte",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for package in packages[1:]:
        assert push(lab, package, password).returncode == 0
        assert wait_live(package.name, timeout=30) is not None
    report = json.loads(reader.communicate(timeout=120)[0])
    published = int(
        lab.ssh('grep -c \'"event": "published"\' /var/log/difusor/publisher.log').stdout
    )
    assert published - published_before == 50
    assert report["status"] == {"200": report["sent"]}, report
    assert report["releases_seen"] > 10, report
