"""What the settings refuse as unsafe, each with its reason: trusted sources that name no one
in particular, short or missing rsync passwords, public keys that are not a whole key of their
type; and every broken rule reported at once, at its own field."""

import base64
import struct
import subprocess

import pytest

from difusor.settings import SettingsError, parse_settings
from difusor.settings.env import MIN_RSYNC_PASSWORD_LENGTH

from .conftest import RSYNC_PASSWORD


def ssh_string(value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(data)) + data


def key_line(key_type: str, *fields: bytes | str, raw: bytes = b"") -> str:
    """An OpenSSH public key line whose body is ``key_type``, ``fields`` and ``raw`` bytes."""
    body = ssh_string(key_type) + b"".join(ssh_string(field) for field in fields) + raw
    return f"{key_type} {base64.b64encode(body).decode()} test@example"


ED25519_KEY = bytes(range(32))
P256_POINT = b"\x04" + bytes(64)
RSA_MODULUS = b"\x00" + b"\xc1" * 384  # 3072 bits
EXPONENT = b"\x01\x00\x01"  # 65537


def keys(*lines: str) -> dict:
    return {"root_ssh_keys": list(lines)}


# (id, host data changed, secrets (None: the deploy's own), what the line says)
UNSAFE = [
    (
        "trusted_ipv4_whole_internet",
        {"trusted_sources": {"ople": ["203.0.113.0/28", "0.0.0.0/0"]}},
        None,
        "trusted_sources.ople[1]: '0.0.0.0/0' opens SSH and rsync to the whole internet: "
        "trusted sources are at most /8 (set allow_wide_trusted_sources = True to take the risk)",
    ),
    (
        "trusted_ipv6_whole_internet",
        {"trusted_sources": {"ople": ["::/0"]}},
        None,
        "trusted_sources.ople[0]: '::/0' opens SSH and rsync to the whole internet",
    ),
    (
        "trusted_ipv4_wider_than_8",
        {"trusted_sources": {"ople": ["10.0.0.0/7"]}},
        None,
        "trusted_sources.ople[0]: '10.0.0.0/7' opens SSH and rsync to 33,554,432 addresses",
    ),
    (
        "trusted_ipv6_wider_than_32",
        {"trusted_sources": {"ople": ["2001:db8::/31"]}},
        None,
        "trusted_sources.ople[0]: '2001:db8::/31' opens SSH and rsync to 2^97 addresses: "
        "trusted sources are at most /32",
    ),
    (
        "rsync_password_short",
        {},
        {"rsync_password": "fifteen-charact"},
        f"rsync_password: has 15 characters; at least {MIN_RSYNC_PASSWORD_LENGTH} are required",
    ),
    (
        "rsync_password_missing",
        {},
        {},
        "rsync_password: is required: set DIFUSOR_RSYNC_PASSWORD in .env or the environment",
    ),
    (
        "retention_zero_is_quoted",
        {"log_retention_days": 0},
        None,
        "log_retention_days: Input should be greater than or equal to 30 (got 0)",
    ),
    (
        "ed25519_type_and_a_few_bytes",
        keys("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"),
        None,
        "root_ssh_keys[0]: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5' has a body cut short (15 bytes): "
        "not a whole ssh-ed25519 key",
    ),
    (
        "ed25519_base64_stops_mid_byte",
        keys("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN"),
        None,
        "has a body cut short: its base64 stops mid-byte",
    ),
    (
        "ed25519_key_of_31_bytes",
        keys(key_line("ssh-ed25519", ED25519_KEY[:31])),
        None,
        "has a 31-byte ed25519 key; 32 bytes expected",
    ),
    (
        "ed25519_bytes_after_the_key",
        keys(key_line("ssh-ed25519", ED25519_KEY, raw=b"\x00\x01\x02")),
        None,
        "has 3 bytes after the ssh-ed25519 key in its body",
    ),
    (
        "ecdsa_point_too_short",
        keys(key_line("ecdsa-sha2-nistp256", "nistp256", P256_POINT[:64])),
        None,
        "has a 64-byte point; a nistp256 key's is 65 bytes, starting 0x04",
    ),
    (
        "ecdsa_point_compressed",
        keys(key_line("ecdsa-sha2-nistp256", "nistp256", b"\x02" + bytes(64))),
        None,
        "has a 65-byte point; a nistp256 key's is 65 bytes, starting 0x04",
    ),
    (
        "ecdsa_curve_of_another_type",
        keys(key_line("ecdsa-sha2-nistp256", "nistp384", b"\x04" + bytes(96))),
        None,
        "names curve 'nistp384' inside a nistp256 key",
    ),
    (
        "rsa_even_exponent",
        keys(key_line("ssh-rsa", b"\x04", RSA_MODULUS)),
        None,
        "has RSA exponent 4; an odd one from 3 up is required (ssh-keygen: 65537)",
    ),
    (
        "rsa_exponent_one",
        keys(key_line("ssh-rsa", b"\x01", RSA_MODULUS)),
        None,
        "has RSA exponent 1; an odd one from 3 up is required",
    ),
    (
        "rsa_modulus_cut_short",
        keys(key_line("ssh-rsa", EXPONENT, RSA_MODULUS)[:408]),
        None,
        "has a body cut short (300 bytes): not a whole ssh-rsa key",
    ),
    (
        "fido_ed25519_without_application",
        keys(key_line("sk-ssh-ed25519@openssh.com", ED25519_KEY)),
        None,
        "has a body cut short (66 bytes): not a whole sk-ssh-ed25519@openssh.com key",
    ),
    (
        "fido_application_not_ssh",
        keys(key_line("sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", P256_POINT, "web:")),
        None,
        "has FIDO application 'web:'; it starts with 'ssh:'",
    ),
]


@pytest.mark.parametrize(
    "change, secrets, expected", [c[1:] for c in UNSAFE], ids=[c[0] for c in UNSAFE]
)
def test_unsafe_settings_are_refused_with_the_reason(valid_data, change, secrets, expected):
    with pytest.raises(SettingsError) as error:
        parse_settings({**valid_data, **change}, secrets)
    assert expected in str(error.value)
    if secrets:
        assert secrets["rsync_password"] not in str(error.value)


def test_trusted_sources_up_to_the_limit_are_accepted(valid_data):
    widest = {"trusted_sources": {"ople": ["10.0.0.0/8", "2001:db8::/32"]}}
    assert len(parse_settings({**valid_data, **widest}).networks()) == 2


def test_the_override_names_the_risk_and_lets_wide_sources_through(valid_data):
    everyone = {"trusted_sources": {"all": ["0.0.0.0/0", "::/0"]}}
    settings = parse_settings({**valid_data, **everyone, "allow_wide_trusted_sources": True})
    assert settings.is_trusted("198.51.100.7")


def test_a_password_of_the_minimum_length_is_accepted(valid_data):
    password = "x" * MIN_RSYNC_PASSWORD_LENGTH
    settings = parse_settings(valid_data, {"rsync_password": password})
    assert settings.rsync_password.get_secret_value() == password


@pytest.mark.parametrize(
    "key_type, bits",
    [("ed25519", None), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521), ("rsa", 3072)],
)
def test_keys_made_by_ssh_keygen_are_accepted(valid_data, tmp_path, key_type, bits):
    path = tmp_path / "id"
    size = ["-b", str(bits)] if bits else []
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, *size, "-N", "", "-f", path], check=True)
    line = path.with_suffix(".pub").read_text().strip()
    assert parse_settings({**valid_data, **keys(line)}).root_ssh_keys == [line]


def test_whole_fido_keys_are_accepted(valid_data):
    fido = [
        key_line("sk-ssh-ed25519@openssh.com", ED25519_KEY, "ssh:"),
        key_line("sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", P256_POINT, "ssh:prep"),
    ]
    assert parse_settings({**valid_data, **keys(*fido)}).root_ssh_keys == fido


def test_every_broken_rule_is_reported_at_its_field(valid_data):
    data = {
        **valid_data,
        "tls_source": "selfsigned",
        "ntp_clock_control": False,
        "docker_public_ports": [8080],
        "docker_trusted_ports": [8080],
        "cdn_purge": "command",
    }
    with pytest.raises(SettingsError) as error:
        parse_settings(data)
    fields = sorted(problem.field for problem in error.value.details)
    assert fields == ["cdn_purge", "docker_public_ports", "ntp_clock_control", "tls_source"]
    both_ports = next(p for p in error.value.details if p.field == "docker_public_ports")
    assert both_ports.keys == ("docker_public_ports", "docker_trusted_ports")


def test_rules_of_sound_concerns_show_beside_a_bad_field(valid_data):
    """A bad time zone (time) does not hide a broken rule of the portal or of the access."""
    data = {
        **valid_data,
        "timezone": "Nowhere/City",
        "tls_source": "selfsigned",
        "trusted_sources": {"ople": ["0.0.0.0/0"]},
    }
    with pytest.raises(SettingsError) as error:
        parse_settings(data)
    assert [problem.field for problem in error.value.details] == [
        "timezone",
        "tls_source",
        "trusted_sources.ople[0]",
    ]


def test_a_secret_in_host_data_is_one_problem(valid_data):
    with pytest.raises(SettingsError) as error:
        parse_settings({**valid_data, "rsync_password": "in-git-is-not-secret"}, {})
    assert error.value.problems == [
        "rsync_password: secrets come from .env (DIFUSOR_RSYNC_PASSWORD), not host data"
    ]


def test_the_deploys_own_secrets_are_read_when_none_are_given(valid_data):
    assert parse_settings(valid_data).rsync_password.get_secret_value() == RSYNC_PASSWORD
