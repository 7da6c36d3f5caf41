"""The monitor's checks besides freshness: publishing blocked, the served certificate, the
clock. Real TLS and NTP servers on loopback play nginx and chrony; alerts go to a local
stand-in of the webhook."""

import json
import socket
import ssl
import subprocess
import threading
from datetime import datetime, timedelta, timezone

import pytest
from difusor_server.checks import not_after
from srvtools import LocalHTTP

START = "2024-06-02T20:00"


@pytest.fixture()
def hook():
    server = LocalHTTP(default=(200, {}, 0))
    yield server
    server.close()


def alerts(hook, check):
    return [r["body"] for r in hook.requests if r["body"]["check"] == check]


def monitor_state(tree):
    return json.loads((tree.state / "monitor.json").read_text())


# ----------------------------------------------------------------- publishing


def test_a_package_waiting_after_an_incident_is_alerted_once_then_cleared(tree, hook):
    tree.configure(alert_webhook=hook.url)
    tree.monitor(START)
    assert hook.requests == []
    tree.state.mkdir(parents=True, exist_ok=True)
    incident = tree.state / "incident.json"
    incident.write_text(
        json.dumps(
            {
                "package": "20240602_2115_PREP_VER.zip",
                "reason": "disk-full",
                "detail": "OSError: [Errno 28] No space left on device",
                "ts": "2024-06-02T21:17:00-06:00",
            }
        )
    )
    result = tree.monitor("2024-06-02T21:18")
    [event] = result.only("check")
    assert event["check"] == "publishing" and event["status"] == "disk-full"
    assert event["severity"] == "warning"
    tree.monitor("2024-06-02T21:19")
    [alert] = alerts(hook, "publishing")
    assert alert["level"] == "warning" and alert["status"] == "disk-full"
    assert "20240602_2115_PREP_VER.zip" in alert["message"]
    assert monitor_state(tree)["checks"]["publishing"]["status"] == "disk-full"

    incident.unlink()  # the publisher's next clean run removes it
    tree.monitor("2024-06-02T21:20")
    assert [(a["level"], a["status"]) for a in alerts(hook, "publishing")] == [
        ("warning", "disk-full"),
        ("ok", "ok"),
    ]


def test_low_free_space_on_the_publishing_tree(tree, hook):
    tree.configure(alert_webhook=hook.url, disk_alert_free_mb=10**9)  # more than any disk
    tree.monitor(START)
    [alert] = alerts(hook, "publishing")
    assert alert["status"] == "low-space" and "MB free" in alert["detail"]
    tree.configure(disk_alert_free_mb=0)  # 0: no free-space check
    tree.monitor(START)
    assert [a["status"] for a in alerts(hook, "publishing")] == ["low-space", "ok"]


# ----------------------------------------------------------------- certificate


@pytest.fixture()
def tls_server(tmp_path):
    """A TLS server on loopback presenting a fresh self-signed certificate valid 90 days."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "90", "-subj", "/CN=prep.test"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    end = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-in", str(cert)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    expires = datetime.strptime(end.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=timezone.utc
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], expires, cert
    stop.set()
    thread.join(5)
    listener.close()


def local(moment: datetime) -> str:
    return moment.astimezone(timezone(timedelta(hours=-6))).replace(tzinfo=None).isoformat()


def test_not_after_is_read_from_the_der_certificate(tls_server):
    _, expires, cert = tls_server
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert not_after(der) == expires


def test_certificate_near_expiry_then_expired_is_alerted(tree, hook, tls_server):
    port, expires, _ = tls_server
    tree.configure(
        alert_webhook=hook.url,
        certificate_check={"name": "prep.test", "port": port, "alert_days": 20},
    )
    tree.monitor(local(expires - timedelta(days=30)))
    assert alerts(hook, "certificate") == []
    assert monitor_state(tree)["checks"]["certificate"]["status"] == "ok"
    tree.monitor(local(expires - timedelta(days=19, hours=1)))
    tree.monitor(local(expires - timedelta(days=18)))
    tree.monitor(local(expires + timedelta(minutes=1)))
    sent = alerts(hook, "certificate")
    assert [a["status"] for a in sent] == ["expiring", "expired"]
    assert "expires in 19 days" in sent[0]["message"]


def test_a_certificate_that_cannot_be_read_is_alerted(tree, hook):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    tree.configure(alert_webhook=hook.url, certificate_check={"name": "prep.test", "port": port})
    tree.monitor(START)
    [alert] = alerts(hook, "certificate")
    assert alert["status"] == "unreachable"


# ----------------------------------------------------------------- clock


@pytest.fixture()
def ntp_server():
    """An NTP server on loopback whose leap indicator and stratum the test sets."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    answer = {"leap": 0, "stratum": 3}
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                request, peer = sock.recvfrom(512)
            except OSError:
                continue
            reply = bytearray(48)
            reply[0] = (answer["leap"] << 6) | (4 << 3) | 4
            reply[1] = answer["stratum"]
            reply[24:32] = request[40:48]
            sock.sendto(bytes(reply), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], answer
    stop.set()
    thread.join(5)
    sock.close()


def test_clock_losing_synchronisation_is_alerted_and_its_return(tree, hook, ntp_server):
    port, answer = ntp_server
    tree.configure(alert_webhook=hook.url, clock_check={"port": port})
    tree.monitor(START)
    assert alerts(hook, "clock") == []
    answer.update(leap=3, stratum=0)
    result = tree.monitor(START)
    assert [e["status"] for e in result.only("check")] == ["unsynchronised"]
    tree.monitor(START)
    answer.update(leap=0, stratum=3)
    tree.monitor(START)
    assert [a["status"] for a in alerts(hook, "clock")] == ["unsynchronised", "ok"]


def test_no_answer_from_the_time_service_is_alerted(tree, hook):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        tree.configure(alert_webhook=hook.url, clock_check={"port": silent.getsockname()[1]})
        tree.monitor(START)
    [alert] = alerts(hook, "clock")
    assert alert["status"] == "no-answer"


# ----------------------------------------------------------------- delivery and settings


def test_alerts_wait_in_order_until_the_webhook_takes_them(tree):
    hook = LocalHTTP(script=[(503, {}, 0)], default=(200, {}, 0))
    try:
        tree.configure(
            alert_webhook=hook.url, window_start=START, period_minutes=15, disk_alert_free_mb=10**9
        )
        result = tree.monitor("2024-06-02T20:16")  # incident (no corte) + low space: 1st fails
        assert [e["event"] for e in result.events] == ["freshness", "check", "webhook-failed"]
        assert len(monitor_state(tree)["outbox"]) == 2
        tree.monitor("2024-06-02T20:17")
        bodies = [r["body"] for r in hook.requests]
        assert [b["check"] for b in bodies] == ["freshness", "freshness", "publishing"]
        assert monitor_state(tree)["outbox"] == []
    finally:
        hook.close()


@pytest.mark.parametrize(
    "key,value,named",
    [
        ("certificate_check", {"port": 443}, "certificate_check.name"),
        ("certificate_check", {"name": "x", "port": 0}, "certificate_check.port"),
        ("clock_check", {"adress": "127.0.0.1"}, "clock_check: unknown key(s): adress"),
        ("clock_check", "127.0.0.1", "clock_check"),
        ("disk_alert_free_mb", -1, "disk_alert_free_mb"),
    ],
)
def test_bad_check_settings_are_refused_by_name(tree, key, value, named):
    tree.configure(**{key: value})
    result = tree.monitor(START)
    assert result.rc == 2
    [event] = result.only("config-error")
    assert named in event["detail"]
