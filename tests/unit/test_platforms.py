"""
The real deploy against recorded stock hosts (tests/unit/platforms/*.json): what it does on
Debian 12, Ubuntu 22.04 and Ubuntu 24.04 where they differ, and that a second run on the host
the first one left (its commands applied to a model of the host, platforms/converge.py)
changes nothing.
"""

from __future__ import annotations

import pytest

from difusor.accounts import NOLOGIN
from difusor.deploys.base import NEEDRESTART_FILE
from difusor.deploys.docker import PACKAGES, engine_packages
from difusor.deploys.firewall import desired_rules
from difusor.deploys.ssh import CLOUD_INIT_SSH_FILE, OPERATORS_GROUP
from difusor.facts import UfwState
from difusor.platform import DEBIAN_SECURITY_ORIGINS, UBUNTU_SECURITY_ORIGINS, decide
from difusor.settings import parse_settings

from .platforms.converge import Model
from .platforms.harness import load, run_deploy

RELEASES = ["debian-12", "ubuntu-22.04", "ubuntu-24.04"]
UNATTENDED_FILE = "/etc/apt/apt.conf.d/52difusor-unattended-upgrades"
SOCKET_SWITCH = (
    "systemctl disable --now ssh.socket && systemctl enable ssh.service"
    " && systemctl restart ssh.service || { systemctl enable --now ssh.socket; exit 1; }"
)
FIREWALL = "Firewall | Firewall: IPv6, rules, policies, enabled"
# The operations of the differences between releases, by name.
PLATFORM_OPERATIONS = (
    "Base system | needrestart lists, never asks nor restarts during apt runs",
    "Base system | Unattended security upgrades from the distribution's origins, never a reboot",
    "SSH access | sshd listens as configured (ssh.service, not ssh.socket)",
    "SSH access | cloud-init keeps sshd's password setting",
    FIREWALL,
    "Base system | Packages of the kit",
)


@pytest.fixture()
def data(valid_data):
    return dict(valid_data, trusted_sources={"ople": ["203.0.113.0/28", "2001:db8:10::/48"]})


def commands(operations, name: str) -> list[str] | None:
    """The commands of the operation called ``name`` (None: the deploy has no such operation)."""
    found = [operation.commands for operation in operations if operation.name == name]
    assert len(found) <= 1, name
    return found[0] if found else None


def uploads(operations) -> dict[str, str]:
    """Destination -> content of every file the run writes."""
    written = {}
    for operation in operations:
        for command in operation.commands:
            if command.startswith("upload "):
                head, _, content = command.partition("\n")
                written[head.removeprefix("upload ")] = content
    return written


def converged(facts: dict, first) -> Model:
    """The recorded host with the first run's commands applied."""
    model = Model(ufw_before=facts.get("difusor.facts.UfwState") or UfwState.default())
    for operation in first:
        for command in operation.commands:
            model.run(command)
    return model


@pytest.fixture(params=RELEASES)
def release(request):
    return request.param


def test_recordings_name_a_source_for_every_fact(release):
    recording = load(release)
    assert recording["description"]
    unsourced = set(recording["facts"]) - set(recording["sources"])
    assert not unsourced, f"{release}: facts without a source: {sorted(unsourced)}"


def test_first_run_handles_each_difference(release, data, monkeypatch):
    recording = load(release)
    operations = run_deploy(recording["facts"], data, monkeypatch)
    ubuntu = release.startswith("ubuntu")

    # needrestart (Ubuntu's, or the one Debian's docker.io recommends) is told to list only,
    # before the first apt run.
    names = [operation.name for operation in operations]
    needrestart = "Base system | needrestart lists, never asks nor restarts during apt runs"
    assert names.index(needrestart) < names.index(PLATFORM_OPERATIONS[-1])
    assert "$nrconf{restart} = 'l';" in uploads(operations)[NEEDRESTART_FILE]

    # Security upgrades from exactly the distribution's security origins.
    policy = uploads(operations)[UNATTENDED_FILE]
    assert "#clear Unattended-Upgrade::Allowed-Origins;" in policy
    for origin in UBUNTU_SECURITY_ORIGINS if ubuntu else DEBIAN_SECURITY_ORIGINS:
        assert f'"{origin}";' in policy
    assert ("Allowed-Origins {" in policy) == ubuntu
    assert "-updates" not in policy

    # sshd: its own listener on 24.04, after the validated configuration is in place.
    switch = commands(operations, PLATFORM_OPERATIONS[2])
    assert switch == ([SOCKET_SWITCH] if release == "ubuntu-24.04" else [])
    assert names.index("SSH access | sshd configuration") < names.index(PLATFORM_OPERATIONS[2])
    sshd_config = uploads(operations)["/etc/ssh/sshd_config.difusor-new"]
    # No drop-in (50-cloud-init.conf) is read: the kit's values are the first sshd sees.
    assert not [line for line in sshd_config.splitlines() if line.startswith("Include")]
    assert "\nPasswordAuthentication no\n" in sshd_config

    # cloud-init writes the kit's password setting, where it is installed.
    cloud_init = uploads(operations).get(CLOUD_INIT_SSH_FILE)
    assert (cloud_init is not None) == ubuntu
    if cloud_init:
        assert "ssh_pwauth: false" in cloud_init

    # Time from chrony only, from the settings' servers: not the sources.d files or the
    # DHCP-provided servers Ubuntu's and Debian's stock chrony.conf read, nor timesyncd.
    chrony = uploads(operations)["/etc/chrony/chrony.conf"]
    assert not [line for line in chrony.splitlines() if line.startswith(("sourcedir", "confdir"))]
    assert [
        line.split()[1] for line in chrony.splitlines() if line.startswith(("server", "pool"))
    ] == (parse_settings(data).ntp_servers)
    # One apt run installs what the release lacks and takes timesyncd away where it is.
    update, install = commands(operations, PLATFORM_OPERATIONS[-1]) or []
    assert update == "apt-get update"
    assert install.endswith(" systemd-timesyncd-") == ubuntu

    # ufw (preinstalled on Ubuntu, IPv6 on by default) takes the rules, then is enabled.
    firewall = commands(operations, FIREWALL) or []
    ipv6 = "sed -i 's/^IPV6=.*/IPV6=yes/' /etc/default/ufw"
    assert (firewall[0] == ipv6) == (not ubuntu)
    assert "ufw reload" not in firewall
    assert firewall[-1] == "ufw --force enable"

    # The visitor cookie's attributes in the syntax the release's nginx knows.
    nginx = uploads(operations)["/etc/nginx/nginx.conf.difusor-new"]
    if release == "ubuntu-22.04":  # nginx 1.18: no userid_flags
        assert "\n    userid_flags" not in nginx
        assert 'userid_path "/; Secure; HttpOnly; SameSite=Lax";' in nginx
    else:
        assert "userid_flags secure httponly samesite=lax;" in nginx

    # Docker from the distribution, Compose v2 where packaged; AppArmor is there already.
    installed = install.split(" install ")[1].split()
    assert ("docker-compose-v2" in installed) == ubuntu
    assert "docker.io" in installed
    assert "apparmor" not in installed


@pytest.mark.parametrize(
    "release, container, packages",
    [
        ("ubuntu-24.04", "none", ["docker.io", "docker-compose-v2", "apparmor"]),
        ("ubuntu-22.04", "none", ["docker.io", "docker-compose-v2", "apparmor"]),
        ("debian-12", "none", ["docker.io", "apparmor"]),
        ("debian-12", "systemd-nspawn", ["docker.io"]),
    ],
)
def test_docker_engine_packages(release, container, packages, valid_data):
    facts = load(release)["facts"]
    platform = decide(
        facts["server.LinuxDistribution"], facts["difusor.facts.PlatformTraits"], container
    )
    assert engine_packages(parse_settings(valid_data), platform) == packages
    docker_ce = parse_settings(dict(valid_data, docker_source="docker-ce"))
    apparmor = ["apparmor"] if platform.apparmor else []
    assert engine_packages(docker_ce, platform) == [*PACKAGES["docker-ce"], *apparmor]


def test_ufw_active_with_other_rules_ends_with_exactly_the_settings(data, monkeypatch):
    """A provider's image or an earlier administrator left ufw on, IPv6 off, with rules of
    its own: IPv6 comes first (ufw reloaded), every rule is added (IPv6 halves too), the
    others deleted after, the policies set; nothing is enabled twice."""
    facts = load("ubuntu-24.04")["facts"]
    facts["difusor.facts.UfwState"] = {
        "enabled": True,
        "ipv6": False,
        "logging": "low",
        "defaults": {"incoming": "allow", "outgoing": "allow", "routed": "deny"},
        "rules": ["allow OpenSSH", "allow 80/tcp"],
    }
    operations = run_deploy(facts, data, monkeypatch)
    rules = desired_rules(parse_settings(data))
    firewall = commands(operations, FIREWALL) or []
    assert firewall[:2] == ["sed -i 's/^IPV6=.*/IPV6=yes/' /etc/default/ufw", "ufw reload"]
    firewall_rules = firewall[2:-1]
    assert len(firewall_rules) == len(rules) + 1  # 80/tcp again, for its IPv6 half
    assert firewall_rules[-1] == "ufw --force delete allow OpenSSH"
    assert firewall[-1] == "ufw default deny incoming"  # and not enabled again
    # What ufw holds afterwards is exactly the settings', and a second run has nothing to do.
    model = converged(facts, operations)
    assert model.facts["difusor.facts.UfwState"] == {
        "enabled": True,
        "ipv6": True,
        "logging": "low",
        "defaults": {"incoming": "deny", "outgoing": "allow", "routed": "deny"},
        "rules": rules,
    }
    second = run_deploy(facts, data, monkeypatch, model=model)
    assert [operation.name for operation in second if operation.commands] == []


def test_second_run_changes_nothing(release, data, monkeypatch):
    """The whole deploy again on the host the first run left: no operation has anything to
    do, those of the differences included."""
    recording = load(release)
    first = run_deploy(recording["facts"], data, monkeypatch)
    model = converged(recording["facts"], first)
    second = run_deploy(recording["facts"], data, monkeypatch, model=model)
    assert [operation.name for operation in second if operation.commands] == []
    ran = {operation.name for operation in first if operation.commands}
    assert ran & set(PLATFORM_OPERATIONS), "the first run handled no difference"


@pytest.mark.parametrize("release", ["ubuntu-22.04", "ubuntu-24.04"])
def test_ubuntu_python_runs_the_publisher(release):
    facts = load(release)["facts"]
    platform = decide(
        facts["server.LinuxDistribution"], facts["difusor.facts.PlatformTraits"], "none"
    )
    assert platform.problems() == []


def test_an_older_python_is_refused_before_anything_changes():
    facts = load("ubuntu-22.04")["facts"]
    traits = dict(facts["difusor.facts.PlatformTraits"], python=[3, 8])
    platform = decide(facts["server.LinuxDistribution"], traits, "none")
    assert platform.problems() == ["python3 3.8 on the server, the publisher needs 3.10 or later"]


def test_apparmor_belongs_to_the_host_of_a_container():
    facts = load("debian-12")["facts"]
    traits = facts["difusor.facts.PlatformTraits"]
    assert decide(facts["server.LinuxDistribution"], traits, "none").apparmor
    assert not decide(facts["server.LinuxDistribution"], traits, "systemd-nspawn").apparmor


def test_the_kit_enforces_each_distributions_own_security_origins(release):
    """The origins the kit writes are the ones the release's stock file enables (recorded
    with their source), so a host takes the updates its distribution means it to."""
    recording = load(release)
    facts = recording["facts"]
    platform = decide(
        facts["server.LinuxDistribution"], facts["difusor.facts.PlatformTraits"], "none"
    )
    assert list(platform.security_origins) == recording["stock_files"]["unattended_origins"]
    assert "stock_files.unattended_origins" in recording["sources"]


def test_an_operator_taken_off_the_settings_is_retired_once(data, monkeypatch):
    """The run after an operator leaves the settings takes away their shell, keys and sudo;
    the run after that finds nothing left to do."""
    facts = load("ubuntu-24.04")["facts"]
    luis = {"name": "luis", "ssh_keys": data["operators"][0]["ssh_keys"]}
    both = dict(data, operators=[*data["operators"], luis])
    model = converged(facts, run_deploy(facts, both, monkeypatch))
    assert OPERATORS_GROUP in model.users["luis"]["groups"]

    retiring = run_deploy(facts, data, monkeypatch, model=model)
    assert [operation.name for operation in retiring if operation.commands] == [
        "SSH access | Operators: accounts, keys, sudo; former operators without a way in"
    ]
    for operation in retiring:
        for command in operation.commands:
            model.run(command)
    assert model.users["luis"]["shell"] == NOLOGIN
    assert model.nodes["/home/luis/.ssh/authorized_keys"].content.strip() == ""
    assert OPERATORS_GROUP not in model.users["luis"]["groups"]
    again = run_deploy(facts, data, monkeypatch, model=model)
    assert [operation.name for operation in again if operation.commands] == []
