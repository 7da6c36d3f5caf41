"""Benchmark of convergence on fresh lab hosts (prints a table; asserts nothing).

    .venv/bin/python bench/converge.py [--rounds 1] [--devsec CHECKOUT]

Each round brings up fresh lab hosts (`make lab-up`'s machine, torn down after) and measures:

(a) bare apt: ``apt-get update`` and one ``apt-get install`` of exactly the packages the
    deploy asked apt for (read from the deployed host's apt history), through the same proxy;
(b) our first deploy and (c) its no-op re-run, with the count of facts the re-run gathered;
(d) DevSec's os_hardening + ssh_hardening roles on the same freshly deployed host: converge
    and no-op re-run, with kernel sysctls and auditd off (an nspawn machine has neither the
    kernel's settings nor its audit subsystem to itself), SSH pipelining on. No Ansible
    release on PyPI bundles the devsec.hardening collection: ``--devsec`` takes the path of a
    checkout of dev-sec/ansible-collection-hardening; without one that row is printed as not
    run. Ansible itself (``ansible`` from PyPI, which ships the collections the
    roles depend on) is installed into a venv in the lab's work dir on first use.

Rounds alternate host kinds (deploy host, then bare-apt host) so that a warming proxy or page
cache does not favour one side. Needs root (the lab), about 5 minutes per round.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from difusor.rehearsal.lab import PROXY_URL, Lab  # noqa: E402
from difusor.rehearsal.lab.core import default_workdir  # noqa: E402
from difusor.rehearsal.lab.network import LAB_IPV4  # noqa: E402
from difusor.rehearsal.lab.rehearse import deploy_lab  # noqa: E402

ANSIBLE_REQUIREMENT = "ansible>=11,<12"  # ansible-core 2.18
APT_ENV = "DEBIAN_FRONTEND=noninteractive"

# The two roles as shipped, minus what a container cannot do (kernel sysctls, the kernel's
# audit subsystem), with root still able to log in by key so the re-run can connect.
DEVSEC_PLAYBOOK = """\
- hosts: all
  gather_facts: true
  vars:
    os_sysctl_enabled: false
    os_auditd_enabled: false
    ssh_permit_root_login: without-password
  roles:
    - devsec.hardening.os_hardening
    - devsec.hardening.ssh_hardening
"""


@dataclass
class Rows:
    """Seconds per measured step over the rounds, and a note per step."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, step: str, seconds: float, note: str = "") -> None:
        self.seconds.setdefault(step, []).append(seconds)
        if note:
            self.notes[step] = note
        print(f"converge: {step}: {seconds:.1f} s {note}", flush=True)

    def median(self, step: str) -> float | None:
        values = self.seconds.get(step)
        return statistics.median(values) if values else None


def apt_history_packages(lab: Lab) -> list[str]:
    """Packages named on the ``apt-get install`` command lines of the host's apt history."""
    history = lab.ssh("cat /var/log/apt/history.log", timeout=30).stdout
    packages: list[str] = []
    for line in history.splitlines():
        if not line.startswith("Commandline:") or " install " not in line:
            continue
        words = shlex.split(line.removeprefix("Commandline:"))
        named = words[words.index("install") + 1 :]
        packages += [w for w in named if not w.startswith("-") and w not in packages]
    return packages


def bare_apt(lab: Lab, packages: list[str]) -> float:
    proxy = f"-o Acquire::http::Proxy={PROXY_URL}"
    command = (
        f"{APT_ENV} apt-get {proxy} -q update >/dev/null && "
        f"{APT_ENV} apt-get {proxy} -q -y install {shlex.join(packages)} >/dev/null"
    )
    started = time.monotonic()
    result = lab.ssh(command, timeout=1800)
    seconds = time.monotonic() - started
    if result.returncode:
        raise SystemExit(f"bare apt-get install failed:\n{result.stderr[-2000:]}")
    return seconds


def ansible_playbook() -> Path:
    venv = default_workdir() / "ansible-venv"
    playbook = venv / "bin" / "ansible-playbook"
    if not playbook.exists():
        print(f"converge: installing {ANSIBLE_REQUIREMENT} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", ANSIBLE_REQUIREMENT], check=True
        )
    return playbook


def run_devsec(lab: Lab, checkout: Path, workdir: Path) -> tuple[float, str]:
    """One ansible-playbook run of the two roles against the lab host; (seconds, recap)."""
    collections = workdir / "collections" / "ansible_collections" / "devsec"
    collections.mkdir(parents=True, exist_ok=True)
    link = collections / "hardening"
    if not link.exists():
        link.symlink_to(checkout.resolve())
    (workdir / "site.yml").write_text(DEVSEC_PLAYBOOK)
    (workdir / "hosts.ini").write_text(
        f"lab ansible_host={LAB_IPV4} ansible_user=root "
        f"ansible_ssh_private_key_file={lab.key_path} "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
    )
    env = {
        **os.environ,
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_COLLECTIONS_PATH": str(workdir / "collections"),
        "ANSIBLE_NOCOLOR": "1",
    }
    argv = [str(ansible_playbook()), "-i", "hosts.ini", "site.yml"]
    started = time.monotonic()
    result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    recap = re.search(r"ok=(\d+)\s+changed=(\d+).*?failed=(\d+)\s+skipped=(\d+)", result.stdout)
    if result.returncode or not recap:
        raise SystemExit(
            f"DevSec roles failed (exit {result.returncode}):\n{result.stdout[-4000:]}"
        )
    ok, changed, failed, skipped = recap.groups()
    return seconds, f"({ok} ok, {changed} changed, {skipped} skipped, {failed} failed)"


def deploy_round(rows: Rows, devsec: Path | None) -> list[str]:
    """Fresh host: first deploy, no-op re-run, then DevSec's roles; the deploy's packages."""
    with Lab() as lab:
        first = deploy_lab()
        if not first.ok:
            raise SystemExit("first deploy failed:\n" + first.output[-4000:])
        rows.add("(b) our first deploy", first.seconds, f"({first.changed} changes)")
        noop = deploy_lab("-v")
        rows.add(
            "(c) our no-op re-run",
            noop.seconds,
            f"({noop.changed} changes, {noop.unchanged} unchanged, {noop.facts} facts)",
        )
        packages = apt_history_packages(lab)
        if devsec:
            with tempfile.TemporaryDirectory() as workdir:
                for step in ("(d) DevSec converge", "(d) DevSec no-op re-run"):
                    rows.add(step, *run_devsec(lab, devsec, Path(workdir)))
    return packages


def apt_round(rows: Rows, packages: list[str]) -> None:
    with Lab() as lab:
        rows.add("(a) bare apt-get install", bare_apt(lab, packages), f"({len(packages)} packages)")


def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}" if numerator and denominator else "n/a"


def print_table(rows: Rows, devsec: Path | None) -> None:
    steps = [
        "(a) bare apt-get install",
        "(b) our first deploy",
        "(c) our no-op re-run",
        "(d) DevSec converge",
        "(d) DevSec no-op re-run",
    ]
    print("\n== convergence on fresh lab hosts (seconds, median of rounds) ==")
    print(f"  {'step':<28} {'median':>8} {'runs':<24} note")
    for step in steps:
        values = rows.seconds.get(step)
        if not values:
            reason = "not run: no --devsec checkout" if devsec is None else "not run"
            print(f"  {step:<28} {'-':>8} {'':<24} {reason}")
            continue
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(
            f"  {step:<28} {statistics.median(values):8.1f} {runs:<24} {rows.notes.get(step, '')}"
        )
    first, apt = rows.median("(b) our first deploy"), rows.median("(a) bare apt-get install")
    devsec_noop, noop = rows.median("(d) DevSec no-op re-run"), rows.median("(c) our no-op re-run")
    print(f"  first deploy / bare apt:     {ratio(first, apt)}")
    print(f"  DevSec no-op / our no-op:    {ratio(devsec_noop, noop)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="fresh-host rounds (default 1)")
    parser.add_argument(
        "--devsec", type=Path, help="checkout of dev-sec/ansible-collection-hardening"
    )
    args = parser.parse_args(argv)
    if args.devsec and not (args.devsec / "roles" / "os_hardening").is_dir():
        parser.error(f"--devsec {args.devsec}: no roles/os_hardening in it")
    rows = Rows()
    for _ in range(args.rounds):
        packages = deploy_round(rows, args.devsec)
        apt_round(rows, packages)
    print_table(rows, args.devsec)


if __name__ == "__main__":
    main()
