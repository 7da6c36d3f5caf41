"""
The local rehearsal, end to end: lab up, deploy, a second deploy that must change nothing,
the testinfra and network suites, a short simulacro, the memoria técnica of the rehearsal's own
traffic and cortes (``difusor report``), Lynis, a summary, and the lab torn down (also on
failure).

    python -m difusor.rehearsal.lab rehearse      # what `make rehearse` runs
    python -m difusor.rehearsal.lab up|deploy|simulacro|down

Runs the real pyinfra command line against the lab host, as a sysadmin would.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from difusor.facts import ChronyTracking

from ..prep.generator import SiteSpec
from ..system import LabError
from .core import REPO_ROOT, Lab
from .network import NTP_SERVER_IPV4
from .simulacro import main as simulacro_main
from .simulacro import run_simulacro, start_after_live

# The rehearsal's simulacro: a few Veracruz-size cortes, seconds apart instead of 15 minutes.
SIMULACRO_CORTES = 4
SIMULACRO_PERIOD = 5.0
# With a small publication site, as the institute's packages have: the evidence step after the
# simulacro reads the portal's pages, which a CSV-only corte does not have.
SIMULACRO_SITE = SiteSpec(files=30, bytes=300_000)

LAB_INVENTORY = "inventory/lab.py"
# A test's JUnit property whose value the summary prints on the test's line (tests/conftest.py,
# the summary_line fixture): what it measured, such as seconds to a ban.
SUMMARY_PROPERTY = "summary"


@dataclass
class DeployRun:
    """One run of the pyinfra command line and what its results table said."""

    returncode: int
    seconds: float
    output: str
    changed: int | None = None
    unchanged: int | None = None
    errors: int | None = None
    facts: int | None = None  # facts gathered, counted when run verbose (-v)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.errors

    def rerun_detail(self) -> str:
        """The summary's line for a re-run: time, changes and (run verbose) facts gathered."""
        facts = f", {self.facts} facts" if self.facts is not None else ""
        return f"{self.seconds:.1f} s, {self.changed} changes, {self.unchanged} unchanged{facts}"


def _total(cell: str) -> int:
    return 0 if cell == "-" else int(cell)


def run_pyinfra(*args: str, inventory: str = LAB_INVENTORY, timeout: float = 1800) -> DeployRun:
    """``pyinfra -y INVENTORY ARGS...`` from the repository root, its output kept."""
    argv = [sys.executable, "-m", "pyinfra", "-y", inventory, *args]
    started = time.monotonic()
    result = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )
    run = DeployRun(result.returncode, time.monotonic() - started, result.stdout + result.stderr)
    # Results table, last row: "Grand total  <hosts> <changed> <errors> <no change>".
    totals = re.findall(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", run.output)
    if totals:
        _hosts, changed, errors, unchanged = totals[-1]
        run.changed, run.errors, run.unchanged = _total(changed), _total(errors), _total(unchanged)
    if "-v" in args:
        run.facts = run.output.count("Loaded fact")
    return run


def deploy_lab(*extra: str, inventory: str = LAB_INVENTORY) -> DeployRun:
    return run_pyinfra(*extra, "deploy.py", inventory=inventory)


@contextmanager
def deployed_lab(reuse: bool = False) -> Iterator[Lab]:
    """A lab host that is up and deployed, torn down afterwards; ``reuse``: one already is."""
    lab = Lab()
    if reuse:
        yield lab
        return
    lab.up()
    try:
        run = deploy_lab()
        if not run.ok:
            raise RuntimeError("first deploy of the lab host failed:\n" + run.output[-6000:])
        yield lab
    finally:
        lab.down()


@dataclass
class Summary:
    steps: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        detail = " ".join(detail.split())  # one line per step, even for a multi-line error
        self.steps.append((name, ok, detail))
        print(f"rehearsal: {'PASS' if ok else 'FAIL'} {name} {detail}".rstrip(), flush=True)
        return ok

    def print(self) -> None:
        width = min(max((len(name) for name, _, _ in self.steps), default=10), 60)
        print("\n== difusor rehearsal summary ==")
        for name, ok, detail in self.steps:
            print(f"  {'PASS' if ok else 'FAIL'}  {name.ljust(width)}  {detail}")
        passed = sum(ok for _, ok, _ in self.steps)
        print(f"rehearsal: {passed} passed, {len(self.steps) - passed} failed")

    def add_tests(self, cases: list[tuple[str, str, str]]) -> dict[str, int]:
        """One line per test of a pytest run (skips printed, not counted as steps); the counts."""
        for name, outcome, message in cases:
            if outcome == "skipped":
                print(f"rehearsal: SKIP {name}: {message}")
            else:
                self.add(name, outcome == "passed", message[:160])
        return {
            outcome: sum(1 for _, o, _ in cases if o == outcome)
            for outcome in ("passed", "failed", "skipped")
        }

    @contextmanager
    def failures_recorded(self) -> Iterator[None]:
        """Steps that may raise: an error ends them as a failed step (printed, not raised, so
        cleanup and the summary follow); an interrupt is recorded and raised."""
        try:
            yield
        except (LabError, subprocess.SubprocessError, OSError) as exc:
            self.add(
                "rehearsal aborted",
                False,
                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
            )
            print(exc, file=sys.stderr)
        except (KeyboardInterrupt, SystemExit):
            self.add("rehearsal interrupted", False, "stopped by a signal; cleaned up")
            raise


# A test's figure for the summary line: record_property(SUMMARY_PROPERTY, "deploy 71 s ...").
SUMMARY_PROPERTY = "summary"


def parse_junit(report: Path) -> list[tuple[str, str, str]]:
    """(test id, outcome passed|failed|skipped, message) for each test case of a JUnit report;
    a passed test's message is what it measured (its ``SUMMARY_PROPERTY``), if anything."""
    cases = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').removeprefix('tests.')}::{case.get('name')}"
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            cases.append((name, "failed", failure.get("message", "")))
        elif skipped is not None:
            cases.append((name, "skipped", skipped.get("message", "")))
        else:
            measured = [
                prop.get("value", "")
                for prop in case.iter("property")
                if prop.get("name") == SUMMARY_PROPERTY
            ]
            cases.append((name, "passed", "; ".join(measured)))
    return cases


def run_suite(lab: Lab, summary: Summary) -> bool:
    """The testinfra and network suites against the running lab; one summary line per test."""
    report = lab.workdir / "pytest-report.xml"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "tests/host",
        "tests/lab",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={report}",
        "-o",
        "junit_family=xunit1",  # keeps the tests' record_property (SUMMARY_PROPERTY)
    ]
    result = subprocess.run(argv, cwd=REPO_ROOT, env={**os.environ, "DIFUSOR_LAB_REUSE": "1"})
    if not report.is_file():
        return summary.add(
            "testinfra and network suites", False, f"pytest exited {result.returncode}"
        )
    summary.add_tests(parse_junit(report))
    return result.returncode == 0


def lynis_index(lab: Lab) -> int | None:
    """Install Lynis on the lab host (through the lab's apt proxy) and audit it."""
    lab.ssh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis >/dev/null", timeout=600)
    audit = lab.ssh("lynis audit system --quick --no-colors 2>/dev/null", timeout=900)
    match = re.search(r"Hardening index\s*:\s*(\d+)", audit.stdout)
    return int(match.group(1)) if match else None


def chrony_report(lab: Lab) -> str:
    tracking = ChronyTracking().process(
        lab.ssh("chronyc -n tracking", timeout=30).stdout.splitlines()
    )
    return (
        f"source {tracking['reference']}, offset {tracking['offset_seconds']} s, "
        f"leap status {tracking['leap_status']}"
    )


def evidence_step(lab: Lab, summary: Summary) -> None:
    """``difusor evidence`` on the lab host: the institute's documents, linked in the summary."""
    from difusor.evidence.build import EvidenceError, build_evidence
    from difusor.inventory import load_inventory

    from .acme import fetch_issuing_root

    out = lab.workdir / "evidence"
    (host,) = load_inventory(LAB_INVENTORY)
    root = fetch_issuing_root(lab.workdir / "acme-root.pem")
    try:
        evidence = build_evidence(host, out, LAB_INVENTORY, ca_file=str(root))
    except EvidenceError as error:
        summary.add("evidence documents", False, str(error))
        return
    counts = ", ".join(f"{n} {status}" for status, n in evidence["counts"].items())
    summary.add(
        "evidence documents",
        not evidence["counts"]["FAIL"],
        f"{os.path.relpath(out)}/cumplimiento.pdf: {len(evidence['rows'])} requirements, "
        f"{counts}, {evidence['seconds']:.0f} s",
    )


def memoria(lab: Lab, since: datetime) -> tuple[bool, str]:
    """`difusor report` on the rehearsal's own traffic and cortes, into the lab's work dir."""
    out = lab.workdir / "memoria"
    shutil.rmtree(out, ignore_errors=True)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "difusor", "report", "--inventory", LAB_INVENTORY),
            *("--from", since.isoformat(timespec="seconds"), "--out", str(out)),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        return False, (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
    figures = result.stdout.splitlines()[0].removeprefix("memoria técnica: ")
    return True, f"{figures}; {out / 'memoria-tecnica.pdf'}"


def rehearse(with_lynis: bool = True) -> int:
    summary = Summary()
    lab = Lab()
    try:
        with summary.failures_recorded():
            started = time.monotonic()
            since = datetime.now(timezone.utc).replace(microsecond=0)
            lab.up()
            summary.add("lab up", True, f"{time.monotonic() - started:.0f} s")

            first = deploy_lab()
            if not summary.add(
                "first deploy", first.ok, f"{first.seconds:.0f} s, {first.changed} changes"
            ):
                print(first.output[-6000:])
                return 1
            second = deploy_lab("-v")
            summary.add(
                "second deploy reports no changes",
                second.ok and second.changed == 0,
                second.rerun_detail(),
            )
            if second.changed:
                print(second.output[-6000:])
            run_suite(lab, summary)
            start = start_after_live(lab, SIMULACRO_CORTES)
            for corte in run_simulacro(
                lab, SIMULACRO_CORTES, SIMULACRO_PERIOD, site=SIMULACRO_SITE, start=start
            ):
                detail = (
                    f"published over HTTPS {corte.latency_s} s after upload"
                    if corte.published
                    else corte.error
                )
                summary.add(f"simulacro corte {corte.package}", corte.published, detail)
            summary.add("memoria técnica of the rehearsal", *memoria(lab, since))
            report = chrony_report(lab)
            summary.add(
                "time synchronised to the lab's NTP server",
                f"({NTP_SERVER_IPV4})" in report,
                report,
            )
            if with_lynis:
                index = lynis_index(lab)
                summary.add(
                    "Lynis hardening index", index is not None, f"{index} (stock Debian 12: 57)"
                )
            evidence_step(lab, summary)
    finally:
        lab.down()
        summary.print()
    return 0 if all(ok for _, ok, _ in summary.steps) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m difusor.rehearsal.lab", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="rehearse",
        choices=["rehearse", "up", "deploy", "simulacro", "down"],
    )
    parser.add_argument(
        "--no-lynis", action="store_true", help="skip the Lynis audit (saves about a minute)"
    )
    parser.add_argument(
        "--cortes", type=int, default=SIMULACRO_CORTES, help="simulacro: cortes to push"
    )
    parser.add_argument(
        "--period", type=float, default=SIMULACRO_PERIOD, help="simulacro: seconds between pushes"
    )
    parser.add_argument("--actas", type=int, default=11030, help="simulacro: actas per election")
    args = parser.parse_args(argv)
    if args.command == "simulacro":
        return simulacro_main(args.cortes, args.period, args.actas)
    if args.command == "rehearse":
        return rehearse(with_lynis=not args.no_lynis)
    if args.command == "up":
        Lab().up()
        print(f"lab is up: ssh -F {Lab().ssh_config} difusor-lab")
        return 0
    if args.command == "down":
        Lab().down()
        return 0
    run = deploy_lab()
    print(run.output)
    return 0 if run.ok else 1
