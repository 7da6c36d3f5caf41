"""
Field types shared by the settings models: each one validates, normalizes, and on a bad
value raises a message that quotes it.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from .ssh_keys import ssh_public_key

# Unix account and user names (operators, the rsync user).
UNIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_hostname(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return len(value) <= 253 and len(labels) >= 2 and all(_HOST_LABEL.match(x) for x in labels)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


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


def _ntp_server(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not is_hostname(value.lower()):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")
    return value.lower()


def _local_file(value: str) -> str:
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"{value!r} does not exist on this machine")
    return str(path)


def tracked_by_git(path: str) -> bool:
    """True when the file is committed (or staged) in the git repository it sits in."""
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


def _not_in_git(value: str) -> str:
    if tracked_by_git(value):
        raise ValueError(f"{value!r} is tracked by git: a private key must never be committed")
    return value


def matching(pattern: str, problem: str) -> AfterValidator:
    """A check that the value matches ``pattern``; if not, the error quotes it with ``problem``."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value!r} {problem}")
        return value

    return AfterValidator(check)


Hostname = Annotated[str, AfterValidator(_hostname)]
Email = Annotated[str, AfterValidator(_email)]
Network = Annotated[Any, AfterValidator(_network)]
SourceName = Annotated[str, AfterValidator(_source_name)]
PublicKey = Annotated[str, AfterValidator(ssh_public_key)]
NtpServer = Annotated[str, AfterValidator(_ntp_server)]
Origin = Annotated[str, AfterValidator(_origin)]
# A file on the machine that runs the deploy, uploaded from there.
LocalFile = Annotated[str, AfterValidator(_local_file)]
# A local file holding a secret: never one that git tracks.
PrivateFile = Annotated[LocalFile, AfterValidator(_not_in_git)]


def address_count(network: IPNetwork) -> str:
    """How much of the internet a network covers, for messages."""
    if network.prefixlen == 0:
        return "the whole internet"
    if network.version == 4:
        return f"{network.num_addresses:,} addresses"
    return f"2^{network.max_prefixlen - network.prefixlen} addresses"
