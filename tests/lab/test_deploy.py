"""The deploy as a sysadmin runs it: idempotent, and refusing bad input or a lockout
before anything on the host changes."""

import subprocess
import textwrap
from pathlib import Path

import pytest

from difusor.accounts import NOLOGIN
from difusor.deploys.ssh import OPERATORS_GROUP
from difusor.rehearsal.lab import LAB_IPV4, OPLE_IPV4, OPLE_IPV6
from difusor.rehearsal.lab.inventory import lab_data
from difusor.rehearsal.lab.rehearse import deploy_lab

STATE_COMMAND = "sha256sum /etc/ssh/sshd_config /etc/chrony/chrony.conf; ufw show added; ufw status"


def host_state(lab) -> str:
    result = lab.ssh(STATE_COMMAND)
    assert result.returncode == 0, result.stderr
    return result.stdout


def write_inventory(tmp_path, **overrides) -> str:
    """A copy of the lab inventory with some host data replaced."""
    path = tmp_path / "inventory.py"
    path.write_text(
        textwrap.dedent(f"""
        from difusor.rehearsal.lab.inventory import lab_host
        name, data = lab_host()
        data.update({overrides!r})
        lab = [(name, data)]
    """)
    )
    return str(path)


def test_second_deploy_changes_nothing(lab):
    run = deploy_lab()
    assert run.ok, run.output[-4000:]
    assert run.changed == 0, run.output[-4000:]
    assert (run.unchanged or 0) > 0


def test_a_firewall_rule_added_by_hand_is_removed_by_the_next_deploy(lab):
    """The rule set is exclusive (README): what is not in the settings does not stay."""
    added = lab.ssh("ufw allow 8753/tcp")
    assert added.returncode == 0, added.stderr
    assert "8753/tcp" in host_state(lab)
    run = deploy_lab()
    assert run.ok, run.output[-4000:]
    assert (run.changed or 0) >= 1, run.output[-4000:]
    assert "8753" not in host_state(lab)


def account(lab, name: str) -> dict:
    """Shell, secondary groups and authorized keys of an account on the lab host."""
    result = lab.ssh(
        f"getent passwd {name} | cut -d: -f7; id -nG {name}; cat /home/{name}/.ssh/authorized_keys"
    )
    assert result.returncode == 0, result.stderr
    shell, groups, *keys = result.stdout.splitlines()
    return {"shell": shell, "groups": set(groups.split()), "keys": [key for key in keys if key]}


def test_operators_leave_as_declared_and_come_back(lab, tmp_path):
    """sudo taken away and an operator taken off the settings: no sudo, and no way in for
    the one removed (account kept); the lab's settings then bring sudo back."""
    (operator,) = lab_data()["operators"]
    key = operator["ssh_keys"][0]
    both = [operator, {"name": "relevo", "ssh_keys": [key]}]
    assert deploy_lab(inventory=write_inventory(tmp_path, operators=both)).ok
    assert account(lab, "relevo") == {
        "shell": "/bin/bash",
        "groups": {"relevo", OPERATORS_GROUP},
        "keys": [key],
    }

    run = deploy_lab(inventory=write_inventory(tmp_path, operators=[{**operator, "sudo": False}]))
    assert run.ok, run.output[-4000:]
    assert OPERATORS_GROUP not in account(lab, operator["name"])["groups"]
    assert account(lab, "relevo") == {"shell": NOLOGIN, "groups": {"relevo"}, "keys": []}

    run = deploy_lab()
    assert run.ok, run.output[-4000:]
    assert OPERATORS_GROUP in account(lab, operator["name"])["groups"]
    assert account(lab, "relevo")["shell"] == NOLOGIN


def root_login_with(key: Path) -> int:
    """Exit status of `ssh root@lab-host true` offering only ``key``."""
    return subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            f"root@{LAB_IPV4}",
            "true",
        ],
        capture_output=True,
        timeout=60,
    ).returncode


def test_a_root_key_taken_off_the_settings_stops_working(lab, tmp_path):
    key = tmp_path / "institute"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tecnico@instituto", "-f", str(key)],
        check=True,
    )
    public_key = key.with_suffix(".pub").read_text().strip()
    assert deploy_lab(inventory=write_inventory(tmp_path, root_ssh_keys=[public_key])).ok
    assert root_login_with(key) == 0
    run = deploy_lab()  # the lab's settings: no root_ssh_keys
    assert run.ok, run.output[-4000:]
    assert root_login_with(key) == 255
    assert lab.ssh("true").returncode == 0  # root's own authorized_keys still lets the lab in


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "deploy"])
def test_lockout_guard_stops_before_touching_the_host(lab, tmp_path, dry):
    before = host_state(lab)
    only_ople = {"trusted_sources": {"ople": [f"{OPLE_IPV4}/32", f"{OPLE_IPV6}/128"]}}
    run = deploy_lab(*(["--dry"] if dry else []), inventory=write_inventory(tmp_path, **only_ople))
    assert run.returncode != 0
    assert "refusing to change the firewall or sshd" in run.output
    assert "SSH client 198.18.0.1 is in none of trusted_sources (ople)" in run.output
    assert host_state(lab) == before


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "deploy"])
def test_bad_settings_are_named_and_change_nothing(lab, tmp_path, dry):
    before = host_state(lab)
    bad = {"trusted_sources": {"ople": ["198.18.0.20/24"]}, "timezone": "Mexico/Veracruz"}
    run = deploy_lab(*(["--dry"] if dry else []), inventory=write_inventory(tmp_path, **bad))
    assert run.returncode != 0
    assert "trusted_sources.ople[0]: '198.18.0.20/24' has host bits set" in run.output
    assert "timezone: 'Mexico/Veracruz' is not an IANA time zone" in run.output
    assert host_state(lab) == before
