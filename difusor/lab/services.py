"""Host-side helper services of the lab: the apt proxy and the NTP server.

Both are our own instances with config and pid files in the lab work dir; the
Debian services of these packages are never started or touched."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from . import network as net
from ._util import LabError, alive, all_pids, cmdline, log, terminate, write_file


def _start(argv: list[str], logfile: Path, what: str) -> int:
    log.debug("starting %s: %s", what, " ".join(argv))
    with open(logfile, "wb") as out:  # one log per up
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        except FileNotFoundError as exc:
            raise LabError(f"{argv[0]} not found: install the host package for {what}") from exc
    return proc.pid


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def pids_with_arg(arg: str) -> list[int]:
    """Our own processes: those whose command line names one of our config files."""
    return [p for p in all_pids() if arg in cmdline(p) and p != os.getpid()]


# ---------------------------------------------------------------- tinyproxy

class Proxy:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.conf = workdir / "tinyproxy.conf"
        self.logfile = workdir / "tinyproxy.log"
        self.pidfile = workdir / "tinyproxy.pid"

    def config(self) -> str:
        return "\n".join([
            "# difusor lab: forward HTTP proxy for the lab machine's apt (generated)",
            "User nobody",
            "Group nogroup",
            f"Listen {net.PROXY_HOST}",
            f"Port {net.PROXY_PORT}",
            "Timeout 600",
            "MaxClients 50",
            "LogLevel Info",
            f"Allow {net.IPV4_PREFIX}",
            "DisableViaHeader yes",
            # CONNECT (https through the proxy) only to the usual TLS port
            "ConnectPort 443",
            "",
        ])

    def start(self) -> int:
        write_file(self.conf, self.config())
        # -d: stay in the foreground, we keep its pid and its log on stderr
        pid = _start(["tinyproxy", "-d", "-c", str(self.conf)], self.logfile, "tinyproxy")
        self.pidfile.write_text(f"{pid}\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not alive(pid):
                raise LabError(f"tinyproxy exited at start:\n{_tail(self.logfile)}")
            if _tcp_listening(net.PROXY_HOST, net.PROXY_PORT):
                log.info("apt proxy %s up (pid %d)", net.PROXY_URL, pid)
                return pid
            time.sleep(0.2)
        raise LabError(f"tinyproxy not listening on {net.PROXY_URL}:\n{_tail(self.logfile)}")

    def stop(self) -> None:
        terminate(pids_with_arg(str(self.conf)), "tinyproxy", timeout=5)
        self.pidfile.unlink(missing_ok=True)


def _tcp_listening(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- chronyd in difusor-ople

class NtpServer:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.conf = workdir / "chrony-ople.conf"
        self.logfile = workdir / "chrony-ople.log"
        self.pidfile = workdir / "chrony-ople.pid"
        self.ns = net.NAMESPACES["ople"]

    def config(self) -> str:
        return "\n".join([
            "# difusor lab: NTP server of the trusted-source namespace (generated)",
            "# started with -x: it never adjusts the host clock; no driftfile, no rtc",
            f"local stratum {net.NTP_STRATUM}",
            f"allow {net.IPV4_PREFIX}",
            f"allow {net.IPV6_PREFIX}",
            "cmdport 0",
            "bindcmdaddress /",  # no Unix command socket either
            f"pidfile {self.pidfile}",
            "",
        ])

    def start(self) -> int:
        write_file(self.conf, self.config())
        self.pidfile.unlink(missing_ok=True)
        # `ip netns exec` execs chronyd in place, so the pid we get is chronyd's.
        # -d: foreground, log to stderr; -x: no clock control; -f: our config only.
        pid = _start(
            ["ip", "netns", "exec", self.ns.name, "chronyd", "-d", "-x", "-f", str(self.conf)],
            self.logfile, "chrony",
        )
        time.sleep(0.3)
        if not alive(pid):
            raise LabError(f"chronyd exited at start:\n{_tail(self.logfile)}")
        log.info("NTP server %s in %s up (pid %d)", net.NTP_SERVER_IPV4, self.ns.name, pid)
        return pid

    def stop(self) -> None:
        terminate(pids_with_arg(str(self.conf)), "chronyd", timeout=5)
        self.pidfile.unlink(missing_ok=True)


def ntp_query_in_netns(ns: str, server: str, timeout: float = 3) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *net.probe_argv(net.NTP_PROBE, server, timeout)],
        capture_output=True, text=True, timeout=timeout + 10,
    )


def wait_ntp(ns: str, server: str, timeout: float = 30) -> str:
    """Poll the NTP server from inside ns until it answers as a synchronised server."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        res = ntp_query_in_netns(ns, server, timeout=2)
        last = (res.stdout + res.stderr).strip()
        if res.returncode == 0:
            return last
        time.sleep(0.5)
    raise LabError(f"NTP server {server} gave no valid answer from {ns} within {timeout}s: {last}")
