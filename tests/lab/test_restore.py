"""
The server is lost mid-night: a night of 97 cortes published and backed up, the lab host
replaced by a fresh one at the same address, the deploy, ``difusor restore`` from the backup:
the last corte is live again over HTTPS, the archive and the history complete and verified by
hash, and the night goes on. The recovery time (deploy + restore) goes into the rehearsal
summary. Also: ``difusor status`` reads the host; a backup refuses to overwrite newer data.
"""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta

from difusor.rehearsal.lab.core import REPO_ROOT
from difusor.rehearsal.lab.inventory import lab_secrets
from difusor.rehearsal.lab.rehearse import SUMMARY_PROPERTY, deploy_lab
from difusor.rehearsal.lab.simulacro import live_package, push, run_simulacro, start_after_live
from difusor.rehearsal.prep.generator import generate_series
from difusor.remote import publisher_program

NIGHT = 97  # 24 hours of cortes every 15 minutes, and the first


def difusor(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """The difusor command against the lab inventory, as a sysadmin runs it."""
    return subprocess.run(
        [sys.executable, "-m", "difusor", *args, "--inventory", "inventory/lab.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


def on_host(lab, command: str) -> str:
    result = lab.ssh(command, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_lost_server_is_rebuilt_with_its_night(lab, tmp_path, record_property):
    cortes = run_simulacro(lab, NIGHT, 0, start=start_after_live(lab, NIGHT))
    assert all(corte.published for corte in cortes), [c.error for c in cortes if c.error]
    last = cortes[-1].package

    # difusor status reads the host in one SSH command (the monitor's minute run first: during
    # the pushes it saw the night's first, old, cortes); checked at the end
    on_host(lab, "systemctl start difusor-monitor.service")
    started = time.monotonic()
    status = difusor("status")
    status_seconds = time.monotonic() - started
    as_json = difusor("status", "--json")

    backups = tmp_path / "backups"
    started = time.monotonic()
    first = difusor("backup", "--to", str(backups))
    backup_seconds = time.monotonic() - started
    assert first.returncode == 0, first.stdout + first.stderr
    directory = backups / "difusor-lab"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["live"]["package"] == last
    archived = {path.rsplit("/", 1)[-1] for path in manifest["archive"]}
    assert {corte.package for corte in cortes} <= archived
    assert (directory / "var/log/difusor/publisher.log").is_file()
    assert json.loads((directory / "fingerprints.json").read_text())["rsync_password"]
    again = difusor("backup", "--to", str(backups))
    assert again.returncode == 0 and " (0 new, " in again.stdout, again.stdout + again.stderr
    manifest = json.loads((directory / "manifest.json").read_text())

    lab.replace_machine()
    started = time.monotonic()
    deployed = deploy_lab()
    deploy_seconds = time.monotonic() - started
    assert deployed.ok, deployed.output[-4000:]

    # the fresh server lacks the night: backing it up into the night's directory is refused
    refused = difusor("backup", "--to", str(backups))
    assert refused.returncode == 1 and "refused" in refused.stdout, refused.stdout
    assert json.loads((directory / "manifest.json").read_text()) == manifest

    started = time.monotonic()
    restored = difusor("restore", "--from", str(directory))
    restore_seconds = time.monotonic() - started
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert live_package() == last

    on_server = json.loads(on_host(lab, publisher_program("manifest")))
    assert {path: on_server["archive"].get(path) for path in manifest["archive"]} == (
        manifest["archive"]
    )
    state = json.loads(on_host(lab, "cat /var/lib/difusor/state.json"))
    assert {corte.package for corte in cortes} <= set(state["packages"])
    restored_logs = on_host(lab, "ls /var/log/difusor").split()
    assert any(name.startswith("publisher.log-") for name in restored_logs), restored_logs

    # the night goes on: the institute's next corte is published on the rebuilt server
    [following] = generate_series(
        tmp_path / "next",
        1,
        start=datetime.fromisoformat(manifest["live"]["corte"]).replace(tzinfo=None)
        + timedelta(minutes=1),
        actas=300,
    )
    assert push(lab, following, lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]).returncode == 0
    deadline = time.monotonic() + 60
    while live_package() != following.name and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_package() == following.name

    assert status.stdout.startswith("difusor-lab: OK  "), status.stdout + status.stderr
    assert status.returncode == 0 and as_json.returncode == 0
    [host] = json.loads(as_json.stdout)
    assert host["ok"] and host["package"] == last and host["monitor_level"] == "ok", host
    assert host["services"]["difusor-publisher.service"] == "active"

    figures = (
        f"lost server to last corte live: {deploy_seconds + restore_seconds:.0f} s (deploy "
        f"{deploy_seconds:.0f} s + restore {restore_seconds:.0f} s) for {len(manifest['archive'])} "
        f"archived packages; backup {backup_seconds:.0f} s, status {status_seconds:.1f} s"
    )
    print(figures)
    print(restored.stdout)
    record_property(SUMMARY_PROPERTY, figures)
