"""SSH access: effective sshd configuration, accounts, sudo, moduli."""

import pytest

from difusor import hardening, paths
from difusor.deploys.ssh import CLOUD_INIT_SSH_FILE, OPERATORS_GROUP, SSH_PACKAGES


@pytest.fixture(scope="module")
def sshd(host) -> dict[str, str]:
    """Effective sshd settings, as sshd itself resolves them (sshd -T)."""
    output = host.check_output("sshd -T -C user=root,host=difusor,addr=127.0.0.1")
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        values[key] = value if key not in values else values[key] + "\n" + value
    return values


@pytest.mark.parametrize("package", SSH_PACKAGES)
def test_packages(host, package):
    assert host.package(package).is_installed


@pytest.mark.parametrize(
    "key, expected",
    [
        ("permitrootlogin", "without-password"),
        ("passwordauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("pubkeyauthentication", "yes"),
        ("maxauthtries", "2"),
        ("logingracetime", "30"),
        ("loglevel", "VERBOSE"),
        ("clientaliveinterval", "300"),
        ("clientalivecountmax", "3"),
        ("x11forwarding", "no"),
        ("allowtcpforwarding", "no"),
        ("allowagentforwarding", "no"),
        ("permittunnel", "no"),
        ("permituserenvironment", "no"),
        ("strictmodes", "yes"),
        ("hostbasedauthentication", "no"),
        ("ignorerhosts", "yes"),
        ("compression", "no"),
        ("ciphers", ",".join(hardening.SSH_CIPHERS)),
        ("kexalgorithms", ",".join(hardening.SSH_KEX_ALGORITHMS)),
        ("macs", ",".join(hardening.SSH_MACS)),
    ],
)
def test_sshd_effective_config(sshd, key, expected):
    assert sshd[key] == expected


def test_sshd_running_and_config_private(host):
    assert host.service("ssh").is_running and host.service("ssh").is_enabled
    config = host.file("/etc/ssh/sshd_config")
    assert (config.user, config.group, config.mode) == ("root", "root", 0o600)
    assert not host.file("/etc/ssh/sshd_config.difusor-new").exists


def test_no_small_moduli(host):
    sizes = host.check_output("awk '!/^#/ {print $5 + 1}' /etc/ssh/moduli").split()
    assert sizes, "moduli file is empty"
    assert min(map(int, sizes)) >= hardening.SSH_MODULI_MIN_BITS


def test_operators_have_keys_and_sudo(host, settings):
    for operator in settings.operators:
        user = host.user(operator.name)
        assert user.exists
        assert (OPERATORS_GROUP in user.groups) is operator.sudo
        keys = host.file(f"{user.home}/.ssh/authorized_keys")
        assert keys.user == operator.name and keys.mode == 0o600
        assert set(keys.content_string.split("\n")) - {""} == set(operator.ssh_keys)


def test_only_current_operators_hold_sudo(host, settings):
    """Operators taken off the settings, or given sudo = False, are out of the sudo group."""
    entry = host.check_output(f"getent group {OPERATORS_GROUP}")
    members = {name for name in entry.split(":")[3].split(",") if name}
    assert members == {operator.name for operator in settings.operators if operator.sudo}


def test_sudoers_valid_and_passwordless(host, settings):
    sudoers = host.file(f"/etc/sudoers.d/{OPERATORS_GROUP}")
    assert (sudoers.user, sudoers.mode) == ("root", 0o440)
    assert host.run("visudo -cq").rc == 0
    operator = next(op.name for op in settings.operators if op.sudo)
    assert "NOPASSWD: ALL" in host.check_output(f"sudo -l -U {operator}")


def test_root_keys_are_exactly_the_settings(host, settings, sshd):
    keys = host.file(paths.ROOT_KEYS_FILE)
    assert (keys.user, keys.group, keys.mode) == ("root", "root", 0o600)
    assert keys.content_string.splitlines() == settings.root_ssh_keys
    assert f"{paths.AUTHORIZED_KEYS_DIR}/%u" in sshd["authorizedkeysfile"].split()


def test_sshd_listens_itself_not_from_ssh_socket(host):
    """Ubuntu 24.04 starts sshd from ssh.socket: the deploy leaves it to ssh.service, which
    binds what sshd_config says and applies it on every reload."""
    assert host.run("systemctl is-enabled ssh.socket").stdout.strip() != "enabled"
    assert host.run("systemctl is-active ssh.socket").stdout.strip() != "active"
    listening = host.check_output("ss -Htlnp 'sport = :22'")
    assert "sshd" in listening and "systemd" not in listening


def test_no_drop_in_can_override_the_kit(host):
    """A cloud image's sshd_config.d/50-cloud-init.conf (PasswordAuthentication yes) would
    win over the kit's file if it were included."""
    lines = host.file("/etc/ssh/sshd_config").content_string.splitlines()
    assert not [line for line in lines if line.strip().lower().startswith("include")]


def test_cloud_init_keeps_the_password_setting(host, settings):
    if not host.file("/etc/cloud/cloud.cfg.d").is_directory:
        pytest.skip("no cloud-init on this host")
    wanted = "true" if settings.ssh_password_authentication else "false"
    assert host.file(CLOUD_INIT_SSH_FILE).contains(f"^ssh_pwauth: {wanted}$")
