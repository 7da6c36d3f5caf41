"""
The portal from outside, as the lab's `public` namespace (an internet reader) sees it:
HTTPS only, TLS 1.2/1.3 per Mozilla's intermediate profile (sslyze), security headers,
a certificate from the lab's ACME server renewed on demand, JSON access logs, and log
rotation under load without losing a line.
"""

import json
import subprocess
import sys
import time
import uuid

import pytest

from difusor.rehearsal.lab import LAB_IPV4
from difusor.rehearsal.lab.acme import ACME_ROOTS_URL
from difusor.rehearsal.lab.inventory import EMBED_ORIGIN

NAME = "prep.lab.test"


def curl(lab, *args: str, ns: str = "public") -> subprocess.CompletedProcess:
    return lab.run_in(
        ns,
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--resolve",
            f"{NAME}:443:{LAB_IPV4}",
            "--resolve",
            f"{NAME}:80:{LAB_IPV4}",
            *args,
        ],
    )


@pytest.fixture(scope="module")
def acme_root(lab, tmp_path_factory) -> str:
    """Pebble's issuing root, to verify the portal's certificate for real."""
    path = tmp_path_factory.mktemp("acme") / "root.pem"
    fetched = lab.run_in(
        "ople", ["curl", "-sS", "--insecure", "--max-time", "10", "-o", str(path), ACME_ROOTS_URL]
    )
    assert fetched.returncode == 0, fetched.stderr
    return str(path)


@pytest.fixture(scope="module")
def headers(lab, acme_root) -> str:
    result = curl(lab, "--cacert", acme_root, "-D", "-", "-o", "/dev/null", f"https://{NAME}/")
    assert result.returncode == 0, result.stderr
    return result.stdout.lower()


def test_http_redirects_to_https(lab):
    result = curl(
        lab,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        f"http://{NAME}/resultados?x=1",
    )
    assert result.stdout == f"301 https://{NAME}/resultados?x=1"


def test_acme_challenge_path_is_not_redirected(lab):
    token = uuid.uuid4().hex
    challenges = "/var/www/acme/.well-known/acme-challenge"
    lab.ssh(f"mkdir -p {challenges} && echo {token} > {challenges}/{token}")
    try:
        result = curl(
            lab, "-w", " %{http_code}", f"http://{NAME}/.well-known/acme-challenge/{token}"
        )
        assert result.stdout.split() == [token, "200"]
    finally:
        lab.ssh(f"rm -f {challenges}/{token}")


def test_certificate_verifies_against_the_lab_acme_root(headers):
    assert headers.startswith("http/2 200")


@pytest.mark.parametrize(
    "header",
    [
        "strict-transport-security: max-age=63072000",
        "x-content-type-options: nosniff",
        "referrer-policy: strict-origin-when-cross-origin",
        f"content-security-policy: frame-ancestors 'self' {EMBED_ORIGIN}",
        "server: nginx\n",
    ],
)
def test_security_headers(headers, header):
    assert header in headers


def test_placeholder_before_the_first_corte(lab, acme_root):
    page = curl(lab, "--cacert", acme_root, f"https://{NAME}/").stdout
    assert "20:00" in page
    stamp = json.loads(curl(lab, "--cacert", acme_root, f"https://{NAME}/corte.json").stdout)
    assert stamp["corte"] is None


@pytest.fixture(scope="module")
def sslyze_report(lab, acme_root, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("sslyze") / "report.json"
    result = lab.run_in(
        "public",
        [
            sys.executable,
            "-m",
            "sslyze",
            "--certinfo_ca_file",
            acme_root,
            "--mozilla_config=intermediate",
            f"--json_out={out}",
            f"{NAME}:443{{{LAB_IPV4}}}",
        ],
        timeout=120,
    )
    report = json.loads(out.read_text())
    report["mozilla_exit_code"] = result.returncode
    report["stdout"] = result.stdout
    return report


def accepted(report: dict, protocol: str) -> int:
    scan = report["server_scan_results"][0]["scan_result"][f"{protocol}_cipher_suites"]["result"]
    return len(scan["accepted_cipher_suites"])


@pytest.mark.parametrize("protocol", ["ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"])
def test_old_protocols_refused(sslyze_report, protocol):
    assert accepted(sslyze_report, protocol) == 0


@pytest.mark.parametrize("protocol", ["tls_1_2", "tls_1_3"])
def test_current_protocols_accepted(sslyze_report, protocol):
    assert accepted(sslyze_report, protocol) > 0


def test_mozilla_intermediate_profile(sslyze_report):
    assert sslyze_report["mozilla_exit_code"] == 0, sslyze_report["stdout"][-2000:]
    assert f"{NAME}:443: OK - Compliant." in sslyze_report["stdout"]


def served_serial(lab, acme_root) -> str:
    result = lab.run_in(
        "public",
        [
            "sh",
            "-c",
            f"openssl s_client -connect {LAB_IPV4}:443 -servername {NAME} "
            f"-CAfile {acme_root} </dev/null 2>/dev/null | openssl x509 -noout -serial -issuer",
        ],
    )
    return result.stdout


def test_certificate_from_acme_and_forced_renewal(lab, acme_root):
    before = served_serial(lab, acme_root)
    assert "Pebble" in before
    renewed = lab.ssh(
        "REQUESTS_CA_BUNDLE=/etc/difusor/tls/acme-ca.pem "
        "certbot renew --force-renewal --no-random-sleep-on-renew",
        timeout=300,
    )
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    deadline = time.monotonic() + 20
    while served_serial(lab, acme_root) == before and time.monotonic() < deadline:
        time.sleep(1)
    after = served_serial(lab, acme_root)
    assert after != before and "Pebble" in after


def access_lines(lab, marker: str, expected: int) -> list[dict]:
    """Access log lines carrying the marker, across rotated files; waits out nginx's
    one-second log buffer."""
    deadline = time.monotonic() + 10
    while True:
        result = lab.ssh(
            "cd /var/log/nginx && for f in access.log*; do "
            "case $f in *.gz) zcat $f;; *) cat $f;; esac; "
            f"done | grep -F {marker}"
        )
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_access_log_is_json_with_the_required_fields(lab, acme_root):
    marker = uuid.uuid4().hex
    curl(
        lab,
        "--cacert",
        acme_root,
        "-A",
        "lab-reader",
        "-e",
        "https://www.example.mx/",
        f"https://{NAME}/?q={marker}",
    )
    [line] = access_lines(lab, marker, 1)
    assert line["client"] == "198.18.0.30"
    assert line["query"] == f"q={marker}" and line["path"] == "/index.html"
    assert line["status"] == 200 and line["bytes"] > 0
    assert line["tls"] in ("TLSv1.2", "TLSv1.3")
    assert line["user_agent"] == "lab-reader" and line["referer"] == "https://www.example.mx/"
    assert line["time"].endswith(("-06:00", "-05:00"))
    # a first visit: no cookie came back, nginx sets one
    assert line["visitor_got"] == "" and line["visitor_set"].startswith("difusor=")
    for field in ("method", "request_time", "cache", "cdn_cache", "corte"):
        assert field in line


@pytest.mark.parametrize(
    "ns, logged",
    [("ople", "203.0.113.77"), ("public", "198.18.0.30")],
    ids=["from-the-cdn", "spoofed-by-a-reader"],
)
def test_real_client_address_only_from_the_cdn(lab, acme_root, ns, logged):
    marker = uuid.uuid4().hex
    curl(
        lab,
        "--cacert",
        acme_root,
        "-H",
        "X-Forwarded-For: 203.0.113.77",
        f"https://{NAME}/?xff={marker}",
        ns=ns,
    )
    [line] = access_lines(lab, marker, 1)
    assert line["client"] == logged


def load(
    lab, ns: str, path: str, requests: int, threads: int, seconds: float, interval: float = 0
) -> dict:
    result = lab.run_in(
        ns,
        [
            sys.executable,
            "-m",
            "difusor.rehearsal.lab.load",
            "--host",
            LAB_IPV4,
            "--name",
            NAME,
            "--path",
            path,
            "--requests",
            str(requests),
            "--threads",
            str(threads),
            "--seconds",
            str(seconds),
            "--interval",
            str(interval),
        ],
        timeout=seconds + 30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_rotation_under_load_loses_no_line(lab, flood_allowed):
    marker = uuid.uuid4().hex
    loader = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            "difusor-public",
            sys.executable,
            "-m",
            "difusor.rehearsal.lab.load",
            "--host",
            LAB_IPV4,
            "--name",
            NAME,
            "--path",
            f"/?rot={marker}",
            "--requests",
            "3000",
            "--threads",
            "2",
            "--seconds",
            "60",
            "--interval",
            "0.003",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    rotated = lab.ssh("logrotate -f /etc/logrotate.d/nginx")
    report = json.loads(loader.communicate(timeout=90)[0])
    assert rotated.returncode == 0, rotated.stderr
    # Past the rate limit some answers are 429: they are logged too, so every request counts.
    assert set(report["status"]) <= {"200", "429"}, report
    lines = access_lines(lab, marker, report["sent"])
    assert len(lines) == report["sent"] == 3000
    assert sorted(line["status"] for line in lines) == sorted(
        int(s) for s, n in report["status"].items() for _ in range(n)
    )
    assert len(lab.ssh("ls /var/log/nginx/access.log-*").stdout.split()) >= 1


def test_flood_is_limited_while_a_reader_is_served(lab, flood_allowed):
    reader = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            "difusor-ople",
            sys.executable,
            "-m",
            "difusor.rehearsal.lab.load",
            "--host",
            LAB_IPV4,
            "--name",
            NAME,
            "--path",
            "/",
            "--requests",
            "20",
            "--threads",
            "1",
            "--seconds",
            "30",
            "--interval",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    flood = load(lab, "public", "/", requests=3000, threads=8, seconds=30)
    reader_report = json.loads(reader.communicate(timeout=60)[0])
    assert flood["status"].get("429", 0) > 0, flood
    assert reader_report["status"] == {"200": 20}, reader_report
