"""`Lab`: bring the whole rehearsal lab up and down, and act inside it."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..system import LabError, log, remove_tree, require_root, run, sigterm_unwinds, write_file
from . import network as net
from . import rootfs as rfs
from .acme import AcmeServer
from .machine import Machine
from .services import NtpServer, Proxy, pids_with_arg, wait_ntp

REPO_ROOT = Path(__file__).resolve().parents[3]


def default_workdir() -> Path:
    return Path(os.environ.get("DIFUSOR_LAB_DIR") or REPO_ROOT / ".lab")


def _completed(argv, exc: subprocess.TimeoutExpired, timeout: float) -> subprocess.CompletedProcess:
    def text(v):
        if v is None:
            return ""
        return v.decode(errors="replace") if isinstance(v, bytes) else v

    return subprocess.CompletedProcess(
        argv, 124, text(exc.stdout), text(exc.stderr) + f"\n(timed out after {timeout}s)"
    )


class Lab:
    """The local rehearsal lab.

    ``up()`` gives a freshly booted ``difusor-lab`` machine reachable over SSH from the
    host (the controller, 198.18.0.1), plus the ``difusor-ople`` (trusted source, NTP
    server), ``difusor-public`` (untrusted client) and ``difusor-reader`` (another
    untrusted client) namespaces on the same bridge,
    and an HTTP proxy for apt on 198.18.0.1:3128. ``down()`` removes all of it.
    Also usable as ``with Lab() as lab: ...``.
    """

    # the network contract, for convenience
    MACHINE = net.MACHINE
    LAB_IPV4, LAB_IPV6 = net.LAB_IPV4, net.LAB_IPV6
    CONTROLLER_IPV4, CONTROLLER_IPV6 = net.CONTROLLER_IPV4, net.CONTROLLER_IPV6
    OPLE_IPV4, OPLE_IPV6 = net.OPLE_IPV4, net.OPLE_IPV6
    PUBLIC_IPV4, PUBLIC_IPV6 = net.PUBLIC_IPV4, net.PUBLIC_IPV6
    PROXY_URL = net.PROXY_URL

    def __init__(
        self,
        workdir: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        spec: rfs.RootfsSpec | None = None,
        boot_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ):
        self.workdir = Path(workdir or default_workdir()).absolute()
        self.cache_dir = Path(cache_dir or rfs.default_cache_dir()).absolute()
        self.spec = spec or rfs.RootfsSpec.from_env()
        self.boot_timeout = boot_timeout
        self.stop_timeout = stop_timeout
        self.rootfs = self.workdir / "rootfs"
        self.ssh_config = self.workdir / "ssh_config"
        self.key_path = self.workdir / "id_ed25519"
        self.state_file = self.workdir / "lab.json"
        self.machine = Machine(self.workdir, self.rootfs)
        self.proxy = Proxy(self.workdir)
        self.ntp = NtpServer(self.workdir)
        self.acme = AcmeServer(self.workdir)
        self.timings: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Lab(workdir={str(self.workdir)!r})"

    # ------------------------------------------------------------ context manager

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # ------------------------------------------------------------ locking

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / ".lock", "w") as fh:
            deadline = time.monotonic() + 900
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LabError(
                            f"another lab up/down holds {self.workdir / '.lock'}"
                        ) from None
                    time.sleep(1)
            yield

    # ------------------------------------------------------------ up

    def up(self) -> Lab:
        """Tear down leftovers, then build/reuse the rootfs, network, proxy, NTP; boot; wait
        for SSH.

        On failure everything is torn down again (logs in the work dir are kept)."""
        require_root()
        started = time.monotonic()
        with sigterm_unwinds(), self._lock():
            self.timings = {}
            self._down()
            try:
                self._up()
            except BaseException as exc:
                log.info(
                    "up failed (%s): tearing down; logs kept in %s",
                    type(exc).__name__,
                    self.workdir,
                )
                try:
                    self._down()
                except Exception as down_exc:  # report the original failure
                    log.info("teardown after failure also failed: %s", down_exc)
                raise
        self.timings["up_total"] = round(time.monotonic() - started, 1)
        self._write_state()
        log.info(
            "lab up in %.1fs: ssh -F %s %s", self.timings["up_total"], self.ssh_config, net.MACHINE
        )
        return self

    def _timed(self, key: str, t0: float) -> None:
        self.timings[key] = round(time.monotonic() - t0, 1)

    def _up(self) -> None:
        os.chmod(self.workdir, 0o700)
        t0 = time.monotonic()
        tarball = rfs.RootfsCache(self.cache_dir, self.spec).ensure()
        self._timed("rootfs_cache", t0)

        public_key = self._ensure_key()
        t0 = time.monotonic()
        rfs.extract(tarball, self.rootfs)
        rfs.customize(self.rootfs, self.spec, public_key)
        self._timed("rootfs_copy", t0)

        t0 = time.monotonic()
        log.info("host %s", net.bridge_netfilter_report())
        net.setup()
        self.proxy.start()
        self.ntp.start()
        answer = wait_ntp(net.PUBLIC_NETNS, net.NTP_SERVER_IPV4)
        log.info("NTP answers on the lab network: %s", answer)
        self.acme.start()
        self._timed("network", t0)

        self._write_ssh_config()
        t0 = time.monotonic()
        self.machine.start()
        net.attach_machine_veth(alive=self.machine.running)
        self._wait_ssh()
        self._timed("boot", t0)

    def restart_machine(self) -> None:
        """Power the lab host off and boot it again from the same rootfs (a reboot: what
        the deploy put on disk stays, everything in memory is gone)."""
        self.power_off()
        self.boot()
        self.wait_booted()

    def power_off(self) -> None:
        """An orderly poweroff of the lab host (its services are stopped by its systemd)."""
        require_root()
        with self._lock():
            self.machine.stop(self.stop_timeout)
            net.remove_machine_veth()

    def boot(self) -> None:
        """Start the lab host again and attach it to the lab network; returns at once, while
        it boots (``wait_booted`` waits for SSH and the end of the boot)."""
        require_root()
        with self._lock():
            self.machine.start()
            net.attach_machine_veth(alive=self.machine.running)

    def wait_booted(self) -> None:
        self._wait_ssh()

    def replace_machine(self) -> None:
        """The lab host is lost: power it off and boot a fresh one from the cached rootfs, at
        the same address with the same SSH key (a new server, not yet deployed)."""
        require_root()
        with self._lock():
            self.machine.stop(self.stop_timeout)
            remove_tree(self.rootfs)
            rfs.extract(rfs.RootfsCache(self.cache_dir, self.spec).ensure(), self.rootfs)
            rfs.customize(self.rootfs, self.spec, self._ensure_key())
        self.restart_machine()

    def _ensure_key(self) -> str:
        pub = self.key_path.with_name(self.key_path.name + ".pub")
        if not (self.key_path.exists() and pub.exists()):
            self.key_path.unlink(missing_ok=True)
            pub.unlink(missing_ok=True)
            log.info("generating lab SSH key %s", self.key_path.name)
            run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "difusor-lab",
                    "-f",
                    str(self.key_path),
                ]
            )
        os.chmod(self.key_path, 0o600)
        return pub.read_text()

    def _write_ssh_config(self) -> None:
        write_file(
            self.ssh_config,
            "\n".join(
                [
                    "# difusor lab (generated by difusor.rehearsal.lab; recreated on every up)",
                    f"Host {net.MACHINE}",
                    f"    HostName {net.LAB_IPV4}",
                    "    Port 22",
                    "    User root",
                    f"    IdentityFile {self.key_path}",
                    "    IdentitiesOnly yes",
                    "    StrictHostKeyChecking no",
                    "    UserKnownHostsFile /dev/null",
                    "    LogLevel ERROR",
                    "    ConnectTimeout 10",
                    "    BatchMode yes",
                    "",
                ]
            ),
            0o600,
        )

    def _wait_ssh(self) -> None:
        deadline = time.monotonic() + self.boot_timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.machine.running():
                raise LabError(
                    f"{net.MACHINE} stopped while booting; console:\n{self.machine.log_tail()}"
                )
            if self._port_open(net.LAB_IPV4, 22):
                res = self.ssh(["true"], timeout=15)
                if res.returncode == 0:
                    log.info("ssh to %s works", net.MACHINE)
                    self._wait_booted(deadline)
                    return
                last = res.stderr.strip()
            time.sleep(1)
        raise LabError(
            f"ssh to {net.MACHINE} ({net.LAB_IPV4}) did not work within {self.boot_timeout}s"
            f" ({last or 'port 22 closed'}); console:\n{self.machine.log_tail()}"
        )

    def _wait_booted(self, deadline: float) -> None:
        """Let the boot finish (no start jobs left) so a deploy does not race it."""
        left = max(5.0, deadline - time.monotonic())
        res = self.ssh(
            ["timeout", str(int(left)), "systemctl", "is-system-running", "--wait"],
            timeout=left + 15,
        )
        status = res.stdout.strip() or res.stderr.strip()
        if status == "running":
            log.info("%s booted", net.MACHINE)
            return
        failed = self.ssh(
            ["systemctl", "--failed", "--no-legend", "--plain"], timeout=30
        ).stdout.strip()
        log.info("%s boot state %r; failed units: %s", net.MACHINE, status, failed or "none")

    @staticmethod
    def _port_open(host: str, port: int, timeout: float = 1) -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False

    def _write_state(self) -> None:
        state = {
            "machine": net.MACHINE,
            "workdir": str(self.workdir),
            "rootfs": str(self.rootfs),
            "ssh_config": str(self.ssh_config),
            "key_path": str(self.key_path),
            "ssh_host": net.MACHINE,
            "ssh_user": "root",
            "host_bridge_netfilter": net.bridge_netfilter_report(),
            "addresses": net.addresses(),
            "pids": {
                "nspawn": self.machine.pid,
                "tinyproxy": _read_pid(self.proxy.pidfile),
                "chronyd": _read_pid(self.ntp.pidfile),
            },
            "logs": {
                "machine": str(self.machine.logfile),
                "tinyproxy": str(self.proxy.logfile),
                "chronyd": str(self.ntp.logfile),
            },
            "rootfs_spec": self.spec.as_dict(),
            "timings": self.timings,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_file(self.state_file, json.dumps(state, indent=2) + "\n")

    # ------------------------------------------------------------ down

    def down(self) -> None:
        """Stop and remove everything the lab made; idempotent, also after a partial up."""
        require_root()
        started = time.monotonic()
        with sigterm_unwinds(), self._lock():
            self._down()
        self.timings["down"] = round(time.monotonic() - started, 1)
        log.info("lab down in %.1fs", self.timings["down"])

    def _down(self) -> None:
        errors = []

        def step(fn, *args):
            try:
                fn(*args)
            except Exception as exc:  # keep going: remove as much as possible
                errors.append(f"{getattr(fn, '__qualname__', fn)}: {exc}")

        step(self.machine.stop, self.stop_timeout)
        step(self.acme.stop)
        step(self.ntp.stop)
        step(self.proxy.stop)
        for n in net.NAMESPACES.values():  # anything else still running in our namespaces
            step(_kill_netns_processes, n.name)
        step(net.teardown)
        step(remove_tree, self.rootfs)
        self.state_file.unlink(missing_ok=True)
        if errors:
            raise LabError("lab teardown incomplete:\n" + "\n".join(errors))

    # ------------------------------------------------------------ acting inside the lab

    def run_in(
        self, ns: str, argv: Sequence[str], timeout: float = 30
    ) -> subprocess.CompletedProcess:
        """Run argv inside namespace "ople", "public" or "reader"; text output captured.

        A timeout gives returncode 124 rather than an exception."""
        require_root("running in a lab namespace")
        name = net.namespace(ns).name
        if not net.netns_exists(name):
            raise LabError(f"namespace {name} does not exist: is the lab up?")
        full = ["ip", "netns", "exec", name, *map(str, argv)]
        try:
            return subprocess.run(
                full, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            return _completed(full, exc, timeout)

    def ssh(
        self, argv_or_cmd: str | Sequence[str], timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run a command on the lab host (a list is shell-quoted, a string goes as is).

        A timeout gives returncode 124 rather than an exception."""
        cmd = argv_or_cmd if isinstance(argv_or_cmd, str) else shlex.join(map(str, argv_or_cmd))
        full = ["ssh", "-F", str(self.ssh_config), net.MACHINE, "--", cmd]
        try:
            feed = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
            return subprocess.run(full, capture_output=True, text=True, timeout=timeout, **feed)
        except subprocess.TimeoutExpired as exc:
            return _completed(full, exc, timeout)

    def tcp_reachable(self, ns: str, address: str, port: int, timeout: float = 3) -> bool:
        """True if a real TCP connect from inside the namespace to address:port succeeds."""
        address = address.strip("[]")
        ipaddress.ip_address(address)  # literals only
        res = self.run_in(
            ns, net.probe_argv(net.TCP_PROBE, address, port, timeout), timeout=timeout + 10
        )
        return res.returncode == 0

    def neighbour_reachable(self, ns: str, address: str, port: int, timeout: float = 1) -> bool:
        """True if a TCP SYN for address:port, sent from the namespace in an Ethernet frame
        addressed to the lab host, gets a SYN-ACK: the lab host is asked to take a packet for
        an address it should never accept from its network (127.0.0.1, a container's)."""
        ipaddress.IPv4Address(address)
        where = net.namespace(ns)
        res = self.run_in(
            ns,
            net.probe_argv(
                net.NEIGHBOUR_SYN_PROBE,
                where.inner_iface,
                where.ipv4,
                net.LAB_IPV4,
                address,
                port,
                timeout,
            ),
            timeout=timeout + 10,
        )
        if res.returncode not in (0, 1):
            raise LabError(f"neighbour probe failed: {res.stdout}{res.stderr}")
        return res.returncode == 0

    def ntp_query(
        self, where: str, server: str = net.NTP_SERVER_IPV4, timeout: float = 3
    ) -> subprocess.CompletedProcess:
        """One SNTP query to server from "ople"/"public" (netns) or "lab" (the machine,
        with its python3). returncode 0 means a valid answer from a synchronised server;
        stdout is like ``li=0 mode=4 stratum=8 offset=0.000012``."""
        server = server.strip("[]")
        if where == "lab":
            return self.ssh(
                ["python3", "-I", "-c", net.NTP_PROBE, server, str(timeout)], timeout=timeout + 30
            )
        return self.run_in(
            where, net.probe_argv(net.NTP_PROBE, server, timeout), timeout=timeout + 10
        )

    def leftovers(self) -> list[str]:
        """What of the lab still exists on the host (empty after a clean down)."""
        from ..system import mounts_under

        found = [f"netns {n.name}" for n in net.NAMESPACES.values() if net.netns_exists(n.name)]
        links = [net.BRIDGE, net.MACHINE_VETH, *(n.host_veth for n in net.NAMESPACES.values())]
        found += [f"link {link}" for link in links if net.link_exists(link)]
        found += [f"systemd-nspawn pid {p}" for p in self.machine.nspawn_pids()]
        found += [f"machine process pid {p}" for p in self.machine.pids_in_rootfs()]
        for what, conf in (("tinyproxy", self.proxy.conf), ("chronyd", self.ntp.conf)):
            found += [f"{what} pid {p}" for p in pids_with_arg(str(conf))]
        found += [f"mount {m}" for m in mounts_under(self.workdir)]
        if self.rootfs.exists():
            found.append(f"directory {self.rootfs}")
        return found

    def state(self) -> dict:
        """The contents of lab.json (empty if the lab is not up)."""
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _kill_netns_processes(name: str) -> None:
    from ..system import terminate

    pids = net.pids_in_netns(name)
    if pids:
        terminate(pids, f"processes left in {name}", timeout=5)
