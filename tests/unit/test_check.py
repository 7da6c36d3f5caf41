"""difusor check: settings checked with no connection, each problem with the file it came from
by pyinfra's own precedence; and the deploy stopping on the same lines before it connects."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from difusor.check import _matching, duplicate_keys, host_problems
from difusor.cli import main
from difusor.inventory import InventoryHost, Origin, load_inventory

from .conftest import RSYNC_PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture()
def tree(tmp_path, monkeypatch, public_key):
    """A sysadmin's checkout: group_data/ in the current directory and beside the inventory,
    group data in the inventory file itself, hosts in two groups and the file's own group."""
    write(
        tmp_path / "group_data" / "all.py",
        f"""
        portal_domain = "prep.example.com.mx"
        admin_email = "sistemas@example.com.mx"
        trusted_sources = {{"ople": ["203.0.113.0/28"]}}
        operators = [{{"name": "ana", "ssh_keys": ["{public_key}"]}}]
        log_retention_days = 60
        """,
    )
    write(
        tmp_path / "inventory" / "hosts.py",
        """
        web = (
            ["prep1", ("prep2", {"log_retention_days": 90})],
            {"rate_limit_per_second": 50, "embed_origins": ["https://www.example.mx"]},
        )
        db = ["prep2"]
        """,
    )
    write(tmp_path / "inventory" / "group_data" / "all.py", 'admin_email = "otro@example.com.mx"\n')
    write(
        tmp_path / "inventory" / "group_data" / "web.py",
        """
        import os

        rate_limit_per_second = 40
        if os.environ.get("NOT_SET_ANYWHERE"):
            journal_max_use_mb = 4096
        connection_limit = 200
        """,
    )
    write(tmp_path / "inventory" / "group_data" / "db.py", "connection_limit = 300\n")
    write(tmp_path / "inventory" / "group_data" / "hosts.py", "journal_max_use_mb = 1024\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def hosts_by_name(**kwargs) -> dict[str, InventoryHost]:
    return {host.name: host for host in load_inventory("inventory/hosts.py", **kwargs)}


def test_origins_follow_pyinfras_precedence(tree):
    hosts = hosts_by_name()
    prep1, prep2 = hosts["prep1"], hosts["prep2"]
    assert prep2.groups == ("web", "db", "hosts")
    assert prep1.data["connection_limit"] == 200 and prep2.data["connection_limit"] == 300
    assert prep1.data["rate_limit_per_second"] == 40
    assert prep1.origins["portal_domain"] == Origin("group_data/all.py", 1)
    # group_data beside the inventory wins over group_data in the current directory
    assert prep1.origins["admin_email"] == Origin("inventory/group_data/all.py", 1)
    # a group's file wins over the group's data in the inventory file
    assert prep1.origins["rate_limit_per_second"] == Origin("inventory/group_data/web.py", 3)
    assert prep1.origins["embed_origins"] == Origin("inventory/hosts.py")
    # of two groups, the later one wins; the inventory file's own group comes last
    assert prep1.origins["connection_limit"] == Origin("inventory/group_data/web.py", 6)
    assert prep2.origins["connection_limit"] == Origin("inventory/group_data/db.py", 1)
    assert prep2.origins["journal_max_use_mb"] == Origin("inventory/group_data/hosts.py", 1)
    # host data wins over every group
    assert prep1.origins["log_retention_days"] == Origin("group_data/all.py", 5)
    assert prep2.origins["log_retention_days"] == Origin("inventory/hosts.py")
    # defaults have no origin; imported modules are no data
    assert "timezone" not in prep1.origins and "os" not in prep1.data


def test_data_and_group_data_options_win(tree):
    write(tree / "extra" / "web.py", "connection_limit = 500\n")
    hosts = hosts_by_name(override_data={"timezone": "UTC"}, group_data_directories=["extra"])
    assert hosts["prep1"].origins["timezone"] == Origin("--data")
    assert hosts["prep1"].origins["connection_limit"] == Origin("extra/web.py", 1)
    assert hosts["prep1"].data["connection_limit"] == 500


def test_each_problem_names_the_file_it_came_from(tree, monkeypatch):
    write(tree / "inventory" / "group_data" / "db.py", "connection_limit = 0\n")
    write(tree / ".env", "DIFUSOR_RSYNC_PASSWORD=too-short\n")
    monkeypatch.setenv("DIFUSOR_ENV_FILE", ".env")
    monkeypatch.delenv("DIFUSOR_RSYNC_PASSWORD")
    assert host_problems(hosts_by_name()["prep2"]) == [
        "prep2: connection_limit: Input should be greater than or equal to 1 (got 0) "
        "[inventory/group_data/db.py:1]",
        "prep2: rsync_password: has 9 characters; at least 16 are required "
        "(rsync's challenge can be guessed offline from one captured upload) [.env]",
    ]
    assert "too-short" not in " ".join(host_problems(hosts_by_name()["prep1"]))


def test_a_rule_names_the_origins_of_its_fields(tree, monkeypatch):
    write(tree / "inventory" / "group_data" / "db.py", 'cdn_purge = "cloudflare"\n')
    monkeypatch.setenv("DIFUSOR_CDN_TOKEN", "t0ken")
    (line,) = host_problems(hosts_by_name()["prep2"])
    assert line == (
        "prep2: cdn_purge: 'cloudflare' needs cloudflare_zone_id and the token in .env "
        "(DIFUSOR_CDN_TOKEN) [cdn_purge in inventory/group_data/db.py:1, "
        "cdn_token in environment (DIFUSOR_CDN_TOKEN)]"
    )


def test_a_secret_in_group_data_is_reported_where_it_was_written(tree):
    write(tree / "inventory" / "group_data" / "db.py", 'rsync_password = "in-git-in-clear"\n')
    assert host_problems(hosts_by_name()["prep2"]) == [
        "prep2: rsync_password: secrets come from .env (DIFUSOR_RSYNC_PASSWORD), not host data "
        "[inventory/group_data/db.py:1]"
    ]


# (id, data file, text, the line's problem and origin)
DUPLICATES = [
    (
        "top_level_dict",
        "group_data/all.py",
        """
        trusted_sources = {
            "ople": ["203.0.113.0/28"],
            "ople": ["198.51.100.0/29"],
        }
        """,
        "trusted_sources: key 'ople' is written twice in one dict (lines 2 and 3): "
        "only the last would count [group_data/all.py:3]",
    ),
    (
        "dict_inside_a_list",
        "group_data/all.py",
        'operators = [{"name": "ana", "sudo": True, "sudo": False, "ssh_keys": []}]\n',
        "operators: key 'sudo' is written twice in one dict (lines 1 and 1): "
        "only the last would count [group_data/all.py:1]",
    ),
    (
        "host_data_in_the_inventory",
        "inventory/hosts.py",
        """
        web = [
            ("prep1", {"ssh_user": "root",
                       "ssh_user": "admin"}),
        ]
        """,
        "web: key 'ssh_user' is written twice in one dict (lines 2 and 3): "
        "only the last would count [inventory/hosts.py:3]",
    ),
]


@pytest.mark.parametrize(
    "path, text, expected", [c[1:] for c in DUPLICATES], ids=[c[0] for c in DUPLICATES]
)
def test_duplicate_keys_are_refused_with_file_and_line(tmp_path, monkeypatch, path, text, expected):
    monkeypatch.chdir(tmp_path)
    file = write(tmp_path / path, text)
    assert [f"{problem} [{origin}]" for problem, origin in duplicate_keys(str(file))] == [expected]


def test_a_duplicate_key_fails_the_check_of_the_hosts_that_read_the_file(tree, capsys):
    write(tree / "inventory" / "group_data" / "db.py", "x = {'a': 1, 'a': 2}\n")
    assert main(["check", "-i", "inventory/hosts.py"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "prep1: OK"
    assert out[1].startswith("prep2: x: key 'a' is written twice in one dict")


def test_check_says_ok_per_host_and_exits_0(tree, capsys):
    assert main(["check", "-i", "inventory/hosts.py"]) == 0
    assert capsys.readouterr().out == "prep1: OK\nprep2: OK\n"


def test_check_exits_1_on_problems_and_2_on_a_wrong_host_or_inventory(tree, capsys):
    write(tree / "inventory" / "group_data" / "db.py", "connection_limit = 0\n")
    assert main(["check", "-i", "inventory/hosts.py", "--host", "prep1"]) == 0
    assert main(["check", "-i", "inventory/hosts.py", "--host", "prep2"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "prep1: OK",
        "prep2: connection_limit: Input should be greater than or equal to 1 (got 0) "
        "[inventory/group_data/db.py:1]",
    ]
    assert main(["check", "-i", "inventory/hosts.py", "--host", "prep9"]) == 2
    assert main(["check", "-i", "inventory/absent.py"]) == 2
    assert "'inventory/absent.py' does not exist" in capsys.readouterr().err


def test_limit_and_exclude_patterns_match_as_in_pyinfra():
    hosts = [
        InventoryHost("web1", {}, ("web",)),
        InventoryHost("web2", {}, ("db",)),
        InventoryHost("db", {}, ("web",)),
    ]
    assert _matching(hosts, ["web"]) == {"web1", "db"}  # a group: its hosts only
    assert _matching(hosts, ["web*"]) == {"web1", "web2"}  # else names
    assert _matching(hosts, ["nothing", "db"]) == {"web2"}


def run_pyinfra(cwd: Path, *args: str, password: str = RSYNC_PASSWORD) -> tuple[int, str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "DIFUSOR_ENV_FILE": os.devnull,
        "DIFUSOR_RSYNC_PASSWORD": password,
    }
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def unreachable_inventory(tmp_path: Path, **data) -> str:
    """One host at a documentation address (RFC 5737) that no server answers."""
    return str(write(tmp_path / "unreachable.py", f"servers = [('192.0.2.1', {data!r})]\n"))


def test_the_deploy_stops_on_bad_settings_before_connecting(tmp_path):
    inventory = unreachable_inventory(tmp_path, log_retention_days=0, timezone="Mexico/Veracruz")
    code, output = run_pyinfra(REPO_ROOT, inventory, "deploy.py", password="short")
    assert code == 1, output
    check = subprocess.run(
        [sys.executable, "-m", "difusor", "check", "-i", inventory],
        cwd=REPO_ROOT,
        env={**os.environ, "DIFUSOR_ENV_FILE": os.devnull, "DIFUSOR_RSYNC_PASSWORD": "short"},
        capture_output=True,
        text=True,
    )
    lines = check.stdout.splitlines()
    assert check.returncode == 1 and len(lines) == 3
    assert all(line in output for line in lines), output
    retention = "log_retention_days: Input should be greater than or equal to 30 (got 0)"
    assert f"192.0.2.1: {retention} [{inventory}]" in lines
    for sign_of_a_connection in ("Connecting to hosts", "Traceback", "No hosts remaining"):
        assert sign_of_a_connection not in output
    assert not re.search(r"\.py line \d+", output)  # no line of the kit's own source


def test_with_good_settings_the_deploy_goes_on_to_connect(tmp_path):
    code, output = run_pyinfra(REPO_ROOT, unreachable_inventory(tmp_path), "deploy.py")
    assert code != 0
    assert "--> Checking settings..." in output
    assert "--> Connecting to hosts..." in output
    assert "192.0.2.1:" not in output  # no settings line


def test_commands_that_read_no_settings_are_not_stopped(tmp_path):
    inventory = unreachable_inventory(tmp_path, log_retention_days=0)
    code, output = run_pyinfra(REPO_ROOT, inventory, "debug-inventory")
    assert code == 0, output
    assert "Checking settings" not in output
