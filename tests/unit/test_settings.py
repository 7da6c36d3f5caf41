import subprocess

import pytest

from difusor.inventory import inventory_settings
from difusor.settings import SettingsError, parse_settings, read_secrets

from .conftest import RSYNC_PASSWORD


def rsa_key(tmp_path, bits: int) -> str:
    path = tmp_path / f"rsa{bits}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", str(bits), "-N", "", "-f", str(path)], check=True
    )
    return path.with_suffix(".pub").read_text().strip()


def test_valid_settings_and_defaults(valid_data):
    settings = parse_settings(valid_data)
    assert settings.timezone == "America/Mexico_City"
    assert settings.ssh_password_authentication is False
    assert settings.log_retention_days >= 30
    assert [str(n) for _, n in settings.networks(6)] == ["2001:db8:10::/48"]


def test_pyinfra_connector_keys_are_not_settings(valid_data):
    data = dict(valid_data, ssh_key="~/.ssh/id", ssh_port=2222, _sudo_password="x")
    assert parse_settings(data).portal_domain == "prep.example.com.mx"


def test_trust_checks_follow_the_networks(valid_data):
    settings = parse_settings(valid_data)
    assert settings.is_trusted("203.0.113.14")
    assert settings.is_trusted("::ffff:203.0.113.1")
    assert settings.is_trusted("2001:db8:10:ffff::1")
    assert not settings.is_trusted("203.0.113.16")
    assert not settings.is_trusted("2001:db8:11::1")


MALFORMED = [
    (
        "cidr_host_bits",
        {"trusted_sources": {"ople": ["203.0.113.5/24"]}},
        "trusted_sources.ople[0]: '203.0.113.5/24' has host bits set "
        "(did you mean 203.0.113.0/24?)",
    ),
    (
        "cidr_garbage",
        {"trusted_sources": {"ople": ["203.0.113.0/33"]}},
        "trusted_sources.ople[0]: '203.0.113.0/33' is not an IPv4 or IPv6 network",
    ),
    (
        "ipv6_host_bits",
        {"trusted_sources": {"ople": ["2001:db8::1/32"]}},
        "trusted_sources.ople[0]: '2001:db8::1/32' has host bits set",
    ),
    (
        "source_without_networks",
        {"trusted_sources": {"ople": []}},
        "trusted_sources.ople: List should have at least 1 item",
    ),
    (
        "no_trusted_sources",
        {"trusted_sources": {}},
        "trusted_sources: Dictionary should have at least 1 item",
    ),
    (
        "bad_source_name",
        {"trusted_sources": {"OPLE Veracruz": ["203.0.113.0/28"]}},
        "trusted_sources.OPLE Veracruz: 'OPLE Veracruz' must be lower case letters",
    ),
    (
        "unknown_key",
        {"trusted_source": {"ople": ["203.0.113.0/28"]}},
        "trusted_source: unknown setting",
    ),
    ("no_operators", {"operators": []}, "operators: List should have at least 1 item"),
    (
        "empty_key_list",
        {"operators": [{"name": "ana", "ssh_keys": []}]},
        "operators[0].ssh_keys: List should have at least 1 item",
    ),
    (
        "malformed_key",
        {"operators": [{"name": "ana", "ssh_keys": ["ssh-ed25519 AAAAnot-base64!"]}]},
        "operators[0].ssh_keys[0]: 'ssh-ed25519 AAAAnot-base64!' has a body that is not base64",
    ),
    (
        "key_type_mismatch",
        {
            "operators": [
                {
                    "name": "ana",
                    "ssh_keys": [
                        "ssh-rsa "
                        "AAAAC3NzaC1lZDI1NTE5AAAAINssMoocNROg4N5ybtQgRvzRZiEUQDuiJzrRD/xVyp53"
                    ],
                }
            ]
        },
        "says ssh-rsa but its body holds a 'ssh-ed25519' key",
    ),
    (
        "dsa_key",
        {"operators": [{"name": "ana", "ssh_keys": ["ssh-dss AAAAB3NzaC1kc3MAAACBAP"]}]},
        "has unsupported key type 'ssh-dss'",
    ),
    (
        "key_without_body",
        {"root_ssh_keys": ["ssh-ed25519"]},
        "root_ssh_keys[0]: 'ssh-ed25519' is not an OpenSSH public key line",
    ),
    (
        "operator_is_root",
        {"operators": [{"name": "root", "ssh_keys": ["KEY"]}]},
        "operators[0].name: 'root' is a system account",
    ),
    (
        "operator_bad_name",
        {"operators": [{"name": "Ana Lopez", "ssh_keys": ["KEY"]}]},
        "operators[0].name: 'Ana Lopez' is not a valid account name",
    ),
    (
        "operator_unknown_field",
        {"operators": [{"name": "ana", "ssh_keys": ["KEY"], "shell": "/bin/zsh"}]},
        "operators[0].shell: unknown setting",
    ),
    (
        "duplicate_operator",
        {"operators": [{"name": "ana", "ssh_keys": ["KEY"]}, {"name": "ana", "ssh_keys": ["KEY"]}]},
        "operators: operator names must be unique, repeated: ['ana']",
    ),
    (
        "bad_domain",
        {"portal_domain": "prep_2024.example"},
        "portal_domain: 'prep_2024.example' is not a fully qualified host name",
    ),
    (
        "bare_domain",
        {"portal_domain": "localhost"},
        "portal_domain: 'localhost' is not a fully qualified host name",
    ),
    ("missing_domain", {"portal_domain": None}, "portal_domain: Input should be a valid string"),
    (
        "bad_email",
        {"admin_email": "sistemas.example.com"},
        "admin_email: 'sistemas.example.com' is not an e-mail address",
    ),
    (
        "bad_timezone",
        {"timezone": "Mexico/Veracruz"},
        "timezone: 'Mexico/Veracruz' is not an IANA time zone",
    ),
    (
        "bad_ntp_server",
        {"ntp_servers": ["ntp server.mx"]},
        "ntp_servers[0]: 'ntp server.mx' is neither an IP address nor a host name",
    ),
    ("no_ntp_server", {"ntp_servers": []}, "ntp_servers: List should have at least 1 item"),
    (
        "bad_proxy",
        {"apt_proxy": "proxy.example:3128"},
        "apt_proxy: 'proxy.example:3128' is not an http(s)://host[:port] proxy URL",
    ),
    (
        "short_retention",
        {"log_retention_days": 7},
        "log_retention_days: Input should be greater than or equal to 30",
    ),
    (
        "retention_not_a_number",
        {"log_retention_days": "a month"},
        "log_retention_days: Input should be a valid integer",
    ),
    (
        "clock_control_off_in_production",
        {"ntp_clock_control": False},
        "ntp_clock_control: False is only for rehearsal inventories (set rehearsal=True)",
    ),
    (
        "secret_in_host_data",
        {"rsync_password": "hunter2"},
        "rsync_password: secrets come from .env (DIFUSOR_RSYNC_PASSWORD), not host data",
    ),
]


@pytest.mark.parametrize(
    "change, expected", [case[1:] for case in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_settings_name_field_and_value(valid_data, public_key, change, expected):
    data = dict(valid_data)
    for key, value in change.items():
        if key == "operators":
            value = [
                {
                    k: ([public_key] * len(v) if k == "ssh_keys" and v == ["KEY"] else v)
                    for k, v in op.items()
                }
                for op in value
            ]
        data[key] = value
    with pytest.raises(SettingsError) as error:
        parse_settings(data)
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once(valid_data):
    data = dict(valid_data, portal_domain="bad domain", timezone="Nowhere/City")
    with pytest.raises(SettingsError) as error:
        parse_settings(data)
    assert len(error.value.problems) == 2


def test_short_rsa_keys_are_refused_long_ones_accepted(valid_data, tmp_path):
    with pytest.raises(SettingsError, match="is a 2048-bit RSA key; at least 3072 bits"):
        parse_settings(dict(valid_data, root_ssh_keys=[rsa_key(tmp_path, 2048)]))
    assert parse_settings(dict(valid_data, root_ssh_keys=[rsa_key(tmp_path, 3072)])).root_ssh_keys


def test_secrets_come_from_env_file_and_never_show(valid_data, tmp_path, monkeypatch):
    monkeypatch.delenv("DIFUSOR_RSYNC_PASSWORD", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("DIFUSOR_RSYNC_PASSWORD=s3cr3t-value-of-20ch\n")
    settings = parse_settings(valid_data, read_secrets(env_file))
    assert settings.rsync_password.get_secret_value() == "s3cr3t-value-of-20ch"
    assert "s3cr3t-value" not in repr(settings)


def test_environment_overrides_env_file(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("DIFUSOR_RSYNC_PASSWORD=from-file\n")
    monkeypatch.setenv("DIFUSOR_RSYNC_PASSWORD", "from-environment")
    assert read_secrets(env_file) == {"rsync_password": "from-environment"}


def test_shipped_example_settings_validate(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFUSOR_ENV_FILE", str(tmp_path / "absent.env"))
    name, settings = inventory_settings("inventory/production.py")
    assert name == "prep.example.com.mx"
    assert settings.rehearsal is False
    assert settings.trusted_sources


PORTAL_MALFORMED = [
    (
        "domain_with_space",
        {"portal_domain": "prep 2024.example.mx"},
        "portal_domain: 'prep 2024.example.mx' is not a fully qualified host name",
    ),
    (
        "embed_origin_with_path",
        {"embed_origins": ["https://www.example.mx/resultados"]},
        "embed_origins[0]: 'https://www.example.mx/resultados' is not an origin "
        "(scheme://host[:port], no path)",
    ),
    (
        "embed_origin_without_scheme",
        {"embed_origins": ["www.example.mx"]},
        "embed_origins[0]: 'www.example.mx' is not an origin",
    ),
    (
        "provided_without_files",
        {"tls_source": "provided"},
        "tls_source: 'provided' needs tls_certificate_file and tls_key_file",
    ),
    (
        "provided_key_missing",
        {"tls_source": "provided", "tls_key_file": "/nonexistent/prep.key"},
        "tls_key_file: '/nonexistent/prep.key' does not exist on this machine",
    ),
    (
        "selfsigned_in_production",
        {"tls_source": "selfsigned"},
        "tls_source: 'selfsigned' is only for rehearsal inventories",
    ),
    (
        "unknown_tls_source",
        {"tls_source": "letsencrypt"},
        "tls_source: Input should be 'acme', 'provided' or 'selfsigned'",
    ),
    (
        "public_upstream",
        {"portal_mode": "proxy", "proxy_upstream": "http://203.0.113.7:8080"},
        "proxy_upstream: 'http://203.0.113.7:8080' must be http://127.0.0.1:PORT",
    ),
    (
        "bad_cdn_network",
        {"cdn_networks": ["10.0.0.1/8"]},
        "cdn_networks[0]: '10.0.0.1/8' has host bits set",
    ),
    (
        "cdn_network_whole_internet",
        {"cdn_networks": ["0.0.0.0/0"]},
        "cdn_networks: '0.0.0.0/0' would let the whole internet forge the reader's address",
    ),
    (
        "cdn_network_wide_ipv6",
        {"cdn_networks": ["2001:db8::/48", "2000::/16"]},
        "cdn_networks: '2000::/16' would let 2^112 addresses forge the reader's address: CDN "
        "networks are at most /24",
    ),
]


@pytest.mark.parametrize(
    "change, expected", [c[1:] for c in PORTAL_MALFORMED], ids=[c[0] for c in PORTAL_MALFORMED]
)
def test_malformed_portal_settings(valid_data, change, expected):
    with pytest.raises(SettingsError) as error:
        parse_settings({**valid_data, **change})
    assert expected in str(error.value)


def test_selfsigned_allowed_for_rehearsal(valid_data):
    assert (
        parse_settings({**valid_data, "tls_source": "selfsigned", "rehearsal": True}).tls_source
        == "selfsigned"
    )


def test_provided_key_tracked_by_git_is_refused(valid_data, tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "prep.key").write_text("key")
    (tmp_path / "prep.crt").write_text("crt")
    subprocess.run(["git", "-C", str(tmp_path), "add", "prep.key"], check=True)
    with pytest.raises(SettingsError, match=r"prep\.key' is tracked by git"):
        parse_settings(
            {
                **valid_data,
                "tls_source": "provided",
                "tls_certificate_file": str(tmp_path / "prep.crt"),
                "tls_key_file": str(tmp_path / "prep.key"),
            }
        )


DOCKER_MALFORMED = [
    (
        "pool_too_small",
        {"docker_address_pool": "172.30.0.0/25"},
        "docker_address_pool: '172.30.0.0/25' must be IPv4 and /24 or larger",
    ),
    (
        "pool_host_bits",
        {"docker_address_pool": "172.30.0.1/16"},
        "docker_address_pool: '172.30.0.1/16' has host bits set",
    ),
    (
        "bridge_is_network",
        {"docker_bridge_ip": "172.29.0.0/24"},
        "must be an IPv4 host address with its prefix",
    ),
    (
        "bridge_in_pool",
        {"docker_bridge_ip": "172.30.5.1/24"},
        "docker_bridge_ip: '172.30.5.1/24' overlaps docker_address_pool 172.30.0.0/16",
    ),
    (
        "port_in_both_lists",
        {"docker_public_ports": [8080], "docker_trusted_ports": [8080]},
        "docker_public_ports: ports [8080] are in docker_trusted_ports too",
    ),
    (
        "port_out_of_range",
        {"docker_public_ports": [70000]},
        "docker_public_ports[0]: Input should be less than or equal to 65535",
    ),
    (
        "unknown_source",
        {"docker_source": "snap"},
        "docker_source: Input should be 'distro' or 'docker-ce'",
    ),
]


@pytest.mark.parametrize(
    "change, expected", [c[1:] for c in DOCKER_MALFORMED], ids=[c[0] for c in DOCKER_MALFORMED]
)
def test_malformed_docker_settings(valid_data, change, expected):
    with pytest.raises(SettingsError) as error:
        parse_settings({**valid_data, **change})
    assert expected in str(error.value)


PUBLISHER_MALFORMED = [
    (
        "cloudflare_purge_without_zone",
        {"cdn_purge": "cloudflare"},
        "cdn_purge: 'cloudflare' needs cloudflare_zone_id and the token in .env "
        "(DIFUSOR_CDN_TOKEN)",
    ),
    (
        "cloudflare_purge_without_token",
        {"cdn_purge": "cloudflare", "cloudflare_zone_id": "0123456789abcdef0123456789abcdef"},
        "cdn_purge: 'cloudflare' needs cloudflare_zone_id and the token in .env",
    ),
    (
        "command_purge_without_command",
        {"cdn_purge": "command"},
        "cdn_purge: 'command' needs cdn_purge_command (an argv list)",
    ),
    (
        "bad_zone_id",
        {"cloudflare_zone_id": "my-zone"},
        "cloudflare_zone_id: 'my-zone' is not a Cloudflare zone id (32 hexadecimal digits)",
    ),
    (
        "publication_start_with_offset",
        {"publication_start": "2024-06-02T20:00-06:00"},
        "publication_start: '2024-06-02T20:00:00-06:00' must be a local time without offset",
    ),
    (
        "webhook_not_http",
        {"alert_webhook": "ftp://alertas.example.mx/"},
        "alert_webhook: 'ftp://alertas.example.mx/' is not an http(s) URL",
    ),
    (
        "bad_rsync_user",
        {"rsync_user": "Prep"},
        "rsync_user: 'Prep' is not a valid user name (lower case letters, digits, '-', '_')",
    ),
    (
        "ipv6_docker_pool",
        {"docker_address_pool": "fd00::/48"},
        "docker_address_pool: 'fd00::/48' must be IPv4 and /24 or larger",
    ),
]


@pytest.mark.parametrize(
    "change, expected",
    [c[1:] for c in PUBLISHER_MALFORMED],
    ids=[c[0] for c in PUBLISHER_MALFORMED],
)
def test_malformed_publisher_receiver_and_docker_settings(valid_data, change, expected):
    with pytest.raises(SettingsError) as error:
        parse_settings({**valid_data, **change})
    assert expected in str(error.value)


def test_cdn_purges_with_what_they_need_are_accepted(valid_data):
    zone = "0123456789abcdef0123456789abcdef"
    cloudflare = {**valid_data, "cdn_purge": "cloudflare", "cloudflare_zone_id": zone}
    secrets = {"rsync_password": RSYNC_PASSWORD, "cdn_token": "t0ken"}
    assert parse_settings(cloudflare, secrets).cdn_token is not None
    command = {**valid_data, "cdn_purge": "command", "cdn_purge_command": ["/usr/bin/true"]}
    assert parse_settings(command).cdn_purge_command == ["/usr/bin/true"]


def test_a_concern_model_checks_its_own_rules():
    from pydantic import ValidationError

    from difusor.settings.portal import PortalSettings

    portal = {"portal_domain": "prep.example.com.mx", "admin_email": "sistemas@example.com.mx"}
    assert PortalSettings.model_validate(
        {**portal, "tls_source": "selfsigned", "rehearsal": True}
    ).rehearsal
    with pytest.raises(ValidationError, match="'selfsigned' is only for rehearsal inventories"):
        PortalSettings.model_validate({**portal, "tls_source": "selfsigned"})


def test_settings_read_flat_keys_into_flat_attributes(valid_data):
    settings = parse_settings({**valid_data, "docker_bridge_ip": "172.28.0.1/24"})
    assert settings.docker_bridge_ip == "172.28.0.1/24"
    assert settings.portal_domain == "prep.example.com.mx"
    assert "docker_bridge_ip" in settings.model_dump()
