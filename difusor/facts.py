"""
Facts difusor reads from the server. Each ``process`` is pure and unit-tested.

Example::

    from difusor.facts import UfwState
    state = host.get_fact(UfwState)
    state["rules"]   # ["allow 80/tcp", "allow from 203.0.113.0/28 to any port 22 proto tcp ..."]
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from typing import ClassVar

from pyinfra.api import FactBase


def _words(values: tuple[str, ...]) -> str:
    """Paths or names as the words of a shell command."""
    return " ".join(shlex.quote(value) for value in values)


def _sections(output: list[str]) -> dict[str, list[str]]:
    """The output of a loop that prints ``== NAME`` before each item's lines: name -> lines."""
    sections: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in output:
        if line.startswith("== "):
            lines = sections[line[3:]] = []
        else:
            lines.append(line)
    return sections


class SshClientAddress(FactBase):
    """
    The address the current SSH session arrives from, as the server sees it
    (``None`` for a local connection). Read without sudo: sudo drops ``SSH_CONNECTION``.
    """

    def command(self) -> str:
        return 'echo "client=${SSH_CONNECTION%% *}"'

    def process(self, output: list[str]) -> str | None:
        value = output[0].removeprefix("client=").strip() if output else ""
        return value or None


class ContainerType(FactBase):
    """
    ``systemd-detect-virt --container``: ``none`` on a VM or bare metal, else the container
    type, e.g. ``systemd-nspawn``.
    """

    def command(self) -> str:
        return "systemd-detect-virt --container 2>/dev/null || true"

    def process(self, output: list[str]) -> str:
        return (output[0].strip() if output else "") or "none"


class HostResources(FactBase):
    """
    CPU cores and clock, memory, size of the root file system and whether it sits on
    a rotational disk: the figures the institute's minimum server is described in.
    """

    def command(self) -> str:
        return (
            "echo cores=$(nproc); "
            "echo mhz=$(awk -F: '/^cpu MHz/ {print int($2); exit}' /proc/cpuinfo); "
            "echo max_khz=$(cat /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq "
            "2>/dev/null); "
            "echo mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo); "
            "echo root_kb=$(df -Pk / | awk 'NR==2 {print $2}'); "
            'echo rotational=$(lsblk -ndo ROTA "$(findmnt -nvo SOURCE /)" 2>/dev/null | head -n1)'
        )

    def process(self, output: list[str]) -> dict:
        raw = dict(line.split("=", 1) for line in output if "=" in line)

        def number(key: str) -> int | None:
            value = raw.get(key, "").strip()
            return int(value) if value.isdigit() else None

        max_khz = number("max_khz")
        rotational = raw.get("rotational", "").strip()
        return {
            "cores": number("cores"),
            "mhz": max_khz // 1000 if max_khz else number("mhz"),
            "memory_mb": (number("mem_kb") or 0) // 1024,
            "root_gb": round((number("root_kb") or 0) / 1024 / 1024),
            "rotational": None if rotational not in ("0", "1") else rotational == "1",
        }


class UfwState(FactBase):
    """
    ufw's configuration as ufw itself stores it, readable whether or not it is active:
    ``enabled``, ``ipv6``, ``logging``, the ``defaults`` (incoming/outgoing/routed as
    allow/deny/reject) and ``rules``, the user rules in the command syntax ufw prints
    with ``ufw show added`` (without the leading ``ufw``).
    """

    _POLICIES: ClassVar[dict[str, str]] = {"ACCEPT": "allow", "DROP": "deny", "REJECT": "reject"}
    _DEFAULT_KEYS: ClassVar[dict[str, str]] = {
        "DEFAULT_INPUT_POLICY": "incoming",
        "DEFAULT_OUTPUT_POLICY": "outgoing",
        "DEFAULT_FORWARD_POLICY": "routed",
    }

    @staticmethod
    def default() -> dict:
        # ufw not installed yet: nothing is configured.
        return {"enabled": False, "ipv6": False, "logging": "off", "defaults": {}, "rules": []}

    def requires_command(self) -> str:
        return "ufw"

    def command(self) -> str:
        return (
            "grep -hE '^(DEFAULT_[A-Z]+_POLICY|IPV6|ENABLED|LOGLEVEL)=' "
            "/etc/default/ufw /etc/ufw/ufw.conf; echo '--rules--'; LANG=C ufw show added"
        )

    def process(self, output: list[str]) -> dict:
        state = self.default()
        in_rules = False
        for line in output:
            line = line.strip()
            if line == "--rules--":
                in_rules = True
            elif in_rules:
                if line.startswith("ufw "):
                    state["rules"].append(line[len("ufw ") :])
            elif "=" in line:
                key, value = line.split("=", 1)
                value = value.strip().strip('"')
                if key in self._DEFAULT_KEYS:
                    state["defaults"][self._DEFAULT_KEYS[key]] = self._POLICIES.get(value, value)
                elif key == "ENABLED":
                    state["enabled"] = value == "yes"
                elif key == "IPV6":
                    state["ipv6"] = value == "yes"
                elif key == "LOGLEVEL":
                    state["logging"] = value
        return state


class WeakModuli(FactBase):
    """Number of Diffie-Hellman groups in ``/etc/ssh/moduli`` smaller than ``min_bits``."""

    def command(self, min_bits: int) -> str:
        # Column 5 is the size minus one (e.g. 3071 for a 3072-bit group).
        return (
            f"awk '!/^#/ && NF >= 7 && $5 + 1 < {int(min_bits)}' /etc/ssh/moduli 2>/dev/null "
            "| wc -l"
        )

    def process(self, output: list[str]) -> int:
        return int(output[0]) if output and output[0].strip().isdigit() else 0


class ChronyTracking(FactBase):
    """
    chrony's view of time: reference name/address, stratum, the system clock's
    offset in seconds and the leap status (``Normal`` once synchronised).
    """

    def requires_command(self) -> str:
        return "chronyc"

    def command(self) -> str:
        return "chronyc -n tracking 2>&1 || true"

    def process(self, output: list[str]) -> dict:
        values = {}
        for line in output:
            if ":" in line:
                key, value = line.split(":", 1)
                values[key.strip()] = value.strip()
        offset = re.match(r"([0-9.]+) seconds (fast|slow)", values.get("System time", ""))
        return {
            "reference": values.get("Reference ID", ""),
            "stratum": int(values["Stratum"]) if values.get("Stratum", "").isdigit() else None,
            "offset_seconds": (
                float(offset.group(1)) * (1 if offset.group(2) == "fast" else -1)
                if offset
                else None
            ),
            "leap_status": values.get("Leap status", "unknown"),
        }


class Certificate(FactBase):
    """
    An X.509 certificate file (links followed): subject alternative names, issuer, serial and
    expiry, or ``None`` when the file is missing or not a certificate.
    """

    def command(self, path: str) -> str:
        return (
            f"openssl x509 -in {path} -noout -serial -enddate -issuer -ext subjectAltName "
            "2>/dev/null || true"
        )

    def process(self, output: list[str]) -> dict | None:
        values: dict = {"names": []}
        for line in output:
            line = line.strip()
            if line.startswith("serial="):
                values["serial"] = line.split("=", 1)[1]
            elif line.startswith("notAfter="):
                values["not_after"] = line.split("=", 1)[1]
            elif line.startswith("issuer="):
                values["issuer"] = line.split("=", 1)[1].strip()
            elif line.startswith(("DNS:", "IP Address:")) or ", DNS:" in line:
                values["names"] = [
                    name.split(":", 1)[1] for name in line.split(", ") if name.startswith("DNS:")
                ]
        return values if "serial" in values else None


class AcmeCertificate(FactBase):
    """
    What certbot holds, in one command: the ``certificate`` file (as :class:`Certificate`
    reads it, ``None`` when there is none) and the ACME ``server`` its ``renewal``
    configuration names (``None`` without one).
    """

    @staticmethod
    def default() -> dict:
        return {"certificate": None, "server": None}

    def command(self, certificate: str, renewal: str) -> str:
        return (
            f"openssl x509 -in {shlex.quote(certificate)} -noout -serial -enddate -issuer "
            "-ext subjectAltName 2>/dev/null; "
            f"sed -n 's/^server *= */acme-server=/p' {shlex.quote(renewal)} 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> dict:
        servers = [
            line.split("=", 1)[1].strip() for line in output if line.startswith("acme-server=")
        ]
        return {
            "certificate": Certificate().process(output),
            "server": servers[0] if servers else None,
        }


class Certificates(FactBase):
    """
    Several paths of certificates and their links in one command: path -> ``link`` (where
    the path points, ``None`` when it is not a symbolic link) and ``certificate`` (as
    :class:`Certificate` reads it, links followed; ``None`` when there is none).
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, paths: tuple[str, ...]) -> str:
        return (
            f'for path in {_words(paths)}; do echo "== $path"; '
            "readlink \"$path\" | sed 's/^/link=/'; "
            'openssl x509 -in "$path" -noout -serial -enddate -issuer -ext subjectAltName '
            "2>/dev/null; done; true"
        )

    def process(self, output: list[str]) -> dict[str, dict]:
        return {
            path: {
                "link": next((line[5:] for line in lines if line.startswith("link=")), None),
                "certificate": Certificate().process(lines),
            }
            for path, lines in _sections(output).items()
        }


class SshdConfig(FactBase):
    """
    sshd's effective configuration as sshd itself resolves it (``sshd -T``) for a root login
    from the host itself: lower-case keys; a key given several times has its values joined
    by newlines (``port``, ``listenaddress``, ``hostkey``).
    """

    def requires_command(self) -> str:
        return "sshd"

    def command(self) -> str:
        return "sshd -T -C user=root,host=difusor,addr=127.0.0.1 2>/dev/null"

    def process(self, output: list[str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for line in output:
            key, _, value = line.strip().partition(" ")
            if key:
                values[key] = f"{values[key]}\n{value}" if key in values else value
        return values


class UfwActive(FactBase):
    """Whether ufw's rules are loaded in the kernel now (``ufw status``), not only enabled in
    its configuration file."""

    def requires_command(self) -> str:
        return "ufw"

    def command(self) -> str:
        return "LANG=C ufw status | head -n 1"

    def process(self, output: list[str]) -> bool:
        return output[0].strip() == "Status: active"


class Fail2banJails(FactBase):
    """fail2ban's running jails with their counters: ``{jail: {"currently_failed",
    "total_failed", "currently_banned", "total_banned"}}``; empty when fail2ban is down."""

    _COUNTERS: ClassVar[dict[str, str]] = {
        "Currently failed": "currently_failed",
        "Total failed": "total_failed",
        "Currently banned": "currently_banned",
        "Total banned": "total_banned",
    }

    @staticmethod
    def default() -> dict:
        return {}

    def requires_command(self) -> str:
        return "fail2ban-client"

    def command(self) -> str:
        return (
            "fail2ban-client status 2>/dev/null | sed -n 's/.*Jail list:[[:space:]]*//p' "
            "| tr ',' '\\n' | while read -r jail; do "
            '[ -n "$jail" ] && fail2ban-client status "$jail"; done; true'
        )

    def process(self, output: list[str]) -> dict[str, dict[str, int]]:
        jails: dict[str, dict[str, int]] = {}
        jail: dict[str, int] | None = None
        for line in output:
            text = line.strip().lstrip("|`- ").strip()
            if text.startswith("Status for the jail:"):
                jail = jails.setdefault(text.split(":", 1)[1].strip(), {})
            elif jail is not None and ":" in text:
                key, value = (part.strip() for part in text.split(":", 1))
                if key in self._COUNTERS and value.isdigit():
                    jail[self._COUNTERS[key]] = int(value)
        return jails


class NginxDirectives(FactBase):
    """
    Simple directives of nginx's effective configuration (``nginx -T``, every included file),
    by name, each with the list of its arguments as written: ``{"server_name":
    ["prep.example.com.mx", ...], "ssl_protocols": ["TLSv1.2 TLSv1.3"], ...}``. Block openings
    and the continuation lines of multi-line directives are left out.
    """

    _DIRECTIVE = re.compile(r"^([a-z_][a-z0-9_]*)\s+(.+?)\s*;?$")

    @staticmethod
    def default() -> dict:
        return {}

    def requires_command(self) -> str:
        return "nginx"

    def command(self) -> str:
        return "nginx -T 2>/dev/null"

    def process(self, output: list[str]) -> dict[str, list[str]]:
        directives: dict[str, list[str]] = {}
        for line in output:
            text = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if not text or text.endswith(("{", "}")):
                continue
            match = self._DIRECTIVE.match(text)
            if match:
                directives.setdefault(match.group(1), []).append(match.group(2))
        return directives


class HostAddresses(FactBase):
    """The host's IP addresses but loopback and link-local ones: interface, address, prefix
    length and whether the address is globally routable (a public IP, 2024 II.C.b)."""

    @staticmethod
    def default() -> list:
        return []

    def command(self) -> str:
        return "ip -j addr show"

    def process(self, output: list[str]) -> list[dict]:
        addresses = []
        for interface in json.loads("".join(output)):
            if "LOOPBACK" in interface.get("flags", []):
                continue
            for info in interface.get("addr_info", []):
                address = ipaddress.ip_address(info["local"])
                if address.is_link_local:
                    continue
                addresses.append(
                    {
                        "interface": interface["ifname"],
                        "address": str(address),
                        "prefixlen": info.get("prefixlen"),
                        "public": address.is_global,
                    }
                )
        return addresses


class ChronySources(FactBase):
    """The NTP servers and pools chrony is configured with (``server``/``pool`` lines)."""

    @staticmethod
    def default() -> list:
        return []

    def command(self) -> str:
        return (
            "cat /etc/chrony/chrony.conf /etc/chrony/conf.d/*.conf "
            "/etc/chrony/sources.d/*.sources 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> list[str]:
        sources = []
        for line in output:
            words = line.split()
            if len(words) >= 2 and words[0] in ("server", "pool") and words[1] not in sources:
                sources.append(words[1])
        return sources


class PrivilegedAccess(FactBase):
    """Who holds root: the number of keys in the root keys file (``path``) and the members of
    the passwordless sudo group (``group``)."""

    def command(self, path: str, group: str) -> str:
        return (
            f"echo root_keys=$(grep -c '^[^#]' {path} 2>/dev/null); "
            f"echo sudo=$(getent group {group} | cut -d: -f4)"
        )

    def process(self, output: list[str]) -> dict:
        raw = dict(line.split("=", 1) for line in output if "=" in line)
        keys = raw.get("root_keys", "").strip()
        return {
            "root_keys": int(keys) if keys.isdigit() else 0,
            "sudo_members": [name for name in raw.get("sudo", "").strip().split(",") if name],
        }


class JsonDocument(FactBase):
    """A JSON document the host prints: a file (``cat PATH``) or a program's JSON output;
    ``None`` when there is none or it is not JSON."""

    def command(self, command: str) -> str:
        return f"{command} 2>/dev/null"

    def process(self, output: list[str]) -> object:
        try:
            return json.loads("\n".join(output))
        except ValueError:
            return None


class ArchivedPackages(FactBase):
    """Packages kept in the archive (``archive_dir``): published and rejected ones."""

    def command(self, archive_dir: str) -> str:
        return (
            f"echo published=$(find {archive_dir} -name '*.zip' ! -path '*/rejected/*' "
            "2>/dev/null | wc -l); "
            f"echo rejected=$(find {archive_dir} -path '*/rejected/*' -name '*.zip' "
            "2>/dev/null | wc -l)"
        )

    def process(self, output: list[str]) -> dict[str, int]:
        raw = dict(line.split("=", 1) for line in output if "=" in line)
        return {key: int(raw.get(key, "0").strip() or 0) for key in ("published", "rejected")}


# Run on the host by LiveReleaseIntegrity (Python 3.10 standard library, read-only).
_INTEGRITY_SCRIPT = """
import glob, hashlib, json, os, sys
current, archive = sys.argv[1], sys.argv[2]
def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
try:
    with open(os.path.join(current, "manifest.json")) as stream:
        manifest = json.load(stream)
    with open(os.path.join(current, "corte.json")) as stream:
        stamp = json.load(stream)
except OSError:
    print(json.dumps(None)); sys.exit()
report = {"release": os.path.basename(os.path.realpath(current)), "package": stamp.get("package"),
          "files": 0, "bytes": 0, "mismatched": [], "missing": []}
for entry in manifest.get("files", []):
    path = os.path.join(current, entry["path"])
    if not os.path.isfile(path):
        report["missing"].append(entry["path"])
    elif sha256(path) != entry["sha256"]:
        report["mismatched"].append(entry["path"])
    else:
        report["files"] += 1
        report["bytes"] += entry["size"]
archived = glob.glob(os.path.join(archive, "*", str(stamp.get("package"))))
report["archived"] = bool(archived)
report["archived_sha256_ok"] = bool(archived) and sha256(archived[0]) == stamp.get("sha256")
print(json.dumps(report))
"""


class LiveReleaseIntegrity(FactBase):
    """
    The live release checked byte for byte: every file of its manifest against its sha256, and
    the archived package against the sha256 in the stamp. ``None`` before the first corte.
    """

    def command(self, current_link: str, archive_dir: str) -> str:
        return shlex.join(["python3", "-B", "-c", _INTEGRITY_SCRIPT, current_link, archive_dir])

    def process(self, output: list[str]) -> dict | None:
        return json.loads("\n".join(output))


class LynisReport(FactBase):
    """
    The figures of the last Lynis audit (``/var/log/lynis-report.dat``), or ``None`` when
    Lynis never ran: hardening index, tests performed, version, end time, and its warnings
    and suggestions (test id and text).
    """

    def command(self, path: str = "/var/log/lynis-report.dat") -> str:
        return f"cat {path} 2>/dev/null || true"

    def process(self, output: list[str]) -> dict | None:
        values: dict[str, str] = {}
        lists: dict[str, list[str]] = {"warning": [], "suggestion": []}
        for line in output:
            key, sep, value = line.partition("=")
            if not sep or key.startswith("#"):
                continue
            if key.endswith("[]"):
                name = key[:-2]
                if name in lists:
                    lists[name].append(value)
            else:
                values[key] = value
        index = values.get("hardening_index", "")
        if not index.isdigit():
            return None
        tests = values.get("lynis_tests_done", "")

        def entries(items: list[str]) -> list[dict[str, str]]:
            parts = [item.split("|") for item in items]
            return [{"test": p[0], "text": p[1] if len(p) > 1 else ""} for p in parts]

        return {
            "hardening_index": int(index),
            "tests_performed": int(tests) if tests.isdigit() else None,
            "version": values.get("lynis_version"),
            "finished": values.get("report_datetime_end"),
            "warnings": entries(lists["warning"]),
            "suggestions": entries(lists["suggestion"]),
        }


class Tree(FactBase):
    """
    Every directory and regular file under ``path`` in one command: relative path -> mode
    (octal digits, as pyinfra's file facts give it), owner, group and, for files, the SHA-256;
    ``None`` when ``path`` is not a directory. Paths are relative to ``path`` ("" is itself).
    """

    def command(self, path: str) -> str:
        return (
            f"if [ -d {shlex.quote(path)} ]; then cd {shlex.quote(path)} && "
            r"find . \( -type d -o -type f \) -printf '%y %m %u %g %P\n' && "
            "find . -type f -exec sha256sum {} + ; fi"
        )

    def process(self, output: list[str]) -> dict | None:
        entries: dict[str, dict] = {}
        for line in output:
            kind, rest = line[:2], line[2:]
            if kind in ("d ", "f "):
                mode, user, group, relative = rest.split(" ", 3)
                entry = {"mode": int(mode), "user": user, "group": group}
                entries[relative] = {**entry, "sha256": None} if kind == "f " else entry
            else:  # "<sha256>  ./<relative>"
                digest, relative = line.split("  ./", 1)
                entries[relative]["sha256"] = digest
        return entries or None


class FileState(FactBase):
    """
    A regular file's mode (octal digits, as pyinfra's ``File`` gives it), owner, group and
    SHA-256 in one command, links followed; ``None`` when there is no such file. pyinfra's
    ``files.put`` reads three facts for the same answer.
    """

    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        return f"if [ -f {quoted} ]; then stat -L -c '%a %U %G' {quoted} && sha256sum {quoted}; fi"

    def process(self, output: list[str]) -> dict | None:
        if len(output) < 2:
            return None
        mode, user, group = output[0].split()
        return {"mode": int(mode), "user": user, "group": group, "sha256": output[1].split()[0]}


class FileStates(FactBase):
    """
    :class:`FileState` of each of ``paths`` in one command: path -> mode, owner, group and
    SHA-256, for the paths that are regular files (links followed); the others are left out.
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, paths: tuple[str, ...]) -> str:
        return (
            f"stat -L -c '%F|%a|%U|%G|%n' {_words(paths)} 2>/dev/null; "
            f"sha256sum {_words(paths)} 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> dict[str, dict]:
        states: dict[str, dict] = {}
        digests: dict[str, str] = {}
        for line in output:
            kind, _, rest = line.partition("|")
            if rest and kind.startswith("regular"):  # "regular file", "regular empty file"
                mode, user, group, path = rest.split("|", 3)
                states[path] = {"mode": int(mode), "user": user, "group": group}
            elif "  " in line and not rest:
                digest, path = line.split("  ", 1)
                digests[path] = digest
        return {path: {**state, "sha256": digests.get(path)} for path, state in states.items()}


class UnitStates(FactBase):
    """
    Each of ``units``'s ``ActiveState`` and ``UnitFileState`` in one command (``systemctl
    show``): unit -> ``active`` and ``file``, both empty for a unit systemd does not know.
    pyinfra's ``systemd.service`` reads two facts listing every unit, for each service.
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, units: tuple[str, ...]) -> str:
        return (
            f'for unit in {_words(units)}; do echo "== $unit"; '
            'systemctl show --property=ActiveState,UnitFileState "$unit"; done'
        )

    def process(self, output: list[str]) -> dict[str, dict[str, str]]:
        states = {}
        for unit, lines in _sections(output).items():
            values = dict(line.split("=", 1) for line in lines if "=" in line)
            states[unit] = {
                "active": values.get("ActiveState", ""),
                "file": values.get("UnitFileState", ""),
            }
        return states


def _passwd_entry(line: str) -> tuple[str, dict]:
    name, _password, uid, gid, comment, home, shell = line.split(":", 6)
    return name, {
        "uid": int(uid),
        "gid": int(gid),
        "comment": comment,
        "home": home,
        "shell": shell,
    }


class Account(FactBase):
    """One account's ``getent passwd`` entry (uid, gid, comment, home and shell) and the name
    of its primary ``group``; ``None`` when there is no such account. One command, where
    pyinfra's ``Users`` runs several for every account on the host."""

    def command(self, user: str) -> str:
        quoted = shlex.quote(user)
        return f"getent passwd {quoted} && id -gn {quoted} || true"

    def process(self, output: list[str]) -> dict | None:
        if len(output) < 2 or output[0].count(":") < 6:
            return None
        return {**_passwd_entry(output[0])[1], "group": output[1].strip()}


class Group(FactBase):
    """A group's ``gid`` and ``members`` (``getent group``), or ``None`` when there is no
    such group: one command, where pyinfra's ``server.group`` reads two facts, one of them
    every group of the host."""

    def command(self, group: str) -> str:
        return f"getent group {shlex.quote(group)} || true"

    def process(self, output: list[str]) -> dict | None:
        if not output or output[0].count(":") < 3:
            return None
        _name, _password, gid, members = output[0].strip().split(":", 3)
        return {"gid": int(gid), "members": [member for member in members.split(",") if member]}


class Logins(FactBase):
    """
    People's accounts in one command: those of ``users`` that exist and every account whose
    comment is ``comment``, each as in :class:`Account` plus its secondary ``groups``, the
    ``paths`` of its home, ``~/.ssh`` and ``~/.ssh/authorized_keys`` that exist (as in
    :class:`PathStates`) and the ``keys`` of that file (blank lines and comments left out).
    pyinfra's ``server.user`` reads seven facts per account, one of them every account's
    details.
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, users: tuple[str, ...], comment: str) -> str:
        names = shlex.quote(f" {' '.join(users)} ")
        return (
            f"for name in $(getent passwd | awk -F: -v c={shlex.quote(comment)} -v n={names} "
            """'$5 == c || index(n, " " $1 " ") {print $1}'); do """
            'echo "account $(getent passwd "$name")"; '
            'echo "groups $(id -gn "$name") $(id -Gn "$name")"; '
            'home=$(getent passwd "$name" | cut -d: -f6); '
            'stat -c \'path %F|%a|%U|%G|%n\' "$home" "$home/.ssh" '
            '"$home/.ssh/authorized_keys" 2>/dev/null; '
            "sed 's/^/key /' \"$home/.ssh/authorized_keys\" 2>/dev/null; "
            "done; true"
        )

    def process(self, output: list[str]) -> dict[str, dict]:
        accounts: dict[str, dict] = {}
        account: dict = {}
        for line in output:
            kind, _, value = line.partition(" ")
            if kind == "account":
                name, entry = _passwd_entry(value)
                account = accounts[name] = {**entry, "paths": {}, "keys": []}
            elif kind == "groups":
                primary, *groups = value.split()
                account["group"] = primary
                account["groups"] = [group for group in groups if group != primary]
            elif kind == "path":
                state, mode, user, group, path = value.split("|", 4)
                account["paths"][path] = {
                    "type": state,
                    "mode": int(mode),
                    "user": user,
                    "group": group,
                }
            elif kind == "key" and value.strip() and not value.lstrip().startswith("#"):
                account["keys"].append(value.strip())
        return accounts


class PathStates(FactBase):
    """
    Type (``directory``, ``regular file``, ...), mode (octal digits), owner and group of each
    of ``paths`` that exists, in one ``stat``; a missing path is left out.
    """

    def command(self, paths: tuple[str, ...]) -> str:
        return f"stat -c '%F|%a|%U|%G|%n' {_words(paths)} 2>/dev/null || true"

    def process(self, output: list[str]) -> dict[str, dict]:
        states = {}
        for line in output:
            kind, mode, user, group, path = line.split("|", 4)
            states[path] = {"type": kind, "mode": int(mode), "user": user, "group": group}
        return states


class PlatformTraits(FactBase):
    """
    What tells one install of a release from another, for :mod:`difusor.platform`: whether
    cloud-init is installed, whether the kernel enforces AppArmor, and the version of the
    server's python3 (``None`` when absent).
    """

    def command(self) -> str:
        return (
            "echo cloud_init=$(test -d /etc/cloud/cloud.cfg.d && echo yes); "
            "echo apparmor=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null); "
            "echo python=$(python3 -c 'import sys; print(*sys.version_info[:2], sep=\".\")' "
            "2>/dev/null)"
        )

    def process(self, output: list[str]) -> dict:
        raw = dict(line.strip().split("=", 1) for line in output if "=" in line)
        python = raw.get("python", "").split(".")
        return {
            "cloud_init": raw.get("cloud_init") == "yes",
            "apparmor": raw.get("apparmor") == "Y",
            "python": (int(python[0]), int(python[1]))
            if len(python) == 2 and all(part.isdigit() for part in python)
            else None,
        }


class SshSocket(FactBase):
    """
    State of ``ssh.socket``: ``enabled`` and ``active`` as systemctl prints them (empty when
    the unit does not exist). Ubuntu starts sshd from it by default since 22.10.
    """

    def command(self) -> str:
        return (
            "echo enabled=$(systemctl is-enabled ssh.socket 2>/dev/null); "
            "echo active=$(systemctl is-active ssh.socket 2>/dev/null)"
        )

    def process(self, output: list[str]) -> dict:
        raw = dict(line.strip().split("=", 1) for line in output if "=" in line)
        return {"enabled": raw.get("enabled", ""), "active": raw.get("active", "")}


class InstalledPackages(FactBase):
    """
    Which of ``packages`` dpkg has installed, in one ``dpkg-query``: a package only unpacked,
    removed with its configuration kept, or unknown to dpkg is not installed. pyinfra's
    ``DebPackages`` lists every package of the host, and each ``apt.packages`` reads it again.
    """

    @staticmethod
    def default() -> list:
        return []

    def command(self, packages: tuple[str, ...]) -> str:
        quoted = " ".join(shlex.quote(package) for package in packages)
        return (
            f"dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' {quoted} 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> list[str]:
        # "ii  nginx": desired action, then the package's status ("i": installed), error flag.
        return sorted({line[3:].strip() for line in output if len(line) > 3 and line[1] == "i"})
