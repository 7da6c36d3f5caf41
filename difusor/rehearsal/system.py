"""Helpers shared by the rehearsal tools (the lab and the Vagrant rehearsal): logging, commands,
processes."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

log = logging.getLogger("difusor.rehearsal.lab")
if not log.handlers and not os.environ.get("DIFUSOR_LAB_QUIET"):
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("lab: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.DEBUG if os.environ.get("DIFUSOR_LAB_DEBUG") else logging.INFO)
    log.propagate = False


class LabError(RuntimeError):
    """Anything that keeps the lab from coming up or going down cleanly."""


def require_root(what: str = "the difusor lab") -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"{what} needs root (network namespaces, bridges, systemd-nspawn); "
            "run it with sudo or as root"
        )


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 120,
    env: dict | None = None,
    input: str | None = None,
    quiet: bool = False,
) -> subprocess.CompletedProcess:
    """Run a command, capture text output, raise LabError on failure if check."""
    argv = [str(a) for a in argv]
    log.debug("$ %s", shlex.join(argv))
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise LabError(
            f"command not found: {argv[0]} (install the host package that provides it)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {shlex.join(argv)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip()
        raise LabError(f"command failed ({proc.returncode}): {shlex.join(argv)}\n{detail}")
    if not quiet and proc.returncode != 0:
        log.debug("exit %s: %s", proc.returncode, (proc.stderr or "").strip())
    return proc


@contextlib.contextmanager
def sigterm_unwinds():
    """While inside, SIGTERM raises SystemExit so cleanup (finally blocks) runs.

    Only in the main thread, and only if SIGTERM still has its default action."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


# ---------------------------------------------------------------- processes


def proc_state(pid: int) -> str | None:
    """One-letter state of a process, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None
    # comm may contain spaces and parentheses: state follows the last ')'
    return stat[stat.rfind(")") + 2 :].split(" ", 1)[0]


def proc_ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split(" ")[1])


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (zombie children are reaped)."""
    state = proc_state(pid)
    if state is None:
        return False
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of pids is alive; return those still alive at the deadline."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)


def send(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def terminate(
    pids: Iterable[int], what: str, timeout: float = 10, sig: int = signal.SIGTERM
) -> None:
    """Signal pids (SIGTERM by default), then SIGKILL whatever is left after timeout."""
    pids = [p for p in set(pids) if p != os.getpid() and alive(p)]
    if not pids:
        return
    log.info("stopping %s (pid %s)", what, ", ".join(map(str, sorted(pids))))
    for p in pids:
        send(p, sig)
    left = wait_gone(pids, timeout)
    if left:
        log.info(
            "%s did not stop within %ss, killing pid %s", what, timeout, ", ".join(map(str, left))
        )
        for p in left:
            send(p, signal.SIGKILL)
        left = wait_gone(left, 10)
        if left:
            raise LabError(f"could not kill {what}: pid {left} still alive")


def pids_with_root(directory: Path) -> list[int]:
    """Processes whose root directory is directory (a chroot or a container on it)."""
    try:
        st = os.stat(directory)
    except OSError:
        return []
    found = []
    for p in all_pids():
        if p == os.getpid():
            continue
        try:
            pst = os.stat(f"/proc/{p}/root")
        except OSError:
            continue
        if (pst.st_dev, pst.st_ino) == (st.st_dev, st.st_ino):
            found.append(p)
    return found


# ---------------------------------------------------------------- mounts


def _unescape_mount(path: str) -> str:
    return path.encode().decode("unicode_escape") if "\\" in path else path


def mounts_under(directory: Path) -> list[str]:
    """Mount points (in this mount namespace) at or below directory, deepest first."""
    top = str(directory.resolve()) if directory.exists() else str(directory)
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        mnt = _unescape_mount(fields[4])
        if mnt == top or mnt.startswith(top.rstrip("/") + "/"):
            found.append(mnt)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def unmount_under(directory: Path) -> None:
    for _ in range(5):
        mnts = mounts_under(directory)
        if not mnts:
            return
        for mnt in mnts:
            log.info("unmounting leftover %s", mnt)
            if run(["umount", mnt], check=False, quiet=True).returncode != 0:
                run(["umount", "-l", mnt], check=False, quiet=True)
    if mounts_under(directory):
        raise LabError(f"mounts remain under {directory}: {mounts_under(directory)}")


def remove_tree(directory: Path) -> None:
    """rm -rf a directory without ever crossing into a mounted file system."""
    if not directory.exists() and not directory.is_symlink():
        return
    unmount_under(directory)
    run(["rm", "-rf", "--one-file-system", "--", str(directory)], timeout=600)
    if directory.exists():
        raise LabError(f"could not remove {directory}")


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file atomically (temporary name + rename) with the given mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if path.is_symlink():
        path.unlink()
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
