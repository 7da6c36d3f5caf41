"""Host-side helper services of the lab: the apt proxy and the NTP server.

Both are our own instances with config and pid files in the lab work dir; the
Debian services of these packages are never started or touched."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from ..system import LabError, alive, all_pids, cmdline, log, terminate, write_file
from . import network as net


def _start(argv: list[str], logfile: Path, what: str) -> int:
    log.debug("starting %s: %s", what, " ".join(argv))
    with open(logfile, "wb") as out:  # one log per up
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
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
    """tinyproxy as a forward HTTP proxy for apt: by default the lab's, on the bridge; the
    Vagrant rehearsal runs another one on its management network (``listen``/``allow``)."""

    def __init__(
        self,
        workdir: Path,
        listen: str = net.PROXY_HOST,
        port: int = net.PROXY_PORT,
        allow: tuple[str, ...] = (net.IPV4_PREFIX,),
        purpose: str = "the lab machine's apt",
    ):
        self.workdir = workdir
        self.listen, self.port, self.allow, self.purpose = listen, port, allow, purpose
        self.url = f"http://{listen}:{port}"
        self.conf = workdir / "tinyproxy.conf"
        self.logfile = workdir / "tinyproxy.log"
        self.pidfile = workdir / "tinyproxy.pid"

    def config(self) -> str:
        return "\n".join(
            [
                f"# difusor: forward HTTP proxy for {self.purpose} (generated)",
                "User nobody",
                "Group nogroup",
                f"Listen {self.listen}",
                f"Port {self.port}",
                "Timeout 600",
                "MaxClients 50",
                "LogLevel Info",
                *(f"Allow {prefix}" for prefix in self.allow),
                "DisableViaHeader yes",
                # CONNECT (https through the proxy) only to the usual TLS port
                "ConnectPort 443",
                "",
            ]
        )

    def start(self) -> int:
        self.stop()  # one of ours left by an interrupted run
        write_file(self.conf, self.config())
        # -d: stay in the foreground, we keep its pid and its log on stderr
        pid = _start(["tinyproxy", "-d", "-c", str(self.conf)], self.logfile, "tinyproxy")
        self.pidfile.write_text(f"{pid}\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not alive(pid):
                raise LabError(f"tinyproxy exited at start:\n{_tail(self.logfile)}")
            if _tcp_listening(self.listen, self.port):
                log.info("apt proxy %s up (pid %d)", self.url, pid)
                return pid
            time.sleep(0.2)
        raise LabError(f"tinyproxy not listening on {self.url}:\n{_tail(self.logfile)}")

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


# ---------------------------------------------------------------- chronyd


class NtpServer:
    """chronyd -x as an NTP server: by default the lab's, in the trusted-source namespace;
    the Vagrant rehearsal runs another one on this machine (``netns=None``, ``bind``)."""

    def __init__(
        self,
        workdir: Path,
        netns: str | None = net.NAMESPACES["ople"].name,
        allow: tuple[str, ...] = (net.IPV4_PREFIX, net.IPV6_PREFIX),
        bind: str | None = None,
        name: str = "chrony-ople",
    ):
        self.workdir = workdir
        self.netns, self.allow, self.bind = netns, allow, bind
        self.conf = workdir / f"{name}.conf"
        self.logfile = workdir / f"{name}.log"
        self.pidfile = workdir / f"{name}.pid"

    def config(self) -> str:
        return "\n".join(
            [
                "# difusor: NTP server for the rehearsal network (generated)",
                "# started with -x: it never adjusts the host clock; no driftfile, no rtc",
                f"local stratum {net.NTP_STRATUM}",
                *(f"allow {prefix}" for prefix in self.allow),
                *([f"bindaddress {self.bind}"] if self.bind else []),
                "cmdport 0",
                "bindcmdaddress /",  # no Unix command socket either
                f"pidfile {self.pidfile}",
                "",
            ]
        )

    def start(self) -> int:
        self.stop()  # one of ours left by an interrupted run
        write_file(self.conf, self.config())
        # `ip netns exec` execs chronyd in place, so the pid we get is chronyd's.
        # -d: foreground, log to stderr; -x: no clock control; -f: our config only.
        netns = ["ip", "netns", "exec", self.netns] if self.netns else []
        pid = _start([*netns, "chronyd", "-d", "-x", "-f", str(self.conf)], self.logfile, "chrony")
        time.sleep(0.3)
        if not alive(pid):
            raise LabError(f"chronyd exited at start:\n{_tail(self.logfile)}")
        log.info(
            "NTP server up %s(pid %d)",
            f"in {self.netns} " if self.netns else f"on {self.bind} ",
            pid,
        )
        return pid

    def stop(self) -> None:
        terminate(pids_with_arg(str(self.conf)), "chronyd", timeout=5)
        # chronyd cannot remove its pid file after dropping root
        self.pidfile.unlink(missing_ok=True)


def ntp_query_in_netns(ns: str, server: str, timeout: float = 3) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *net.probe_argv(net.NTP_PROBE, server, timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 10,
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
