"""
`difusor report` against the lab host, as a sysadmin runs it: it reads the host without
changing anything there, counts exactly what a simulated audience did, and shows a simulacro's
rejected package and gap in cortes as incidents with their times.

These tests push cortes named in the past (after the live one), so they run after
test_publication and leave a corte that the rehearsal's own simulacro can follow.
"""

from __future__ import annotations

import difflib
import gzip
import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from difusor.rehearsal.lab.core import REPO_ROOT
from difusor.rehearsal.lab.inventory import lab_secrets
from difusor.rehearsal.lab.simulacro import live_package, push, wait_live
from difusor.rehearsal.lab.visitors import SitePaths, ground_truth, plan, simulate
from difusor.rehearsal.prep.generator import SiteSpec, generate_series
from difusor.report import ReportOptions, build_report, definitions

# Requests sent with dwell times compressed 120 times: the report's visit gap too.
SCALE = 120
VISIT_GAP_S = definitions.VISIT_GAP_S / SCALE
# A package's own small site (prep generator): documents, assets, and what does not exist.
SITE = SitePaths(
    pages=(
        "/index.html",
        "/distritos/html00000.html",
        "/distritos/html00003.html",
        "/distritos/html00006.html",
        "/distritos/html00009.html",
    ),
    assets=("/assets/js/app.js", "/data/corte.json", "/data/resumen.json", "/assets/js/js00001.js"),
    missing=("/no-existe.html", "/distritos/html99999.html"),
)
# What the fetch reads on the host, and where nothing may change (the monitor's timer is
# paused meanwhile: it rewrites its state every minute on its own).
WATCHED = (
    "/var/log/nginx /var/log/difusor /var/lib/difusor /etc/difusor /srv/difusor /tmp /var/tmp /root"
)
STATE = f"find {WATCHED} -xdev -printf '%p %s %T@ %C@ %m %u:%g %l\\n' | sort"


def report_cli(out: Path, start: datetime, end: datetime) -> subprocess.CompletedProcess:
    """`difusor report` for the lab host, from the repository, as a sysadmin runs it."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "difusor", "report", "--inventory", "inventory/lab.py"),
            *(
                "--from",
                start.isoformat(timespec="seconds"),
                "--to",
                end.isoformat(timespec="seconds"),
            ),
            *("--out", str(out), "--no-pdf"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def host_state(lab) -> list[str]:
    result = lab.ssh(STATE, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def next_corte(after: datetime) -> datetime:
    """A corte time no earlier than ``after`` and newer than the live corte (the publisher
    refuses older cortes), on the minute."""
    live = live_package()
    start = after.replace(second=0, microsecond=0)
    if live:
        start = max(start, datetime.strptime(live[:13], "%Y%m%d_%H%M") + timedelta(minutes=1))
    return start


def local_now(zone: str) -> datetime:
    return datetime.now(ZoneInfo(zone)).replace(tzinfo=None)


def rotate(lab) -> None:
    rotated = lab.ssh("logrotate -f /etc/logrotate.d/nginx")
    assert rotated.returncode == 0, rotated.stderr


def test_the_fetch_reads_the_host_and_changes_nothing(lab, settings, tmp_path):
    # Two rotations: one rotated log compressed, one not yet (delaycompress).
    for _ in range(2):
        lab.run_in(
            "public",
            [
                "curl",
                "-sk",
                "-o",
                "/dev/null",
                "--resolve",
                "prep.lab.test:443:198.18.0.10",
                "https://prep.lab.test/",
            ],
        )
        time.sleep(1.5)  # logrotate names rotations by the second; nginx flushes within one
        rotate(lab)
    time.sleep(1.5)
    stopped = lab.ssh(  # one run of the monitor first: its unit's lines are in the journal
        "systemctl start difusor-monitor.service && systemctl stop difusor-monitor.timer && "
        "while systemctl is-active -q difusor-monitor.service; do sleep 0.2; done"
    )
    assert stopped.returncode == 0, stopped.stderr
    try:
        before = host_state(lab)
        now = datetime.now(ZoneInfo(settings.timezone))
        result = report_cli(tmp_path / "memoria", now - timedelta(hours=2), now)
        after = host_state(lab)
    finally:
        lab.ssh("systemctl start difusor-monitor.timer")
    assert result.returncode == 0, result.stderr[-3000:]
    assert before == after, "\n".join(difflib.unified_diff(before, after, lineterm="", n=0))

    copy = tmp_path / "memoria" / "copia"
    listed = {line.split()[0]: int(line.split()[1]) for line in before}
    pulled = sorted(p for p in copy.rglob("*") if p.is_file() and p.parent != copy)
    logs = [p.name for p in pulled if p.parent.name == "nginx"]
    assert "access.log" in logs
    assert any(n.startswith("access.log-") and n.endswith(".gz") for n in logs), logs
    assert any(n.startswith("access.log-") and not n.endswith(".gz") for n in logs), logs
    assert "error.log" not in logs
    for path in pulled:  # byte for byte what the host has (sizes from the listing)
        assert path.stat().st_size == listed["/" + path.relative_to(copy).as_posix()], path
        assert path.stat().st_mode & 0o777 == 0o600
    assert copy.stat().st_mode & 0o777 == 0o700
    with gzip.open(copy / "journal.json.gz", "rt") as journal:
        entries = [json.loads(line) for line in journal]
    # the units' own lines, and systemd's about them (started, stopped, failed)
    units = {e.get("_SYSTEMD_UNIT") for e in entries} | {e.get("UNIT") for e in entries}
    assert {"nginx.service", "difusor-publisher.service", "difusor-monitor.service"} <= units
    assert json.loads((tmp_path / "memoria" / "report.json").read_text())["hits"] >= 2


def wait_logged(lab, requests: int, marker: str, timeout: float = 20) -> int:
    """Lines with ``marker`` in every access log (plain or compressed), once nginx's buffer
    has been written out (flush=1s)."""
    deadline = time.monotonic() + timeout
    while True:
        counted = lab.ssh(
            "cd /var/log/nginx && for f in access.log*; do case $f in *.gz) zcat $f;; "
            f"*) cat $f;; esac; done | grep -cF {marker}"
        )
        logged = int(counted.stdout.strip() or 0)
        if logged >= requests or time.monotonic() > deadline:
            return logged
        time.sleep(0.5)


def test_a_simulated_audience_is_counted_exactly(lab, settings, tmp_path):
    """24 readers (direct over IPv4 and IPv6, and through the CDN stand-in; keeping or
    refusing cookies; some coming back after the visit gap), with the logs rotated twice
    while they read: the report's figures equal the ground truth."""
    password = lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]
    corte = next_corte(local_now(settings.timezone) - timedelta(hours=3))
    [package] = generate_series(
        tmp_path / "corte",
        1,
        start=corte,
        period_minutes=1,
        actas=50,
        site=SiteSpec(files=30, bytes=300_000),
    )
    assert push(lab, package, password).returncode == 0
    assert wait_live(package.name) is not None
    readers = plan(24, SITE, seed=2024)
    time.sleep(1.5)  # earlier requests fall in an earlier second than the period's start

    rotations = [threading.Timer(delay, rotate, [lab]) for delay in (8, 20)]
    for timer in rotations:
        timer.start()
    requests = simulate(readers, SCALE)
    for timer in rotations:
        timer.join()
    assert all(r.status for r in requests), [r for r in requests if not r.status][:5]
    assert wait_logged(lab, len(requests), "lector-simulado") >= len(requests)

    zone = ZoneInfo(settings.timezone)
    start = datetime.fromtimestamp(int(min(r.sent for r in requests)), zone)
    end = datetime.fromtimestamp(int(max(r.answered for r in requests)) + 1, zone)
    fetched = report_cli(tmp_path / "memoria", start, end)
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    report = build_report(
        tmp_path / "memoria" / "copia",
        start,
        end,
        tmp_path / "compressed",
        ReportOptions(timezone=settings.timezone, visit_gap_s=int(VISIT_GAP_S), pdf=False),
    ).data
    truth = ground_truth(
        readers, requests, VISIT_GAP_S, settings.timezone, definitions.page_regex()
    )

    figures = ("hits", "page_views", "visitors", "visits")
    print("simulated:", truth)
    print("reported:", {k: report[k] for k in figures}, report["time_on_site"])
    assert report["hits"] == truth.hits
    assert report["page_views"] == truth.page_views
    assert report["visitors"] == truth.visitors
    assert report["visitors_detail"]["cookieless"] == truth.cookieless_visitors
    assert report["visits"] == truth.visits > truth.visitors  # some readers came back
    assert {p["path"]: p["views"] for p in report["pages"]} == truth.pages
    assert report["time_on_site"]["single_request_visits"] == truth.single_request_visits
    assert abs(report["time_on_site"]["median_s"] - truth.median_s) <= 1
    assert abs(report["time_on_site"]["mean_s"] - truth.mean_s) <= 1
    # `difusor report`'s own memoria (30-minute visits): the same counts
    memoria = json.loads((tmp_path / "memoria" / "report.json").read_text())
    assert [memoria[k] for k in ("hits", "page_views", "visitors")] == [
        truth.hits,
        truth.page_views,
        truth.visitors,
    ]
    assert len({p.name for p in (tmp_path / "memoria" / "copia/var/log/nginx").iterdir()}) >= 3


def test_a_simulacro_shows_the_rejection_and_the_gap_as_incidents(lab, settings, tmp_path):
    """Corte A is published; the next package is broken and refused; nothing else comes. The
    report as of 20 minutes after A's corte time (the engine's clock given explicitly, not
    waited for) shows the rejection until then, and the corte stale from A + 15 min; the
    monitor, run for that same moment with --now, agrees."""
    password = lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]
    zone = ZoneInfo(settings.timezone)
    corte = next_corte(local_now(settings.timezone) - timedelta(minutes=10))
    good, broken = generate_series(tmp_path, 2, start=corte, period_minutes=5, actas=50)
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    assert push(lab, good, password).returncode == 0
    assert wait_live(good.name) is not None
    assert push(lab, broken, password).returncode == 0
    reason = wait_reason(lab, broken.name)
    as_of = corte.replace(tzinfo=zone) + timedelta(minutes=20)  # the moment reported on

    monitor = lab.ssh(  # as the monitor's service runs it, at that moment
        "cd /opt/difusor/server && runuser -u difusor -- python3 -m difusor_server monitor "
        f"--now {as_of.isoformat()} >/dev/null && cat /srv/difusor/healthz.json"
    )
    assert monitor.returncode == 0, monitor.stderr
    health = json.loads(monitor.stdout)
    assert (health["level"], health["corte_age_seconds"], health["package"]) == (
        "incident",
        1200,
        good.name,
    )

    now = datetime.now(zone)
    fetched = report_cli(tmp_path / "memoria", now - timedelta(minutes=10), now)
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    copy = tmp_path / "memoria" / "copia"
    log = [json.loads(line) for line in (copy / "var/log/difusor/publisher.log").open()]

    def logged(event: str, package: str) -> datetime:
        (moment,) = [e["ts"] for e in log if e["event"] == event and e.get("package") == package]
        return datetime.fromisoformat(moment)

    published, rejected = logged("published", good.name), logged("rejected", broken.name)
    data = build_report(copy, published, as_of, tmp_path / "out", ReportOptions(pdf=False)).data
    incidents = [
        (i["kind"], datetime.fromisoformat(i["start"]), datetime.fromisoformat(i["end"]))
        for i in data["incidents"]
    ]
    assert incidents == [
        ("rejected-package", rejected, as_of),
        ("stale", corte.replace(tzinfo=zone) + timedelta(minutes=15), as_of),
    ]
    assert data["incidents"][0]["detail"]["reason"] == reason["reason"]
    assert data["incidents"][1]["duration_s"] == 300
    assert "(hasta 20 min 00 s)" in data["incidents"][1]["effect"]
    assert [(r["package"], r["reason"]) for r in data["rejections"]] == [
        (broken.name, reason["reason"])
    ]
    assert [c["package"] for c in data["cortes"]] == [good.name]
    assert data["availability"]["stale_s"] == 300


def wait_reason(lab, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        result = lab.ssh(f"cat /srv/difusor/quarantine/{name}.reason.json")
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, f"{name} was not refused"
            return json.loads(result.stdout)
        time.sleep(0.5)


def beacon(lab, ns: str, *args: str) -> subprocess.CompletedProcess:
    return lab.run_in(
        ns,
        [
            *("curl", "-sk", "--max-time", "10", "-o", "/dev/null", "-D", "-"),
            *("--resolve", "prep.lab.test:443:198.18.0.10", *args),
            "https://prep.lab.test/_difusor/beacon",
        ],
    )


def test_behind_the_cdn_readers_are_counted_from_the_beacon(lab, settings, tmp_path):
    """The beacon answers 204, never cached, with the visitor cookie; the lab's CDN stand-in
    (ople, in cdn_networks) makes the portal "behind a CDN", so the report counts readers
    from the beacon's requests: a reader through the CDN keeping its cookie, one refusing."""
    assert beacon(lab, "public", "-X", "POST").stdout.startswith("HTTP/2 405")
    time.sleep(1.5)
    jar = tmp_path / "cookies"
    via_cdn = ("-H", "X-Forwarded-For: 203.0.113.200", "-c", str(jar), "-b", str(jar))
    start = datetime.now(ZoneInfo(settings.timezone)).replace(microsecond=0)
    first = beacon(lab, "ople", *via_cdn).stdout.lower()
    assert first.startswith("http/2 204")
    assert "cache-control: no-store" in first and "set-cookie: difusor=" in first
    for _ in range(2):
        time.sleep(1.5)
        assert beacon(lab, "ople", *via_cdn).stdout.startswith("HTTP/2 204")
    assert beacon(lab, "public").stdout.startswith("HTTP/2 204")  # refuses cookies
    end = datetime.now(ZoneInfo(settings.timezone)).replace(microsecond=0) + timedelta(seconds=1)
    assert wait_logged(lab, 1, "203.0.113.200") >= 1
    time.sleep(1.5)

    result = report_cli(tmp_path / "memoria", start, end)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "memoria" / "report.json").read_text())
    assert data["source"]["visitors"] == data["source"]["time_on_site"] == "beacon"
    assert data["source"]["hits"] == "origin-logs"
    assert (data["hits"], data["visitors"], data["visits"]) == (4, 2, 2)
    assert data["visitors_detail"]["cookieless"] == 1
    assert 2 <= data["time_on_site"]["median_s"] <= 4
    assert any("hits y las páginas consultadas" in c for c in data["caveats"])
