"""
Facts difusor reads from the server. Each ``process`` is pure and unit-tested.

Example::

    from difusor.facts import UfwState
    state = host.get_fact(UfwState)
    state["rules"]   # ["allow 80/tcp", "allow from 203.0.113.0/28 to any port 22 proto tcp ..."]
"""

from __future__ import annotations

import re
from typing import ClassVar

from pyinfra.api import FactBase


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
