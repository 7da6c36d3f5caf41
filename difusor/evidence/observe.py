"""
Reading a deployed server for the evidence, without changing anything on it.

On the server, only commands that read: pyinfra facts (each a command and a pure
``process``) over one SSH connection, and the host test suite (``tests/host``, testinfra)
through the same connection. From where the command runs (the operator's machine): TCP
connections to 22, 80, 443 and 873 of the server's address, HTTPS requests for ``/`` and
``/corte.json``, and an sslyze scan of the portal against Mozilla's intermediate profile.

Everything lands in one JSON-ready dict (``observe``); the compliance matrix and the diagram
are pure functions of it and the settings.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinfra.facts.docker import DockerContainers, DockerVersion
from pyinfra.facts.server import LinuxDistribution, LinuxDistributionDict
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

from difusor import paths
from difusor.deploys.portal import LIVE_CERTIFICATE
from difusor.deploys.ssh import OPERATORS_GROUP
from difusor.facts import (
    ArchivedPackages,
    Certificate,
    ChronySources,
    ChronyTracking,
    ContainerType,
    Fail2banJails,
    HostAddresses,
    HostResources,
    JsonDocument,
    LiveReleaseIntegrity,
    LynisReport,
    NginxDirectives,
    PrivilegedAccess,
    SshClientAddress,
    SshdConfig,
    UfwActive,
    UfwState,
)
from difusor.remote import Remote
from difusor.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST_SUITE = REPO_ROOT / "tests" / "host"

# The units the kit runs, as the diagram and the matrix name them.
UNITS = [
    "ssh.service",
    "nginx.service",
    "chrony.service",
    "fail2ban.service",
    "rsync.service",
    "docker.service",
    "containerd.service",
    "difusor-publisher.service",
    "difusor-monitor.timer",
    "certbot.timer",
    "unattended-upgrades.service",
]
PROBED_PORTS = (22, 80, 443, 873)
# Services that speak first: their greeting line says who answered.
GREETERS = (22, 873)
PUBLISHER_STATUS = (
    f"cd {paths.PROGRAM_DIR} && python3 -B -m difusor_server status "
    f"--config {paths.PUBLISHER_CONFIG}"
)
CONNECT_TIMEOUT = 5.0
SSLYZE_TIMEOUT = 180


def read_host(remote: Remote) -> dict[str, Any]:
    """Every fact the matrix and the diagram need, each read with its own command."""
    services = remote.fact(SystemdStatus, services=UNITS)
    enabled = remote.fact(SystemdEnabled, services=UNITS)
    return {
        "operator_address": remote.fact(SshClientAddress, privileged=False),
        "os": _distribution(remote.fact(LinuxDistribution)),
        "container": remote.fact(ContainerType),
        "resources": remote.fact(HostResources),
        "addresses": remote.fact(HostAddresses),
        "services": {
            unit: {"active": bool(services.get(unit)), "enabled": bool(enabled.get(unit))}
            for unit in UNITS
        },
        "ufw": {**remote.fact(UfwState), "active": bool(remote.fact(UfwActive))},
        "sshd": remote.fact(SshdConfig) or {},
        "access": remote.fact(PrivilegedAccess, paths.ROOT_KEYS_FILE, OPERATORS_GROUP),
        "nginx": remote.fact(NginxDirectives),
        "certificate": remote.fact(Certificate, LIVE_CERTIFICATE),
        "chrony": {**remote.fact(ChronyTracking), "sources": remote.fact(ChronySources)},
        "fail2ban": remote.fact(Fail2banJails),
        "docker": {
            "version": _docker_version(remote.fact(DockerVersion)),
            "containers": [_container(c) for c in remote.fact(DockerContainers) or []],
        },
        "publisher": {
            "status": remote.fact(JsonDocument, PUBLISHER_STATUS),
            "config": remote.fact(JsonDocument, f"cat {paths.PUBLISHER_CONFIG}"),
            "archive": remote.fact(ArchivedPackages, paths.ARCHIVE_DIR),
            "integrity": remote.fact(LiveReleaseIntegrity, paths.CURRENT_LINK, paths.ARCHIVE_DIR),
        },
        "lynis": remote.fact(LynisReport),
    }


def _distribution(distro: LinuxDistributionDict) -> dict[str, Any]:
    meta = distro.get("release_meta") or {}
    return {
        "name": distro.get("name"),
        "major": distro.get("major"),
        "minor": distro.get("minor"),
        "pretty": meta.get("PRETTY_NAME") or f"{distro.get('name')} {distro.get('major')}",
    }


def _docker_version(text: str | None) -> str | None:
    """'Docker version 20.10.24+dfsg1, build 297e128' -> 'Docker 20.10.24+dfsg1'."""
    if not text:
        return None
    return text.replace("Docker version", "Docker").split(",", 1)[0].strip()


def _container(inspect: dict) -> dict[str, Any]:
    """What a docker inspect record says about a container's exposure."""
    ports = []
    for spec, bindings in ((inspect.get("NetworkSettings") or {}).get("Ports") or {}).items():
        container_port, _, proto = spec.partition("/")
        for binding in bindings or []:
            ports.append(
                {
                    "host_ip": binding.get("HostIp") or "0.0.0.0",
                    "host_port": int(binding.get("HostPort") or 0),
                    "container_port": int(container_port),
                    "proto": proto or "tcp",
                }
            )
    return {
        "name": (inspect.get("Name") or "").lstrip("/"),
        "image": (inspect.get("Config") or {}).get("Image", ""),
        "state": (inspect.get("State") or {}).get("Status", ""),
        "ports": ports,
    }


# -- from the operator's machine ---------------------------------------------------------------


def _connect_error(error: OSError) -> str:
    if isinstance(error, TimeoutError):
        return "sin respuesta (tiempo agotado)"
    return {
        errno.ECONNREFUSED: "conexión rechazada",
        errno.EHOSTUNREACH: "sin ruta al servidor",
        errno.ENETUNREACH: "red inalcanzable",
        errno.ECONNRESET: "conexión reiniciada",
    }.get(error.errno or 0, error.strerror or str(error))


def probe_port(
    address: str, port: int, timeout: float = CONNECT_TIMEOUT, greets: bool | None = None
) -> dict[str, Any]:
    """A real TCP connection to ``address:port``, and the greeting line of a service that
    speaks first (SSH, rsync: ``greets`` defaults to whether the port is theirs)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as connection:
            answer = ""
            if port in GREETERS if greets is None else greets:
                connection.settimeout(timeout)
                with contextlib.suppress(OSError):
                    data = connection.recv(256)
                    answer = data.split(b"\n", 1)[0].decode("ascii", "replace").strip()
            return {"open": True, "answer": answer, "error": ""}
    except OSError as error:
        return {"open": False, "answer": "", "error": _connect_error(error)}


def probe_ports(address: str) -> dict[str, dict[str, Any]]:
    return {str(port): probe_port(address, port) for port in PROBED_PORTS}


def resolve(name: str) -> dict[str, Any]:
    """The addresses ``name`` resolves to from here (or why not)."""
    try:
        infos = socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)
    except OSError as error:
        return {"addresses": [], "error": str(error)}
    return {"addresses": sorted({info[4][0] for info in infos}), "error": ""}


def https_get(address: str, domain: str, path: str, ca_file: str | None) -> dict[str, Any]:
    """GET ``https://domain/path`` from ``address`` (like ``curl --resolve``): status, headers,
    body; whether the certificate verified for the name, and the TLS version."""
    result: dict[str, Any] = {"status": None, "headers": {}, "body": "", "verified": False}
    for verify in (True, False):
        context = ssl.create_default_context(cafile=ca_file)
        if not verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            raw = socket.create_connection((address, 443), timeout=CONNECT_TIMEOUT)
            tls = context.wrap_socket(raw, server_hostname=domain)
        except ssl.SSLCertVerificationError as error:
            result["error"] = f"certificado no verificado: {error.verify_message}"
            continue
        except OSError as error:
            result["error"] = _connect_error(error)
            return result
        connection = http.client.HTTPSConnection(domain, 443, timeout=CONNECT_TIMEOUT)
        connection.sock = tls
        try:
            connection.request("GET", path, headers={"User-Agent": "difusor-evidence"})
            response = connection.getresponse()
            result.update(
                status=response.status,
                headers={key.lower(): value for key, value in response.getheaders()},
                body=response.read(65536).decode("utf-8", "replace"),
                verified=verify,
                tls_version=tls.version(),
            )
            if verify:
                result.pop("error", None)
        except (OSError, http.client.HTTPException) as error:
            result["error"] = str(error)
        finally:
            connection.close()
        return result
    return result


def start_tls_scan(
    address: str, domain: str, ca_file: str | None, workdir: Path
) -> subprocess.Popen[str]:
    """sslyze against Mozilla's intermediate profile, as the portal tests run it."""
    location = f"[{address}]" if ":" in address else address
    argv = [
        sys.executable,
        "-m",
        "sslyze",
        "--mozilla_config=intermediate",
        f"--json_out={workdir / 'sslyze.json'}",
        *([f"--certinfo_ca_file={ca_file}"] if ca_file else []),
        f"{domain}:443{{{location}}}",
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


PROTOCOLS = ["ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1", "tls_1_2", "tls_1_3"]


def finish_tls_scan(scan: subprocess.Popen[str], workdir: Path, domain: str) -> dict[str, Any]:
    try:
        output, _ = scan.communicate(timeout=SSLYZE_TIMEOUT)
    except subprocess.TimeoutExpired:
        scan.kill()
        scan.communicate()
        return {"error": f"sslyze no terminó en {SSLYZE_TIMEOUT} s"}
    return parse_tls_scan(workdir / "sslyze.json", output, domain)


def parse_tls_scan(report: Path, output: str, domain: str) -> dict[str, Any]:
    """Accepted cipher suites per protocol and the Mozilla verdict of an sslyze run."""
    try:
        scan = json.loads(report.read_text())["server_scan_results"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return {"error": "sslyze no produjo un informe: " + " ".join(output.split())[-300:]}
    if scan.get("scan_status") != "COMPLETED":
        return {"error": f"sslyze no pudo conectar: {scan.get('connectivity_error_trace') or ''}"}
    accepted = {}
    for protocol in PROTOCOLS:
        attempt = scan["scan_result"].get(f"{protocol}_cipher_suites") or {}
        suites = (attempt.get("result") or {}).get("accepted_cipher_suites")
        accepted[protocol] = len(suites) if suites is not None else None
    compliant, issues = False, []
    verdict = f"{domain}:443: "
    lines = [line.strip() for line in output.splitlines()]
    for at, line in enumerate(lines):
        if line.startswith(verdict):
            compliant = line == f"{verdict}OK - Compliant."
            for detail in lines[at + 1 :]:
                if not detail.startswith("* "):
                    break
                issues.append(detail[2:])
            break
    return {"accepted": accepted, "mozilla_intermediate": compliant, "issues": issues}


# -- the host test suite -----------------------------------------------------------------------


def run_host_suite(remote: Remote, inventory: str, host_name: str, workdir: Path) -> dict[str, Any]:
    """``tests/host`` against the server through ``remote``'s connection; its JUnit cases."""
    if not HOST_SUITE.is_dir():
        return {
            "ran": False,
            "error": f"no está el conjunto de pruebas ({HOST_SUITE})",
            "cases": [],
        }
    report = workdir / "host-suite.xml"
    spec = f"ssh://{remote.target.alias}" + ("?sudo=true" if remote.target.sudo else "")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(HOST_SUITE),
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={report}",
        f"--target={spec}",
        f"--ssh-config={remote.config_path}",
        f"--inventory={Path(inventory).absolute() if os.path.exists(inventory) else inventory}",
        f"--inventory-host={host_name}",
    ]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ})
    if not report.is_file():
        tail = " ".join((result.stdout + result.stderr).split())[-400:]
        return {
            "ran": False,
            "error": f"pytest terminó con {result.returncode}: {tail}",
            "cases": [],
        }
    return {
        "ran": True,
        "seconds": round(time.monotonic() - started, 1),
        "cases": junit_cases(report),
    }


# pytest writes an expected failure (a documented exception) as a skip of this type.
XFAIL_TYPE = "pytest.xfail"


def junit_cases(report: Path) -> list[dict[str, str]]:
    """Each test case of a JUnit report: pytest's node id, outcome (passed, failed, skipped or
    xfailed) and message."""
    cases = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        node = f"{module}.py::{case.get('name')}"
        problem = next(
            (case.find(tag) for tag in ("failure", "error") if case.find(tag) is not None), None
        )
        skipped = case.find("skipped")
        if problem is not None:
            outcome, message = "failed", problem.get("message", "")
        elif skipped is not None:
            outcome = "xfailed" if skipped.get("type") == XFAIL_TYPE else "skipped"
            message = skipped.get("message", "")
        else:
            outcome, message = "passed", ""
        cases.append({"id": node, "outcome": outcome, "message": " ".join(message.split())[:300]})
    return cases


# -- all of it ---------------------------------------------------------------------------------


def observe(
    remote: Remote,
    settings: Settings,
    inventory: str,
    host_name: str,
    workdir: Path,
    ca_file: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Everything the evidence says about the server, with the time each part took."""
    timings: dict[str, float] = {}

    def timed(name: str, read: Callable[[], Any]) -> Any:
        progress(name)
        started = time.monotonic()
        value = read()
        timings[name] = round(time.monotonic() - started, 1)
        return value

    address = resolve(remote.target.hostname)["addresses"]
    server_address = next(iter(address), remote.target.hostname)
    scan = start_tls_scan(server_address, settings.portal_domain, ca_file, workdir)
    try:
        observed = timed("facts", lambda: read_host(remote))
        observed["target"] = {"name": host_name, "address": server_address}
        observed["operator_trusted"] = (
            settings.is_trusted(observed["operator_address"])
            if observed["operator_address"]
            else None
        )
        observed["reachability"] = timed("ports", lambda: probe_ports(server_address))
        observed["dns"] = resolve(settings.portal_domain)
        observed["http"] = timed(
            "https",
            lambda: {
                path: https_get(server_address, settings.portal_domain, path, ca_file)
                for path in ("/", "/corte.json")
            },
        )
        observed["suite"] = timed(
            "host suite", lambda: run_host_suite(remote, inventory, host_name, workdir)
        )
        observed["tls"] = timed(
            "tls", lambda: finish_tls_scan(scan, workdir, settings.portal_domain)
        )
    finally:
        if scan.poll() is None:
            scan.kill()
            scan.communicate()
    observed["timings"] = timings
    return observed


def tool_missing() -> list[str]:
    """Programs the evidence needs on the operator's machine and cannot find."""
    return [tool for tool in ("ssh", "dot") if shutil.which(tool) is None]
