"""
``difusor evidence`` against the lab host: all PASS but what a lab cannot have; a drift made by
hand (a ``ufw allow``, sshd stopped) shows as FAIL on exactly its rows; and the host is left as
it was found.
"""

import json
import subprocess
import sys
import time

import pytest

from difusor.evidence.build import build_evidence
from difusor.evidence.compare import changes
from difusor.evidence.matrix import FAIL, MANUAL, PASS, WARN
from difusor.inventory import load_inventory
from difusor.rehearsal.lab.acme import fetch_issuing_root
from difusor.remote import Remote, SshTarget

from .test_deploy import host_state

INVENTORY = "inventory/lab.py"
# What the lab cannot have: a real server's resources, Ubuntu (no Ubuntu archive reaches this
# machine) and a public address; and what no server shows by itself (MANUAL).
LAB_LIMITS = {
    "II.A.a": {PASS, WARN},
    "II.A.b": {PASS, WARN},
    "II.A.c": {PASS, WARN},
    "II.A.d": {MANUAL},
    "II.B.a": {PASS, WARN},
    "II.C.a": {MANUAL},
    "II.C.b": {WARN},
}
# Files the kit's own timers rewrite every minute, whoever looks.
SELF_REWRITTEN = ("healthz.json", "monitor.json", "*.lock")
TREES = "/etc /opt/difusor /srv/difusor /var/lib/difusor"
DRIFT_PORT = 8753


def snapshot(lab) -> dict[str, str]:
    """The lockout-guard tests' state, the modification times under /etc and the kit's
    trees, and the installed packages. A directory's own time is left out: the timers' atomic
    rewrites touch it, and a file made or removed inside shows in the listing anyway."""
    skip = " ".join(f"! -name '{name}'" for name in SELF_REWRITTEN)
    listing = lab.ssh(
        f"find {TREES} -xdev {skip} "
        "\\( -type d -printf '%p %m\\n' -o -printf '%p %T@ %m\\n' \\) | sort; "
        "echo --; dpkg-query -W -f='${Package} ${Version}\\n'"
    )
    assert listing.returncode == 0, listing.stderr
    files, packages = listing.stdout.split("--\n")
    return {"state": host_state(lab), "files": files, "packages": packages}


@pytest.fixture(scope="module")
def lab_host(lab):
    (host,) = load_inventory(INVENTORY)
    return host


@pytest.fixture(scope="module")
def acme_root(lab, tmp_path_factory) -> str:
    return str(fetch_issuing_root(tmp_path_factory.mktemp("acme") / "root.pem"))


@pytest.fixture(scope="module")
def clean(lab, acme_root, tmp_path_factory) -> dict:
    """One run of the console command on the deployed lab host, with the host's state before
    and after."""
    out = tmp_path_factory.mktemp("evidence")
    before = snapshot(lab)
    started = time.monotonic()
    run = subprocess.run(
        [
            *(sys.executable, "-m", "difusor.cli", "evidence", "--inventory", INVENTORY),
            *("--out", str(out), "--ca-file", acme_root),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(f"difusor evidence on the lab host: {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(run.stdout, file=sys.stderr)
    assert (out / "evidence.json").is_file(), run.stdout + run.stderr
    return {
        "run": run,
        "out": out,
        "evidence": json.loads((out / "evidence.json").read_text()),
        "before": before,
        "after": snapshot(lab),
    }


def statuses(evidence: dict) -> dict[str, str]:
    return {row["key"]: row["status"] for row in evidence["rows"]}


def test_all_pass_but_what_the_lab_cannot_have(clean):
    assert clean["run"].returncode == 0, clean["run"].stdout + clean["run"].stderr
    for name in ("diagrama-servicio.svg", "diagrama-servicio.png", "cumplimiento.pdf"):
        assert (clean["out"] / name).stat().st_size > 0, name
    evidence = clean["evidence"]
    rows = {row["key"]: row for row in evidence["rows"]}
    for key, row in rows.items():
        assert row["status"] in LAB_LIMITS.get(key, {PASS}), (key, row["measured"])
    assert "núcleos" in rows["II.A.a"]["measured"] and "medidos" in rows["II.A.a"]["measured"]
    assert evidence["suite_counts"]["failed"] == 0
    assert evidence["observed"]["tls"]["mozilla_intermediate"] is True
    assert evidence["observed"]["operator_trusted"] is True
    for port in ("22", "80", "443", "873"):
        assert evidence["observed"]["reachability"][port]["open"], port


def test_the_run_leaves_the_host_as_it_found_it(clean):
    assert clean["after"]["state"] == clean["before"]["state"]
    assert clean["after"]["packages"] == clean["before"]["packages"]
    assert clean["after"]["files"] == clean["before"]["files"]


def restore(lab, remote: Remote) -> None:
    """sshd started and the hand-made rule deleted: through the open connection, or, if that
    is gone, from inside the machine's namespaces."""
    commands = f"systemctl start ssh; ufw delete allow {DRIFT_PORT}/tcp"
    if remote.run(commands, timeout=60).returncode != 0:
        (leader, *_) = lab.machine.leaders()
        subprocess.run(
            ["nsenter", "-t", str(leader), "-a", "sh", "-c", commands], check=True, timeout=60
        )


def test_a_drift_fails_exactly_its_rows(lab, lab_host, acme_root, clean, tmp_path):
    """A rule added by hand and sshd stopped: the firewall row and the SSH rows (SSH, its port,
    root's access) FAIL with what was measured, through the SSH connection that was already
    open; the rest as before."""
    with Remote(SshTarget.from_host(lab_host)) as remote:
        assert remote.run("true").returncode == 0  # the connection the run keeps using
        try:
            assert remote.run(f"ufw allow {DRIFT_PORT}/tcp").returncode == 0
            assert remote.run("systemctl stop ssh").returncode == 0
            assert lab.ssh("true", timeout=30).returncode != 0  # no new logins
            evidence = build_evidence(
                lab_host, tmp_path / "evidence", INVENTORY, remote=remote, ca_file=acme_root
            )
        finally:
            restore(lab, remote)
    assert lab.ssh("true").returncode == 0
    assert f"{DRIFT_PORT}/tcp" not in host_state(lab)

    drifted = statuses(evidence)
    # sshd stopped: SSH (II.B.c), its port (II.C.c-22) and root's way in (II.B.e) fail
    drift_rows = {"II.B.c", "II.B.e", "II.C.c-22", "II.C.c-ufw"}
    assert {key for key, status in drifted.items() if status == FAIL} == drift_rows
    before = statuses(clean["evidence"])
    assert {k: v for k, v in drifted.items() if v != FAIL} == {
        k: v for k, v in before.items() if k not in drift_rows
    }
    rows = {row["key"]: row["measured"] for row in evidence["rows"]}
    assert "sshd inactivo" in rows["II.B.c"]
    assert rows["II.B.e"].startswith("sshd inactivo: nadie entra por SSH, ni como root")
    assert "puerto 22 no alcanzable desde 198.18.0.1 (conexión rechazada)" in rows["II.B.c"]
    assert f"reglas no previstas: allow {DRIFT_PORT}/tcp" in rows["II.C.c-ufw"]
    assert "no alcanzable" in rows["II.C.c-22"]
    assert not evidence["observed"]["services"]["ssh.service"]["active"]
    # --compare against the clean run names both changes on the server
    compared = changes(clean["evidence"], evidence)
    assert f"server firewall.rule: allow {DRIFT_PORT}/tcp: added" in compared
    assert "server services.ssh.service.active: true -> false" in compared
    assert "server sshd: not read now" in compared  # sshd -T reads nothing with sshd stopped
