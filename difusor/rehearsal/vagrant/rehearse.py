"""
The Vagrant rehearsal, run for real, the way a sysadmin would: `vagrant up` of the local
box, `pyinfra @vagrant deploy.py`, the whole testinfra host suite through
`vagrant ssh-config`, a second deploy that must change nothing, Lynis, `vagrant destroy`,
and the same kind of summary as the nspawn lab.

    python -m difusor.rehearsal.vagrant rehearse      # what `make vagrant-rehearse` runs
    python -m difusor.rehearsal.vagrant box           # only build/add the box
    python -m difusor.rehearsal.vagrant down          # destroy a VM left by an interrupted run

With ``DIFUSOR_BOX`` set to a public libvirt box (``generic/ubuntu2204``,
``generic/ubuntu2404``), the same rehearsal runs on that box instead of the local Debian 12
one: ``vagrant up`` downloads it, and the VM's apt reaches the Ubuntu archive through the
proxy, so the machine needs internet access.

On this kind of machine (root, no systemd, no usable KVM, no internet but the Debian
registry) it also:

- installs the Debian packages it needs (libvirt, qemu, dnsmasq) without starting their
  services, and starts `virtlogd` and `libvirtd` itself when libvirt is not running
  (and stops them again at the end);
- keeps both libvirt networks isolated (`DIFUSOR_LIBVIRT_NETWORK_MODE=none`): nothing is
  routed or NATed through this machine. The VM gets apt through a tinyproxy and time from
  a `chronyd -x` (serves time, never sets this machine's clock), both listening only on
  the management network's host address 192.168.121.1;
- cleans up the VM, its disk volume, its two networks and these helpers, also after a
  failure or an interrupt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from difusor.facts import ChronyTracking
from difusor.rehearsal.lab.core import REPO_ROOT
from difusor.rehearsal.lab.rehearse import Summary, parse_junit, run_pyinfra
from difusor.rehearsal.lab.services import NtpServer, Proxy
from difusor.rehearsal.system import LabError, alive, sigterm_unwinds, terminate, write_file

from .box import BOX_NAME, BoxBuilder, log, stale_box_volumes

# vagrant-libvirt's management network (the Vagrantfile keeps its default address)
MGMT_HOST = "192.168.121.1"
MGMT_PREFIX = "192.168.121.0/24"
PROXY_PORT = 3128
PROXY_URL = f"http://{MGMT_HOST}:{PROXY_PORT}"
LIBVIRT_URI = "qemu:///system"
INVENTORY = "@vagrant"

# Debian packages on the machine that runs the rehearsal (installed if missing).
HOST_PACKAGES = (
    "vagrant",
    "vagrant-libvirt",
    "libvirt-daemon-system",
    "libvirt-clients",
    "dnsmasq-base",
    "qemu-system-x86",
    "qemu-utils",
    "e2fsprogs",
    "debootstrap",
    "zstd",
    "openssh-client",
    "tinyproxy",
    "chrony",
)

# Every step is bounded (seconds): about four times what it takes under software emulation
# on 2 cores (up 150 s, deploy 449 s, re-run 92 s, suite 218 s, Lynis 10 min), so one
# hung step cannot take CI past its limit.
TIMEOUTS = {
    "up": 600,
    "deploy": 1800,
    "redeploy": 600,
    "suite": 900,
    "lynis": 1800,
    "ssh": 300,
    "destroy": 600,
    "vagrant": 300,
}


def default_workdir() -> Path:
    """Next to Vagrant's own state (.vagrant/, git-ignored)."""
    return Path(
        os.environ.get("DIFUSOR_VAGRANT_DIR") or REPO_ROOT / ".vagrant" / "difusor-rehearsal"
    )


def rehearsal_box(env: os._Environ | dict = os.environ) -> str:
    """The local Debian 12 box, or the public box ``DIFUSOR_BOX`` names."""
    return env.get("DIFUSOR_BOX") or BOX_NAME


def rehearsal_env(workdir: Path, env_file: Path, box: str = BOX_NAME) -> dict[str, str]:
    """What every vagrant, pyinfra and pytest command of the rehearsal runs with."""
    return {
        "DIFUSOR_BOX": box,
        "DIFUSOR_LIBVIRT_DRIVER": "qemu",  # TCG: no usable KVM here
        "DIFUSOR_LIBVIRT_NETWORK_MODE": "none",  # isolated: nothing routed through this machine
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
        "VAGRANT_NO_COLOR": "1",
        "LIBVIRT_DEFAULT_URI": LIBVIRT_URI,
        "DIFUSOR_ENV_FILE": str(env_file),
        "DIFUSOR_VAGRANT_APT_PROXY": PROXY_URL,
        "DIFUSOR_VAGRANT_NTP_SERVERS": MGMT_HOST,
    }


# ---------------------------------------------------------------- host packages


def missing_packages(packages=HOST_PACKAGES) -> list[str]:
    missing = []
    for package in packages:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
        if "install ok installed" not in status.stdout:
            missing.append(package)
    return missing


def ensure_host_packages() -> None:
    """Install what is missing from the Debian registry without starting any service."""
    missing = missing_packages()
    if not missing:
        return
    log.info("installing host packages: %s", " ".join(missing))
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        write_file(policy, "#!/bin/sh\nexit 101\n", 0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "update", "-q"], check=True, env=env, timeout=600, stdout=subprocess.DEVNULL
        )
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            check=True,
            env=env,
            timeout=1800,
            stdout=subprocess.DEVNULL,
        )
    finally:
        if created:
            policy.unlink(missing_ok=True)


# ---------------------------------------------------------------- libvirt


def virsh(*args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["virsh", "-c", LIBVIRT_URI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def _names(result: subprocess.CompletedProcess) -> set[str]:
    return (
        {line.strip() for line in result.stdout.splitlines() if line.strip()}
        if result.returncode == 0
        else set()
    )


class Libvirt:
    """The system libvirt daemon: started here (with virtlogd) only when it is not running."""

    DAEMONS = (("virtlogd", Path("/run/virtlogd.pid")), ("libvirtd", Path("/run/libvirtd.pid")))

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.marker = workdir / "libvirt-started-here"

    def running(self) -> bool:
        try:
            return virsh("version", timeout=20).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self) -> None:
        if self.running():
            return
        started = []
        for daemon, pidfile in self.DAEMONS:
            pid = _pid(pidfile)
            if pid and alive(pid):
                continue
            log.info("starting %s (this machine runs no service manager)", daemon)
            env = {
                **os.environ,
                "LIBVIRT_LOG_OUTPUTS": f"3:file:{self.workdir / (daemon + '.log')}",
            }
            subprocess.run([daemon, "-d"], check=True, env=env, timeout=60)
            started.append(daemon)
        write_file(self.marker, " ".join(started) + "\n")
        deadline = time.monotonic() + 60
        while not self.running():
            if time.monotonic() > deadline:
                raise LabError(
                    f"libvirtd did not answer on {LIBVIRT_URI}; see {self.workdir / 'libvirtd.log'}"
                )
            time.sleep(1)

    def stop(self) -> None:
        """Stop the daemons this rehearsal started (none if libvirt was already running)."""
        if not self.marker.is_file():
            return
        started = self.marker.read_text().split()
        for daemon, pidfile in reversed(self.DAEMONS):
            pid = _pid(pidfile)
            if daemon in started and pid and alive(pid):
                terminate([pid], daemon, timeout=20)
        self.marker.unlink()

    def inventory(self) -> dict[str, set[str]]:
        """Domains, networks and volumes of the default pool, by name."""
        volumes = set()
        result = virsh("vol-list", "default")
        if result.returncode == 0:
            for line in result.stdout.splitlines()[2:]:
                if line.split():
                    volumes.add(line.split()[0])
        return {
            "domains": _names(virsh("list", "--all", "--name")),
            "networks": _names(virsh("net-list", "--all", "--name")),
            "volumes": volumes,
        }

    def remove(self, kind: str, name: str) -> None:
        log.info("removing leftover libvirt %s %s", kind[:-1], name)
        if kind == "domains":
            virsh("destroy", name)
            virsh("undefine", name, "--managed-save", "--snapshots-metadata", "--nvram")
            virsh("undefine", name)
        elif kind == "networks":
            virsh("net-destroy", name)
            virsh("net-undefine", name)
        elif kind == "volumes":
            virsh("vol-delete", "--pool", "default", name)


def _pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------- helpers on the host side


def helpers(workdir: Path) -> tuple[Proxy, NtpServer]:
    """The lab's apt proxy and NTP server, here on the management network's host address."""
    return (
        Proxy(
            workdir,
            listen=MGMT_HOST,
            port=PROXY_PORT,
            allow=(MGMT_PREFIX,),
            purpose="the Vagrant VM's apt",
        ),
        NtpServer(workdir, netns=None, bind=MGMT_HOST, allow=(MGMT_PREFIX,), name="chronyd"),
    )


# ---------------------------------------------------------------- the rehearsal


@dataclass
class Figures:
    """The numbers the rehearsal reports (seconds, counts)."""

    box: str = ""
    up: float | None = None
    first_deploy: float | None = None
    second_deploy: float | None = None
    tests: dict[str, int] = field(default_factory=dict)
    lynis: int | None = None
    total: float | None = None


class VagrantRehearsal:
    def __init__(self, workdir: Path | None = None, with_lynis: bool = True):
        self.workdir = (workdir or default_workdir()).absolute()
        self.with_lynis = with_lynis
        self.libvirt = Libvirt(self.workdir)
        self.helpers = helpers(self.workdir)
        self.ssh_config = self.workdir / "ssh-config"
        self.env_file = self.workdir / "rehearsal.env"
        self.before_file = self.workdir / "libvirt-before-up.json"
        self.summary = Summary()
        self.figures = Figures()
        self.before: dict[str, set[str]] = {}

    # -- plumbing
    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.env_file.is_file():
            # the deploy's secrets, as a .env (git-ignored with .vagrant/)
            write_file(
                self.env_file, f"DIFUSOR_RSYNC_PASSWORD={secrets.token_urlsafe(24)}\n", 0o600
            )
        os.environ.update(rehearsal_env(self.workdir, self.env_file, rehearsal_box()))

    def vagrant(
        self,
        *args: str,
        timeout: float = TIMEOUTS["vagrant"],
        log_name: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """`vagrant ARGS` in the repository (the Vagrantfile), output kept in the workdir."""
        argv = ["vagrant", *args]
        logfile = self.workdir / f"vagrant-{log_name or args[0]}.log"
        try:
            result = subprocess.run(
                argv,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = (
                (exc.stdout or b"").decode(errors="replace")
                if isinstance(exc.stdout, bytes)
                else (exc.stdout or "")
            )
            logfile.write_text(out)
            raise LabError(
                f"timed out after {timeout}s: {shlex.join(argv)} (log: {logfile})"
            ) from None
        # progress bars rewrite one line with \r: keep their last state only
        output = re.sub(r"[^\n]*\r(?!\n)", "", result.stdout + result.stderr)
        logfile.write_text(output)
        if check and result.returncode != 0:
            raise LabError(
                f"{shlex.join(argv)} failed ({result.returncode}):\n"
                + "\n".join(output.splitlines()[-25:])
            )
        return result

    def machine_exists(self) -> bool:
        return (REPO_ROOT / ".vagrant/machines/default/libvirt/id").is_file()

    def ssh(self, command: str, timeout: float = TIMEOUTS["ssh"]) -> subprocess.CompletedProcess:
        """A command as root in the VM, over the ssh config `vagrant ssh-config` wrote."""
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), "default", f"sudo sh -c {shlex.quote(command)}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    # -- steps
    def up(self) -> None:
        ensure_host_packages()
        if os.environ["DIFUSOR_BOX"] == BOX_NAME:
            self.local_box()
        else:
            self.figures.box = os.environ["DIFUSOR_BOX"]
            self.summary.add("public box", True, f"{self.figures.box}, downloaded by vagrant")
            self.libvirt.start()
        if self.machine_exists():
            log.info("a VM of an earlier run exists: destroying it first")
            self.down_vm()
        self.before = self.libvirt.inventory()
        write_file(
            self.before_file, json.dumps({k: sorted(v) for k, v in self.before.items()}) + "\n"
        )
        started = time.monotonic()
        log.info("vagrant up --provider=libvirt (software emulation: a few minutes)")
        self.vagrant("up", "--provider=libvirt", timeout=TIMEOUTS["up"])
        self.figures.up = time.monotonic() - started
        self.summary.add("vagrant up", True, f"{self.figures.up:.0f} s")
        for helper in self.helpers:
            helper.start()
        write_file(self.ssh_config, self.vagrant("ssh-config").stdout)

    def local_box(self) -> None:
        """The box built from the lab's Debian 12 rootfs: no download."""
        builder = BoxBuilder()
        box = builder.ensure()
        built = (
            f"built in {box.built_seconds:.0f} s"
            if box.built_seconds is not None
            else "reused from the cache"
        )
        self.figures.box = f"{box.name} {box.version}, {built}"
        self.summary.add("local box, no download", True, f"{box.file.name}: {self.figures.box}")
        self.libvirt.start()
        builder.add(box)
        for volume in stale_box_volumes(sorted(self.libvirt.inventory()["volumes"]), box.version):
            self.libvirt.remove("volumes", volume)

    def deploys(self) -> bool:
        log.info(
            "pyinfra @vagrant deploy.py "
            "(first deploy: package installs under emulation, many minutes)"
        )
        first = run_pyinfra("deploy.py", inventory=INVENTORY, timeout=TIMEOUTS["deploy"])
        (self.workdir / "deploy-1.log").write_text(first.output)
        self.figures.first_deploy = first.seconds
        if not self.summary.add(
            "first deploy", first.ok, f"{first.seconds:.0f} s, {first.changed} changes"
        ):
            print(first.output[-6000:])
            return False
        log.info("pyinfra @vagrant deploy.py (again: must change nothing)")
        second = run_pyinfra("-v", "deploy.py", inventory=INVENTORY, timeout=TIMEOUTS["redeploy"])
        (self.workdir / "deploy-2.log").write_text(second.output)
        self.figures.second_deploy = second.seconds
        self.summary.add(
            "second deploy reports no changes",
            second.ok and second.changed == 0,
            second.rerun_detail(),
        )
        if second.changed:
            print(second.output[-6000:])
        return True

    def vagrant_ssh_after_firewall(self) -> None:
        result = self.vagrant(
            "ssh", "-c", "sudo ufw status | head -n 1", log_name="ssh", check=False
        )
        ok = result.returncode == 0 and "Status: active" in result.stdout
        self.summary.add(
            "vagrant ssh works with the firewall active",
            ok,
            result.stdout.strip().splitlines()[-1]
            if result.stdout.strip()
            else f"exit {result.returncode}",
        )

    def suite(self) -> None:
        report = self.workdir / "pytest-report.xml"
        report.unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "tests/host",
            "-p",
            "no:cacheprovider",
            "-q",
            "--target",
            "ssh://default?sudo=true",
            "--ssh-config",
            str(self.ssh_config),
            f"--inventory={INVENTORY}",
            f"--junitxml={report}",
        ]
        log.info("testinfra: %s", shlex.join(argv[1:]))
        try:
            result = subprocess.run(argv, cwd=REPO_ROOT, timeout=TIMEOUTS["suite"])
            returncode = result.returncode
        except subprocess.TimeoutExpired:
            returncode = 124
        if not report.is_file():
            self.summary.add("testinfra host suite", False, f"pytest exited {returncode}")
            return
        cases = parse_junit(report)
        counts = self.figures.tests = self.summary.add_tests(cases)
        kernel = [o for name, o, _ in cases if "test_kernel_sysctl" in name]
        self.summary.add(
            "kernel-wide sysctls checked for real (not skipped)",
            bool(kernel) and all(o == "passed" for o in kernel),
            f"{kernel.count('passed')} of {len(kernel)} passed",
        )
        self.summary.add(
            "testinfra host suite",
            counts["failed"] == 0 and counts["passed"] > 0,
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped",
        )

    def chrony(self) -> None:
        result = self.ssh("chronyc -n tracking", timeout=60)
        tracking = ChronyTracking().process(result.stdout.splitlines())
        report = (
            f"source {tracking['reference']}, offset {tracking['offset_seconds']} s, "
            f"leap status {tracking['leap_status']}"
        )
        self.summary.add(
            "time synchronised to the host's NTP server", f"({MGMT_HOST})" in report, report
        )

    def lynis(self) -> None:
        """Install Lynis through the apt proxy and audit the VM. Under software emulation
        the audit takes about ten minutes: it runs as a transient unit in the VM, polled
        over short SSH sessions, so a dropped connection cannot cut it short."""
        log.info("Lynis: install through the apt proxy and audit the VM (slow under emulation)")
        started = time.monotonic()
        deadline = started + TIMEOUTS["lynis"]
        install = self.ssh(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis >/dev/null "
            "&& { systemctl reset-failed difusor-lynis 2>/dev/null; "
            "systemd-run --unit=difusor-lynis --collect --quiet "
            "sh -c 'lynis audit system --quick --no-colors >/var/log/difusor-lynis.out 2>&1'; }",
            timeout=TIMEOUTS["lynis"],
        )
        state = "failed to start"
        if install.returncode == 0:
            while time.monotonic() < deadline:
                time.sleep(30)
                try:
                    state = self.ssh("systemctl is-active difusor-lynis", timeout=60).stdout.strip()
                except subprocess.TimeoutExpired:
                    continue
                if state not in ("active", "activating"):
                    break
            else:
                state = f"still running after {TIMEOUTS['lynis']} s"
                self.ssh("systemctl stop difusor-lynis", timeout=60)
        report = self.ssh(
            "cat /var/log/difusor-lynis.out; grep -E '^(hardening_index|lynis_tests_done)=' "
            "/var/log/lynis-report.dat",
            timeout=120,
        ).stdout
        (self.workdir / "lynis.log").write_text(install.stdout + install.stderr + report)
        match = re.search(r"^hardening_index=(\d+)", report, re.M)
        tests = re.search(r"Tests performed\s*:\s*(\d+)", report)
        self.figures.lynis = int(match.group(1)) if match else None
        minutes = (time.monotonic() - started) / 60
        detail = (
            f"{self.figures.lynis} ({tests.group(1) if tests else '?'} tests, {minutes:.0f} min)"
            if match
            else f"no index ({state}), see {self.workdir / 'lynis.log'}"
        )
        self.summary.add("Lynis hardening index", match is not None, detail)

    def down_vm(self) -> bool:
        """vagrant destroy, then anything it left (domain, volumes, networks) removed by hand."""
        ok = True
        try:
            self.vagrant("destroy", "-f", timeout=TIMEOUTS["destroy"])
        except LabError as exc:
            log.info("%s", exc)
            ok = False
        if not self.before and self.before_file.is_file():
            self.before = {k: set(v) for k, v in json.loads(self.before_file.read_text()).items()}
        if self.before and self.libvirt.running():
            for kind, name in leftovers(self.before, self.libvirt.inventory(), REPO_ROOT.name):
                self.libvirt.remove(kind, name)
                ok = False
        self.before_file.unlink(missing_ok=True)
        return ok

    def teardown(self) -> None:
        ok = self.down_vm()
        for helper in self.helpers:
            helper.stop()
        self.libvirt.stop()
        self.summary.add(
            "vagrant destroy: VM, volume and networks gone",
            ok,
            "" if ok else "vagrant destroy left something; removed by hand",
        )

    def run(self) -> int:
        started = time.monotonic()
        try:
            with sigterm_unwinds():
                self.prepare()
                try:
                    with self.summary.failures_recorded():
                        self.up()
                        if self.deploys():
                            self.vagrant_ssh_after_firewall()
                            self.suite()
                            self.chrony()
                            if self.with_lynis:
                                self.lynis()
                finally:
                    self.teardown()
        finally:
            total = self.figures.total = time.monotonic() - started
            self.summary.print()
            f = self.figures
            print(
                f"vagrant rehearsal: box {f.box or '-'}; vagrant up {_s(f.up)}, "
                f"first deploy {_s(f.first_deploy)}, no-op re-run {_s(f.second_deploy)}; "
                f"testinfra {f.tests.get('passed', 0)} passed, "
                f"{f.tests.get('failed', 0)} failed, {f.tests.get('skipped', 0)} skipped; "
                f"Lynis {f.lynis if f.lynis is not None else '-'}; total {total / 60:.1f} min"
            )
        return 0 if all(ok for _, ok, _ in self.summary.steps) else 1


def leftovers(
    before: dict[str, set[str]], after: dict[str, set[str]], project: str
) -> list[tuple[str, str]]:
    """libvirt objects this project's VM left behind: its domain and disk volumes
    (``<project>_default``...) and the networks vagrant-libvirt made for it
    (``vagrant-libvirt``, ``<project>N``), that were not there before `vagrant up`.
    The box's base-image volume stays: it is vagrant-libvirt's cache of the box."""
    patterns = {
        "domains": re.compile(rf"^{re.escape(project)}_"),
        "volumes": re.compile(rf"^{re.escape(project)}_"),
        "networks": re.compile(rf"^(vagrant-libvirt|{re.escape(project)}\d+)$"),
    }
    found = []
    for kind in ("domains", "volumes", "networks"):
        for name in sorted(after.get(kind, set()) - before.get(kind, set())):
            if patterns[kind].match(name):
                found.append((kind, name))
    return found


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f} s"


def down() -> int:
    """Destroy a VM an interrupted rehearsal left behind, and stop what it started."""
    rehearsal = VagrantRehearsal()
    rehearsal.prepare()
    if rehearsal.libvirt.running() or rehearsal.machine_exists():
        rehearsal.libvirt.start()
        rehearsal.down_vm()
    for helper in rehearsal.helpers:
        helper.stop()
    rehearsal.libvirt.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m difusor.rehearsal.vagrant", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "command", nargs="?", default="rehearse", choices=["rehearse", "box", "down"]
    )
    parser.add_argument("--no-lynis", action="store_true", help="skip the Lynis audit")
    parser.add_argument("--rebuild", action="store_true", help="box: build again even if cached")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit(
            "the Vagrant rehearsal needs root (libvirt's system daemon, the box builder)"
        )
    if args.command == "box":
        from .box import main as box_main

        ensure_host_packages()
        return box_main(["--rebuild"] if args.rebuild else [])
    if args.command == "down":
        return down()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return VagrantRehearsal(with_lynis=not args.no_lynis).run()
