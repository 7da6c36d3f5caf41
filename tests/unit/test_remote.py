"""SSH access from inventory data: the configuration the system's ssh client resolves."""

import subprocess
from pathlib import Path

import pytest

from difusor.inventory import InventoryHost
from difusor.remote import Remote, SshTarget
from difusor.settings import SettingsError


def resolved(target: SshTarget, tmp_path: Path) -> dict[str, str]:
    """What OpenSSH itself makes of the generated configuration (``ssh -G``, no connection)."""
    config = tmp_path / "ssh_config"
    config.write_text(target.config(control_dir=tmp_path))
    output = subprocess.run(
        ["ssh", "-G", "-F", str(config), target.alias],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in output.splitlines() if " " in line)


def test_inventory_connection_data_reaches_ssh(tmp_path):
    host = InventoryHost(
        "prep",
        {
            "ssh_hostname": "198.51.100.7",
            "ssh_user": "admin",
            "ssh_port": "2222",
            "ssh_key": "~/.ssh/id_prep",
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "no",
        },
    )
    options = resolved(SshTarget.from_host(host), tmp_path)
    assert options["hostname"] == "198.51.100.7"
    assert options["user"] == "admin"
    assert options["port"] == "2222"
    assert options["identityfile"].endswith("/.ssh/id_prep")
    assert "~" not in options["identityfile"]
    assert options["userknownhostsfile"] == "/dev/null"
    assert options["stricthostkeychecking"] == "false"
    assert options["batchmode"] == "yes"
    assert options["controlmaster"] == "auto"


def test_the_host_name_is_the_address_when_no_ssh_hostname(tmp_path):
    target = SshTarget.from_host(InventoryHost("prep.example.com.mx", {}))
    assert resolved(target, tmp_path)["hostname"] == "prep.example.com.mx"


def test_the_operators_own_ssh_config_fills_in_the_rest(tmp_path):
    own = tmp_path / "own_config"
    own.write_text("Host *\n    Compression yes\n    Port 2200\n")
    target = SshTarget.from_host(
        InventoryHost("prep", {"ssh_port": 22, "ssh_config_file": str(own)})
    )
    options = resolved(target, tmp_path)
    assert options["compression"] == "yes"
    assert options["port"] == "22"  # the inventory wins where it says something


def test_a_password_login_is_refused_with_the_field_named():
    with pytest.raises(SettingsError) as error:
        SshTarget.from_host(InventoryHost("prep", {"ssh_password": "secret"}))
    assert "ssh_password" in error.value.problems[0]
    assert "secret" not in error.value.problems[0]


def test_sudo_wraps_commands_and_rsync():
    with Remote(SshTarget.from_host(InventoryHost("vm", {"_sudo": True}))) as remote:
        assert remote._privileged("cat /etc/x") == "sudo -n sh -c 'cat /etc/x'"
        assert remote.rsync_argv("-a")[3:5] == ["--rsync-path", "sudo -n rsync"]
    with Remote(SshTarget.from_host(InventoryHost("srv", {}))) as remote:
        assert remote._privileged("cat /etc/x") == "cat /etc/x"
        assert "--rsync-path" not in remote.rsync_argv("-a")
