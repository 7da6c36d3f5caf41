"""The lab host: a systemd-nspawn machine booting the fresh rootfs copy."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from ..system import (
    LabError,
    alive,
    all_pids,
    cmdline,
    log,
    pids_with_root,
    proc_ppid,
    remove_tree,
    send,
    terminate,
    wait_gone,
)
from . import network as net

NSPAWN_RUN_DIR = Path("/run/systemd/nspawn")


class Machine:
    name = net.MACHINE

    def __init__(self, workdir: Path, rootfs: Path):
        self.workdir = workdir
        self.rootfs = rootfs
        self.logfile = workdir / "machine.log"
        self.pidfile = workdir / "machine.pid"
        self._proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        return [
            "systemd-nspawn",
            "--boot",
            f"--directory={self.rootfs}",
            f"--machine={self.name}",
            # the host has no systemd/dbus to register with or to create a scope
            "--register=no",
            "--keep-unit",
            "--network-veth",  # own netns; host side ve-difusor-lab, joined to the bridge
            # what Docker inside the machine needs, minus the clock
            "--capability=all",
            "--drop-capability=CAP_SYS_TIME",
            "--system-call-filter=@keyring bpf",
            "--console=read-only",
            "--resolv-conf=off",
            "--link-journal=no",
            "--timezone=off",
        ]

    def start(self) -> int:
        NSPAWN_RUN_DIR.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"  # cgroup v2 inside (Docker needs it)
        env.pop("NOTIFY_SOCKET", None)
        log.info("booting %s (console: %s)", self.name, self.logfile.name)
        with open(self.logfile, "wb") as out:
            try:
                self._proc = subprocess.Popen(
                    self.argv(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
            except FileNotFoundError as exc:
                raise LabError(
                    "systemd-nspawn not found: install the host package systemd-container"
                ) from exc
        self.pidfile.write_text(f"{self._proc.pid}\n")
        return self._proc.pid

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        pid = self.pid
        return bool(pid and alive(pid) and self._is_our_nspawn(pid))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------ finding our processes

    def _is_our_nspawn(self, pid: int) -> bool:
        argv = cmdline(pid)
        if not argv or os.path.basename(argv[0]) != "systemd-nspawn":
            return False
        return f"--machine={self.name}" in argv or ("-M" in argv and self.name in argv)

    def nspawn_pids(self) -> list[int]:
        pids = set()
        if self.pid and alive(self.pid) and self._is_our_nspawn(self.pid):
            pids.add(self.pid)
        pids.update(p for p in all_pids() if self._is_our_nspawn(p))
        return sorted(pids)

    def leaders(self) -> list[int]:
        """The machine's PID 1 as seen from the host (a child of systemd-nspawn)."""
        nspawn = set(self.nspawn_pids())
        return [p for p in all_pids() if proc_ppid(p) in nspawn and p not in nspawn]

    def pids_in_rootfs(self) -> list[int]:
        """Processes whose root directory is our rootfs copy (the machine's processes)."""
        return pids_with_root(self.rootfs)

    # ------------------------------------------------------------ stop

    def stop(self, timeout: float = 30) -> None:
        """Orderly poweroff (SIGTERM to systemd-nspawn halts the machine's systemd),
        then SIGKILL for whatever is left after timeout."""
        nspawn = self.nspawn_pids()
        if nspawn:
            log.info("powering off %s (pid %s)", self.name, ", ".join(map(str, nspawn)))
            for p in nspawn:
                send(p, signal.SIGTERM)
            left = wait_gone(nspawn, timeout)
            if left:
                log.info("%s did not power off within %ss: killing it", self.name, timeout)
                for p in self.leaders():  # SIGKILL to a pid namespace's init ends the namespace
                    send(p, signal.SIGKILL)
                for p in left:
                    send(p, signal.SIGKILL)
                wait_gone(left, 10)
        stray = self.pids_in_rootfs()
        if stray:
            terminate(stray, f"leftover processes of {self.name}", timeout=5, sig=signal.SIGKILL)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            self._proc = None
        if self.nspawn_pids():
            raise LabError(f"systemd-nspawn for {self.name} still running: {self.nspawn_pids()}")
        self.pidfile.unlink(missing_ok=True)
        _remove_nspawn_cgroups()
        # state systemd-nspawn keeps for the machine under /run (left behind by a kill)
        for sub in ("propagate", "unix-export"):
            d = NSPAWN_RUN_DIR / sub / self.name
            if d.exists():
                remove_tree(d)


def _cgroup_bases() -> list[Path]:
    """Our own cgroup directory in the v2 and the name=systemd hierarchies."""
    mounts: dict[str, str] = {}
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            pre, _, post = line.partition(" - ")
            fstype, _src, opts = [*post.split(" "), "", "", ""][:3]
            mnt = pre.split(" ")[4]
            if fstype == "cgroup2":
                mounts.setdefault("", mnt)
            elif fstype == "cgroup" and "name=systemd" in opts.split(","):
                mounts.setdefault("name=systemd", mnt)
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    bases = []
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        if controllers in mounts:
            bases.append(Path(mounts[controllers] + path))
    return bases


def _remove_nspawn_cgroups() -> None:
    """systemd-nspawn --keep-unit makes payload/ and supervisor/ below the caller's cgroup;
    with no systemd on the host nobody removes them. rmdir only succeeds on empty ones."""
    if any(os.path.basename((cmdline(p) or [""])[0]) == "systemd-nspawn" for p in all_pids()):
        return  # another machine may be using them
    for base in _cgroup_bases():
        for sub in ("payload", "supervisor"):
            top = base / sub
            if not top.is_dir():
                continue
            dirs = sorted((d for d, _, _ in os.walk(top)), key=lambda d: d.count("/"), reverse=True)
            for d in dirs:
                try:
                    os.rmdir(d)
                except OSError as exc:
                    log.debug("cgroup %s not removed: %s", d, exc)
