"""
The one settings model of difusor.

Everything a deploy needs comes from here: pyinfra host data (``group_data/`` plus the
inventory) and secrets from ``.env``, validated together before any operation runs. Every
default lives in this file, with its reason in the field description; ``docs/settings.md``
lists them for operators.

Example (``group_data/all.py``)::

    portal_domain = "prep2024.example.com.mx"
    admin_email = "sistemas@example.com.mx"
    trusted_sources = {"ople_tecnicos": ["203.0.113.0/28", "2001:db8:10::/48"]}
    operators = [{"name": "ana", "ssh_keys": ["ssh-ed25519 AAAA... ana@laptop"]}]
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import struct
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pyinfra.api.exceptions import DeployError

# Prefix of the environment variables (and .env keys) that carry secrets.
ENV_PREFIX = "DIFUSOR_"

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_UNIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
MIN_RSA_BITS = 3072
RESERVED_ACCOUNTS = {
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "nobody",
    "sshd",
    "www-data",
    "_chrony",
}


class SettingsError(DeployError):
    """Bad settings: one line per problem, each naming the field and the value."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


def is_hostname(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return len(value) <= 253 and len(labels) >= 2 and all(_HOST_LABEL.match(x) for x in labels)


def _hostname(value: str) -> str:
    value = value.strip().lower()
    if not is_hostname(value):
        raise ValueError(f"{value!r} is not a fully qualified host name")
    return value.rstrip(".")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    text = str(value).strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            network = ipaddress.ip_network(text, strict=False)
            raise ValueError(f"{text!r} has host bits set (did you mean {network}?)") from None
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 network in CIDR notation") from None


def _source_name(value: str) -> str:
    if not _SOURCE_NAME.match(value):
        raise ValueError(
            f"{value!r} must be lower case letters, digits, '-' or '_' (used in rule comments)"
        )
    return value


def _origin(value: str) -> str:
    match = re.match(r"^https?://([^/:]+)(:\d{1,5})?$", value)
    if not match or not (is_hostname(match.group(1).lower()) or _is_ip(match.group(1))):
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port], no path)")
    return value.lower()


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _local_file(value: str) -> str:
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"{value!r} does not exist on this machine")
    return str(path)


def _ntp_server(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not is_hostname(value.lower()):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")
    return value.lower()


def _read_ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    start = offset + 4
    if start + length > len(blob):
        raise ValueError("truncated")
    return blob[start : start + length], start + length


def _ssh_public_key(value: str) -> str:
    """Check an OpenSSH public key line: known type, base64 body that names the same type."""
    parts = value.strip().split()
    shown = value if len(value) <= 60 else value[:57] + "..."
    if len(parts) < 2:
        raise ValueError(f"{shown!r} is not an OpenSSH public key line ('TYPE BASE64 [comment]')")
    key_type, body = parts[0], parts[1]
    if key_type not in _KEY_TYPES:
        raise ValueError(f"{shown!r} has unsupported key type {key_type!r}")
    try:
        blob = base64.b64decode(body, validate=True)
        embedded, offset = _read_ssh_string(blob, 0)
        if embedded.decode() != key_type:
            raise ValueError("type mismatch")
        if key_type == "ssh-rsa":
            _exponent, offset = _read_ssh_string(blob, offset)
            modulus, _ = _read_ssh_string(blob, offset)
            bits = int.from_bytes(modulus, "big").bit_length()
            if bits < MIN_RSA_BITS:
                raise ValueError(
                    f"{shown!r} is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
                )
    except ValueError as error:
        if "RSA key" in str(error):
            raise
        raise ValueError(f"{shown!r} has a malformed key body") from None
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise ValueError(f"{shown!r} has a malformed key body") from None
    return " ".join(parts)


Hostname = Annotated[str, AfterValidator(_hostname)]
Email = Annotated[str, AfterValidator(_email)]
Network = Annotated[Any, AfterValidator(_network)]
SourceName = Annotated[str, AfterValidator(_source_name)]
PublicKey = Annotated[str, AfterValidator(_ssh_public_key)]
NtpServer = Annotated[str, AfterValidator(_ntp_server)]
Origin = Annotated[str, AfterValidator(_origin)]
LocalFile = Annotated[str, AfterValidator(_local_file)]


class Operator(BaseModel):
    """A person who administers the server: a Unix account with SSH keys and sudo."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unix account name.")
    ssh_keys: list[PublicKey] = Field(
        min_length=1, description="OpenSSH public keys; at least one."
    )
    sudo: bool = Field(default=True, description="Member of the passwordless sudo group.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _UNIX_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid account name (lower case, up to 32 chars)")
        if value in RESERVED_ACCOUNTS:
            raise ValueError(f"{value!r} is a system account; root keys go in root_ssh_keys")
        return value


class Settings(BaseModel):
    """All of difusor's settings for one host, with their defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Identity of the portal
    portal_domain: Hostname = Field(description="Public host name of the results portal.")
    admin_email: Email = Field(description="Contact for certificates and alerts.")

    # Who may reach SSH (22) and rsync (873): the institute's technicians and pushers,
    # and the sysadmins' own networks. Everything else only sees 80/443.
    trusted_sources: dict[SourceName, Annotated[list[Network], Field(min_length=1)]] = Field(
        min_length=1,
        description="Named lists of IPv4/IPv6 networks (CIDR) allowed to reach TCP 22 and 873.",
    )
    operators: list[Operator] = Field(
        min_length=1,
        description="Administrator accounts. One taken off this list keeps its account and files "
        "but loses its keys, its shell, sudo and docker.",
    )
    root_ssh_keys: list[PublicKey] = Field(
        default=[],
        description="Keys allowed to log in as root (the institute asks for root access). "
        "Written to /etc/ssh/authorized_keys.d/root, which holds exactly these keys: one taken off "
        "this list stops working. root's own ~/.ssh/authorized_keys is left as it is.",
    )
    ssh_password_authentication: bool = Field(
        default=False, description="Allow password logins over SSH (off: keys only)."
    )

    # Time
    timezone: str = Field(
        default="America/Mexico_City",
        description="Server time zone; the institute publishes in central Mexico time.",
    )
    ntp_servers: list[NtpServer] = Field(
        default=["0.mx.pool.ntp.org", "1.mx.pool.ntp.org", "2.mx.pool.ntp.org"],
        min_length=1,
        description="NTP servers or pools for chrony.",
    )
    ntp_clock_control: bool = Field(
        default=True,
        description="Let chrony set the clock. Only a rehearsal container turns this off "
        "(it shares the host's clock), so chrony runs with -x.",
    )

    # Packages and logs
    apt_proxy: str | None = Field(
        default=None, description="HTTP proxy for apt, e.g. http://proxy.example:3128."
    )
    log_retention_days: int = Field(
        default=120,
        ge=30,
        le=3650,
        description="Days of logs kept: long enough for the memoria técnica after election day.",
    )
    journal_max_use_mb: int = Field(
        default=2048, ge=64, le=65536, description="Cap on the persistent journal's disk use."
    )

    # The portal (nginx)
    portal_mode: Literal["static", "proxy"] = Field(
        default="static",
        description="static: nginx serves the published corte; proxy: nginx proxies to the "
        "institute's application on loopback, with micro-caching.",
    )
    proxy_upstream: str = Field(
        default="http://127.0.0.1:8080",
        description="Application behind the portal in proxy mode; loopback only.",
    )
    tls_source: Literal["acme", "provided", "selfsigned"] = Field(
        default="acme",
        description="acme: certbot (HTTP-01, webroot, automatic renewal); provided: your files; "
        "selfsigned: rehearsals only.",
    )
    acme_server: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory", description="ACME directory URL."
    )
    acme_ca_bundle: LocalFile | None = Field(
        default=None,
        description="CA file (on this machine) to trust for a private or test ACME server.",
    )
    tls_certificate_file: LocalFile | None = Field(
        default=None, description="provided: certificate chain (PEM) on this machine."
    )
    tls_key_file: LocalFile | None = Field(
        default=None, description="provided: private key (PEM) on this machine; never in git."
    )
    embed_origins: list[Origin] = Field(
        default=[],
        description="Origins allowed to embed the results in a frame (CSP frame-ancestors), "
        "e.g. https://www.example.com.mx.",
    )
    cdn: Literal["none", "cloudflare"] = Field(
        default="none",
        description="CDN in front of the portal: cloudflare trusts Cloudflare's published "
        "ranges for the real client address (CF-Connecting-IP).",
    )
    cdn_networks: list[Network] = Field(
        default=[],
        description="Other proxies/CDN networks whose X-Forwarded-For is trusted.",
    )
    rate_limit_per_second: int = Field(
        default=30,
        ge=1,
        description="Requests per second per client address (burst of 10 s worth). Generous: "
        "universities and mobile carriers put many readers behind one address.",
    )
    connection_limit: int = Field(
        default=100, ge=1, le=65535, description="Open connections per client address."
    )

    # Receiving packages (rsync daemon, TCP 873) and publishing them
    rsync_user: str = Field(default="prep", description="rsync user the institute pushes as.")
    rsync_max_connections: int = Field(
        default=4, ge=1, le=64, description="Concurrent rsync uploads."
    )
    sidecar_policy: Literal["require", "if-present", "off"] = Field(
        default="if-present",
        description="NAME.zip.sha256 next to each package: require it, verify it when present, or ignore it.",
    )
    keep_releases: int = Field(
        default=10,
        ge=2,
        le=1000,
        description="Unpacked releases kept (every package stays archived).",
    )
    corte_period_minutes: int = Field(
        default=15,
        ge=1,
        le=120,
        description="Expected time between cortes, for the freshness monitor.",
    )
    publication_start: datetime | None = Field(
        default=None,
        description="Local start of publication, e.g. 2024-06-02T20:00. The monitor alerts only "
        "from then until 23:59 of the seventh day after; None: always.",
    )
    cdn_purge: Literal["none", "cloudflare", "command"] = Field(
        default="none", description="Purge the CDN after each corte: Cloudflare API or a command."
    )
    cloudflare_zone_id: str | None = Field(default=None, description="Cloudflare zone to purge.")
    cdn_purge_command: list[str] = Field(
        default=[], description="Command (argv) that purges the CDN, for cdn_purge = command."
    )
    alert_webhook: str | None = Field(
        default=None, description="URL that receives a JSON POST when freshness changes level."
    )

    # Docker, for the institute's applications
    docker_source: Literal["distro", "docker-ce"] = Field(
        default="distro",
        description="distro: the distribution's docker.io (and compose where packaged); docker-ce: "
        "Docker's own apt repository (signed-by keyring), the usual choice on Ubuntu.",
    )
    docker_ce_channel: Literal["stable", "test"] = Field(
        default="stable", description="docker-ce channel."
    )
    docker_operators: bool = Field(
        default=False, description="Put the operators in the docker group (root-equivalent)."
    )
    docker_log_max_size: str = Field(
        default="10m", description="Container log file size before rotation."
    )
    docker_log_max_files: int = Field(
        default=5, ge=1, le=100, description="Rotated container log files kept."
    )
    docker_address_pool: Network = Field(
        default=ipaddress.IPv4Network("172.30.0.0/16"),
        description="Where Docker takes its networks (split into /24s): clear of the lab, of "
        "Docker's 172.17-31 defaults and of common 192.168 LANs.",
    )
    docker_bridge_ip: str = Field(
        default="172.29.0.1/24",
        description="Address and prefix of Docker's default bridge (docker0).",
    )
    docker_public_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default=[],
        description="Container TCP ports reachable from anywhere when published on all interfaces "
        "(the port inside the container). Prefer publishing on 127.0.0.1 behind the portal's proxy mode.",
    )
    docker_trusted_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default=[], description="Container TCP ports reachable only from trusted_sources."
    )

    # Safety switches
    allow_lockout: bool = Field(
        default=False,
        description="Apply firewall/SSH changes even when they would cut off the SSH client "
        "running the deploy. Only for consoles with out-of-band access.",
    )
    rehearsal: bool = Field(
        default=False, description="Marks a rehearsal inventory (lab or Vagrant), never production."
    )

    # Secrets: only from .env or the environment (DIFUSOR_RSYNC_PASSWORD), never from git.
    rsync_password: SecretStr | None = Field(
        default=None,
        description="Password of the institute's rsync upload account (required to deploy).",
    )
    cdn_token: SecretStr | None = Field(
        default=None, description="Cloudflare API token with Cache Purge permission."
    )

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Mexico_City)")
        return value

    @field_validator("apt_proxy")
    @classmethod
    def _valid_proxy(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = re.match(r"^https?://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?/?$", value)
        if not match:
            raise ValueError(f"{value!r} is not an http(s)://host[:port] proxy URL")
        return value.rstrip("/")

    @field_validator("operators")
    @classmethod
    def _unique_operators(cls, value: list[Operator]) -> list[Operator]:
        names = [operator.name for operator in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"operator names must be unique, repeated: {duplicates}")
        return value

    @field_validator("rsync_user")
    @classmethod
    def _valid_rsync_user(cls, value: str) -> str:
        if not _UNIX_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid user name (lower case letters, digits, '-', '_')"
            )
        return value

    @field_validator("publication_start")
    @classmethod
    def _naive_local_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError(
                f"'{value.isoformat()}' must be a local time without offset (it is read in timezone)"
            )
        return value

    @field_validator("cloudflare_zone_id")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[0-9a-f]{32}$", value):
            raise ValueError(f"{value!r} is not a Cloudflare zone id (32 hexadecimal digits)")
        return value

    @field_validator("alert_webhook")
    @classmethod
    def _valid_webhook(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("docker_bridge_ip")
    @classmethod
    def _valid_bridge_ip(cls, value: str) -> str:
        try:
            interface = ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an address with prefix, e.g. 172.29.0.1/24"
            ) from None
        if interface.version != 4 or interface.ip == interface.network.network_address:
            raise ValueError(
                f"{value!r} must be an IPv4 host address with its prefix, e.g. 172.29.0.1/24"
            )
        return value

    @field_validator("proxy_upstream")
    @classmethod
    def _loopback_upstream(cls, value: str) -> str:
        match = re.match(r"^http://(127\.\d+\.\d+\.\d+|\[::1\]|localhost):(\d{1,5})$", value)
        if not match:
            raise ValueError(
                f"{value!r} must be http://127.0.0.1:PORT (or [::1]): the application stays on loopback"
            )
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _key_not_in_git(cls, value: str | None) -> str | None:
        if value and _tracked_by_git(value):
            raise ValueError(f"{value!r} is tracked by git: a private key must never be committed")
        return value

    @model_validator(mode="after")
    def _rehearsal_only(self) -> Settings:
        if not self.ntp_clock_control and not self.rehearsal:
            raise ValueError(
                "ntp_clock_control=False is only for rehearsal inventories (set rehearsal=True)"
            )
        if self.tls_source == "selfsigned" and not self.rehearsal:
            raise ValueError(
                "tls_source='selfsigned' is only for rehearsal inventories (set rehearsal=True)"
            )
        if self.tls_source == "provided" and not (self.tls_certificate_file and self.tls_key_file):
            raise ValueError("tls_source='provided' needs tls_certificate_file and tls_key_file")
        if self.cdn_purge == "cloudflare" and not (self.cloudflare_zone_id and self.cdn_token):
            raise ValueError(
                f"cdn_purge='cloudflare' needs cloudflare_zone_id and the token in .env ({ENV_PREFIX}CDN_TOKEN)"
            )
        if self.docker_address_pool.version != 4 or self.docker_address_pool.prefixlen > 24:
            raise ValueError(
                f"docker_address_pool: {self.docker_address_pool} must be IPv4 and /24 or larger"
            )
        if ipaddress.ip_interface(self.docker_bridge_ip).network.overlaps(self.docker_address_pool):
            raise ValueError(
                f"docker_bridge_ip {self.docker_bridge_ip} overlaps docker_address_pool"
            )
        both = sorted(set(self.docker_public_ports) & set(self.docker_trusted_ports))
        if both:
            raise ValueError(
                f"docker ports {both} are in both docker_public_ports and docker_trusted_ports"
            )
        if self.cdn_purge == "command" and not self.cdn_purge_command:
            raise ValueError("cdn_purge='command' needs cdn_purge_command (an argv list)")
        return self

    def networks(self, family: int | None = None):
        """All trusted networks as (source name, network), optionally of one IP version."""
        return [
            (name, network)
            for name, networks in self.trusted_sources.items()
            for network in networks
            if family is None or network.version == family
        ]

    def is_trusted(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in network for _, network in self.networks(ip.version))


def _tracked_by_git(path: str) -> bool:
    """True when the file is committed (or staged) in the git repository it sits in."""
    import subprocess

    file = Path(path).resolve()
    try:
        result = subprocess.run(
            ["git", "-C", str(file.parent), "ls-files", "--error-unmatch", file.name],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def pyinfra_reserved_keys() -> set[str]:
    """Host data keys that belong to pyinfra itself (connectors, global arguments)."""
    from pyinfra.api.arguments import all_global_arguments
    from pyinfra.api.connectors import get_all_connectors

    keys = {name for name, _ in all_global_arguments()}
    for connector in get_all_connectors().values():
        keys.update(getattr(connector, "data_meta", {}))
    return keys


def read_secrets(env_file: str | os.PathLike | None = None) -> dict[str, str]:
    """Secret fields from ``.env`` (or ``$DIFUSOR_ENV_FILE``), overridden by the environment."""
    path = Path(env_file or os.environ.get(f"{ENV_PREFIX}ENV_FILE", ".env"))
    values = dict(dotenv_values(path)) if path.is_file() else {}
    values.update(os.environ)
    secrets = {}
    for name, field in Settings.model_fields.items():
        if field.annotation == SecretStr | None:
            value = values.get(ENV_PREFIX + name.upper())
            if value:
                secrets[name] = value
    return secrets


def format_errors(error: ValidationError) -> list[str]:
    """One readable line per pydantic error: the field path, what is wrong, the value."""
    lines = []
    for item in error.errors():
        location = ""
        for part in item["loc"]:
            if part == "[key]":
                continue
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else part)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown setting (value {item['input']!r})"
        elif item["type"] == "missing":
            message = "is required"
        elif (
            "input" in item and repr(item["input"]) not in message and item["type"] != "value_error"
        ):
            message = f"{message} (got {item['input']!r})"
        lines.append(f"{location or 'settings'}: {message}")
    return lines


def parse_settings(data: dict[str, Any], secrets: dict[str, str] | None = None) -> Settings:
    """Validate host data plus secrets; raise SettingsError naming every bad field."""
    reserved = pyinfra_reserved_keys()
    ours = {
        key: value
        for key, value in data.items()
        if key not in reserved and not key.startswith("_") and not callable(value)
    }
    secret_fields = {
        name
        for name, field in Settings.model_fields.items()
        if field.annotation == SecretStr | None
    }
    leaked = [key for key in ours if key in secret_fields]
    if leaked:
        raise SettingsError(
            [
                f"{key}: secrets come from .env ({ENV_PREFIX}{key.upper()}), not host data"
                for key in leaked
            ]
        )
    try:
        return Settings(**ours, **(secrets or {}))
    except ValidationError as error:
        raise SettingsError(format_errors(error)) from None


def inventory_settings(inventory: str, host_name: str | None = None) -> tuple[str, Settings]:
    """Settings of one host of a pyinfra inventory file (the first host when none is named),
    with the same group_data lookup as the pyinfra command line."""
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    # pyinfra reads inventory files inside a state context, as its command line does.
    with ctx_state.use(State(config=Config())):
        hosts = {host.name: host for host in make_inventory(inventory, cwd=os.getcwd())}
    if host_name is None:
        host_name = next(iter(hosts))
    if host_name not in hosts:
        raise SettingsError([f"host {host_name!r} is not in {inventory} (has: {', '.join(hosts)})"])
    return host_name, parse_settings(hosts[host_name].data.dict(), read_secrets())
