"""
Continuity: each test fails if election night would be lost. Services are killed for real,
the publishing disk fills (a small tmpfs inside the lab host, never this computer's disk),
the clock loses its source, the institute stops pushing (the monitor's ``--now``), and the
lab host reboots. Alerts go to a stand-in of the webhook on the lab host. Measured recovery
times go to the rehearsal summary (``SUMMARY_PROPERTY``); docs/runbook.md quotes them.
"""

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from difusor import paths
from difusor.accounts import PUBLISHER_USER
from difusor.rehearsal.lab import NTP_SERVER_IPV4
from difusor.rehearsal.lab.inventory import WEBHOOK_STAND_IN_PORT, lab_secrets
from difusor.rehearsal.lab.rehearse import SUMMARY_PROPERTY
from difusor.rehearsal.lab.simulacro import (
    live_package,
    live_stamp,
    push,
    recent_cortes_start,
    wait_live,
)
from difusor.rehearsal.prep.generator import generate_series

# A reboot must give the last corte back well inside one 15-minute period.
REBOOT_TO_SERVED_BOUND = 60
STAND_IN_UNIT = "difusor-test-webhook"
STAND_IN_LOG = "/run/difusor-test-webhook.jsonl"
STAND_IN = r"""
import http.server, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(sys.argv[2], "ab") as log:
            log.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
"""
MONITOR = (
    f"cd {paths.PROGRAM_DIR} && runuser -u {PUBLISHER_USER} -- python3 -m difusor_server "
    f"monitor --config {paths.PUBLISHER_CONFIG}"
)
_after: dict[str, datetime] = {}


def ok(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_for(check, seconds: float, interval: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def packages(tmp_path, count: int):
    """``count`` packages one minute apart, newer than what is live and than earlier ones."""
    start = recent_cortes_start(1)
    corte = (live_stamp() or {}).get("corte")
    if corte:
        start = max(
            start, datetime.fromisoformat(corte).replace(tzinfo=None) + timedelta(minutes=1)
        )
    start = max(start, _after.get("next", start))
    _after["next"] = start + timedelta(minutes=count)
    return generate_series(tmp_path, count, start=start, period_minutes=1, actas=50)


def publish(lab, package, timeout: float = 60) -> None:
    assert push(lab, package, lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]).returncode == 0
    assert wait_live(package.name, timeout) is not None, f"{package.name} not live"


def archived(lab, name: str) -> bool:
    return lab.ssh(f"test -f {paths.ARCHIVE_DIR}/{name[:8]}/{name}").returncode == 0


def start_stand_in(lab) -> None:
    if lab.ssh(f"systemctl is-active --quiet {STAND_IN_UNIT}").returncode == 0:
        return
    ok(
        lab.ssh(
            [
                *("systemd-run", f"--unit={STAND_IN_UNIT}", "--collect"),
                *("python3", "-c", STAND_IN, str(WEBHOOK_STAND_IN_PORT), STAND_IN_LOG),
            ]
        )
    )
    assert wait_for(
        lambda: lab.ssh(f"bash -c '</dev/tcp/127.0.0.1/{WEBHOOK_STAND_IN_PORT}'").returncode == 0,
        15,
    )


def alerts(lab) -> list[dict]:
    lines = lab.ssh(f"cat {STAND_IN_LOG} 2>/dev/null").stdout.splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def wait_alert(lab, seen: int, check: str, status_or_level: str, seconds: float = 30) -> dict:
    """The first alert after the ``seen`` first ones about ``check`` with that status/level."""

    def found():
        for alert in alerts(lab)[seen:]:
            if alert["check"] == check and status_or_level in (
                alert.get("status"),
                alert.get("level"),
            ):
                return alert
        return None

    alert = wait_for(found, seconds, 1)
    assert alert, f"no {check} {status_or_level} alert; got {alerts(lab)[seen:]}"
    return alert


def run_monitor(lab, now: datetime | None = None) -> None:
    ok(lab.ssh(MONITOR + (f" --now {now.isoformat()}" if now else ""), timeout=60))


def main_pid(lab, service: str) -> int:
    return int(ok(lab.ssh(f"systemctl show -p MainPID --value {service}")).strip() or 0)


@pytest.fixture(scope="module", autouse=True)
def stand_in(lab, tmp_path_factory):
    start_stand_in(lab)
    publish(lab, packages(tmp_path_factory.mktemp("first"), 1)[0])
    yield
    lab.ssh(f"systemctl stop {STAND_IN_UNIT}; rm -f {STAND_IN_LOG}")


@pytest.fixture()
def monitor_by_hand(lab):
    """The monitor's timer stopped while a test runs the monitor at other times; afterwards
    one run at the real time puts its state back, and the timer goes on."""
    ok(lab.ssh("systemctl stop difusor-monitor.timer && systemctl stop difusor-monitor.service"))
    yield
    run_monitor(lab)
    ok(lab.ssh("systemctl start difusor-monitor.timer"))


# ----------------------------------------------------------------- killed services


@pytest.mark.parametrize("service", ["nginx", "difusor-publisher", "rsync"])
def test_a_killed_service_is_brought_back_and_nothing_is_lost(
    lab, tmp_path, record_property, service
):
    live = live_package()
    [package] = packages(tmp_path, 1)
    before = main_pid(lab, service)
    assert before
    killed = time.monotonic()
    ok(lab.ssh(f"kill -9 {before}"))
    if service == "difusor-publisher":  # the institute pushes while the publisher is down
        assert push(lab, package, lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]).returncode == 0
    back = wait_for(
        lambda: (
            main_pid(lab, service) not in (0, before)
            and lab.ssh(f"systemctl is-active --quiet {service}").returncode == 0
        ),
        30,
    )
    assert back, f"systemd did not bring {service} back"
    seconds = time.monotonic() - killed
    assert wait_for(lambda: live_package() in (live, package.name), 15), "nothing served"
    publish(lab, package)
    assert archived(lab, package.name)
    record_property(SUMMARY_PROPERTY, f"back by systemd {seconds:.1f} s after kill -9")


# ----------------------------------------------------------------- the institute stops pushing


def test_missed_periods_alert_at_one_two_and_three(lab, monitor_by_hand):
    corte = datetime.fromisoformat((live_stamp() or {})["corte"])
    run_monitor(lab, corte + timedelta(minutes=5))
    seen = len(alerts(lab))
    for periods in (1, 2, 3):
        run_monitor(lab, corte + timedelta(minutes=15 * periods, seconds=10))
    sent = [a for a in alerts(lab)[seen:] if a["check"] == "freshness"]
    assert [(a["level"], a["missed_periods"]) for a in sent] == [
        ("incident", 1),
        ("escalation", 2),
        ("critical", 3),
    ]
    assert all(a["package"] == live_package() for a in sent)


# ----------------------------------------------------------------- certificate and clock


def served_certificate_end(lab) -> datetime:
    end = ok(
        lab.ssh(
            "echo | openssl s_client -connect 127.0.0.1:443 -servername prep.lab.test "
            "2>/dev/null | openssl x509 -noout -enddate"
        )
    )
    return datetime.strptime(end.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=timezone.utc
    )


def test_certificate_near_expiry_is_alerted(lab, monitor_by_hand):
    expires = served_certificate_end(lab)
    seen = len(alerts(lab))
    run_monitor(lab, expires - timedelta(days=10, hours=1))
    alert = wait_alert(lab, seen, "certificate", "expiring", 5)
    assert "expires in 10 days" in alert["message"]


def test_clock_losing_synchronisation_is_alerted(lab, record_property):
    block = f"OUTPUT -p udp -d {NTP_SERVER_IPV4} --dport 123 -j REJECT"
    seen = len(alerts(lab))
    ok(lab.ssh(f"iptables -I {block} && systemctl restart chrony"))
    try:
        lost = time.monotonic()
        run_monitor(lab)
        wait_alert(lab, seen, "clock", "unsynchronised", 5)
        alerted = time.monotonic() - lost
    finally:
        ok(lab.ssh(f"iptables -D {block} && systemctl restart chrony"))
    synchronised = wait_for(
        lambda: "Leap status     : Normal" in lab.ssh("chronyc -n tracking").stdout, 60, 1
    )
    assert synchronised, "chrony did not synchronise again"
    run_monitor(lab)
    wait_alert(lab, seen, "clock", "ok", 5)
    record_property(SUMMARY_PROPERTY, f"alert {alerted:.1f} s after chrony lost its source")


# ----------------------------------------------------------------- the publishing disk fills

SMALL = "/run/difusor-test-small"  # a 320 MB tmpfs: the publishing disk
UNDER = "/run/difusor-test-under"  # the real releases directory, while the tmpfs covers it


def test_full_publishing_disk_keeps_the_corte_alerts_and_resumes_by_itself(
    lab, tmp_path, record_property
):
    live = live_package()
    ok(
        lab.ssh(
            "set -e; "
            # UNDER private: the tmpfs mounted over the releases must not propagate onto it
            f"mkdir -p {SMALL} {UNDER}; mount --bind {paths.RELEASES_DIR} {UNDER}; "
            f"mount --make-private {UNDER}; "
            f"mount -t tmpfs -o size=320m,mode=755 tmpfs {SMALL}; "
            f'cp -a "$(readlink -f {paths.CURRENT_LINK})" {SMALL}/; '
            f"chown {PUBLISHER_USER}:{PUBLISHER_USER} {SMALL}; "
            f"mount --bind {SMALL} {paths.RELEASES_DIR}; systemctl restart difusor-publisher; "
            f"dd if=/dev/zero of={paths.RELEASES_DIR}/filler bs=1M 2>/dev/null || true",
            timeout=120,
        )
    )
    try:
        [package] = packages(tmp_path, 1)
        seen = len(alerts(lab))
        assert push(lab, package, lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]).returncode == 0
        incident = wait_for(
            lambda: lab.ssh(f"cat {paths.STATE_DIR}/incident.json").stdout.strip(), 30
        )
        assert json.loads(incident)["reason"] == "disk-full"
        assert live_package() == live
        ok(lab.ssh("systemctl start difusor-monitor.service"))
        wait_alert(lab, seen, "publishing", "disk-full")

        ok(lab.ssh(f"rm {paths.RELEASES_DIR}/filler"))
        freed = time.monotonic()
        assert wait_live(package.name, 60) is not None, "publishing did not resume"
        resumed = time.monotonic() - freed
        ok(lab.ssh("systemctl start difusor-monitor.service"))
        wait_alert(lab, seen, "publishing", "ok")
        assert archived(lab, package.name)
    finally:
        lab.ssh(
            f"systemctl stop difusor-publisher; cp -a -n {paths.RELEASES_DIR}/. {UNDER}/; "
            f"rm -f {UNDER}/filler; umount {paths.RELEASES_DIR}; umount {SMALL}; umount {UNDER}; "
            "systemctl start difusor-publisher",
            timeout=120,
        )
    assert live_package() == package.name
    record_property(SUMMARY_PROPERTY, f"published {resumed:.1f} s after space was freed")


# ----------------------------------------------------------------- the server reboots


def test_reboot_mid_night_serves_the_last_corte_and_goes_on(lab, tmp_path, record_property):
    waiting, after = packages(tmp_path, 2)
    ok(lab.ssh("systemctl start difusor-monitor.service"))
    monitor_before = json.loads(ok(lab.ssh(f"cat {paths.STATE_DIR}/monitor.json")))
    last = live_package()
    assert last, "no corte served before the reboot"
    # The institute's push lands while the publisher is down, just before the reboot.
    ok(lab.ssh("systemctl stop difusor-publisher"))
    assert push(lab, waiting, lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]).returncode == 0
    assert live_package() == last

    lab.power_off()
    booting = time.monotonic()
    lab.boot()
    served = wait_for(
        lambda: live_package(max_time=1) in (last, waiting.name), REBOOT_TO_SERVED_BOUND, 0.1
    )
    seconds = time.monotonic() - booting
    print(f"reboot: last corte served again {seconds:.1f} s after boot started")
    assert served, f"no corte served within {REBOOT_TO_SERVED_BOUND} s of boot"
    lab.wait_booted()
    record_property(SUMMARY_PROPERTY, f"last corte served again {seconds:.1f} s after boot")

    assert wait_live(waiting.name, 60) is not None, "the package pushed while down stayed"
    publish(lab, after)
    assert archived(lab, waiting.name) and archived(lab, after.name)
    ok(lab.ssh("systemctl start difusor-monitor.service"))
    monitor_after = json.loads(ok(lab.ssh(f"cat {paths.STATE_DIR}/monitor.json")))
    assert monitor_after["level"] == monitor_before["level"] == "ok"
    assert monitor_after["since"] == monitor_before["since"]  # no new start: the state survived
    assert monitor_after["checked_at"] != monitor_before["checked_at"]
