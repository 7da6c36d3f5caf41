"""
difusor status: every host of an inventory at a glance, all hosts at once, read-only. One line
per host: the live corte and its age, the freshness monitor's level, the kit's services, the
last rejection, free disk on the publishing tree, days to certificate expiry, the NTP offset,
and what needs a human. Exit status 1 when anything does (usable from cron or a monitoring
system), 0 otherwise; ``--json`` for machines.

    difusor status [--inventory inventory/production.py] [--host NAME] [--json]

    prep1: OK  corte 2024-06-02 21:15 (4 min)  monitor ok  services 9/9  rejection none
        disk 41.2 GiB free (86%)  cert 83 d  ntp +0.000012 s
    prep2: ATTENTION  corte 2024-06-02 20:30 (49 min)  monitor critical  ...
        ! monitor: critical (3 missed periods)

(each host's line is one line; wrapped here).

Each host is read with one SSH command (the publisher's own ``status``, ``systemctl show``,
``df``, ``openssl x509``, ``chronyc tracking``); nothing on it is written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from difusor import paths
from difusor.cli import add_inventory_arguments
from difusor.facts import ChronyTracking
from difusor.inventory import InventoryHost, load_inventory, select_hosts
from difusor.remote import Remote, SshTarget, publisher_program

HELP = (
    "one line per host: live corte, monitor, services, disk, certificate, time; exit 1 on trouble"
)

# The kit's services; a unit that is optional (certbot's timer without ACME) may be absent.
SERVICES = (
    "nginx.service",
    "difusor-publisher.service",
    "difusor-monitor.timer",
    "rsync.service",
    "chrony.service",
    "ssh.service",
    "fail2ban.service",
    "docker.service",
)
OPTIONAL_SERVICES = ("certbot.timer",)

# When a human is needed.
MONITOR_ALERTING = ("incident", "escalation", "critical")
MONITOR_MAX_SILENCE_SECONDS = 180  # the monitor runs every minute
CERT_MIN_DAYS = 14  # certbot renews 30 days ahead: less than this means renewals fail
DISK_MIN_FREE_FRACTION = 0.10
DISK_MIN_FREE_BYTES = 1 << 30
NTP_MAX_OFFSET_SECONDS = 0.5

SECTION = "@@difusor-section "
GIB = 1 << 30


def probe_command() -> str:
    """The one read-only shell command that gathers everything, section by section."""
    parts = {
        "now": "date +%s",
        "publisher": publisher_program("status") + " 2>/dev/null",
        "services": "systemctl show --property=Id,LoadState,ActiveState "
        + " ".join(SERVICES + OPTIONAL_SERVICES),
        "disk": f"df -P -B1 {shlex.quote(paths.SERVE_DIR)} 2>&1 | tail -n 1",
        "certificate": f"openssl x509 -in {paths.TLS_DIR}/live.crt -noout -enddate 2>&1",
        "time": "chronyc -n tracking 2>&1",
    }
    return "; ".join(f"echo '{SECTION}{name}'; {command}" for name, command in parts.items())


def split_sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION) :].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def _services(lines: list[str]) -> dict[str, str]:
    """unit -> active state ("missing" when not installed); optional units only when present."""
    states: dict[str, str] = {}
    unit: dict[str, str] = {}
    for line in [*lines, ""]:
        if "=" in line:
            key, value = line.split("=", 1)
            unit[key] = value.strip()
        elif unit:
            name = unit.get("Id", "?")
            if unit.get("LoadState") != "loaded":
                if name not in OPTIONAL_SERVICES:
                    states[name] = "missing"
            else:
                states[name] = unit.get("ActiveState", "unknown")
            unit = {}
    return states


def _disk(lines: list[str]) -> dict[str, int] | None:
    fields = lines[0].split() if lines else []
    if len(fields) < 4 or not all(value.isdigit() for value in fields[1:4]):
        return None
    return {"total_bytes": int(fields[1]), "free_bytes": int(fields[3])}


def _certificate_days(lines: list[str], now: datetime) -> float | None:
    for line in lines:
        if line.startswith("notAfter="):
            expiry = datetime.strptime(line.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z")
            return round((expiry.replace(tzinfo=timezone.utc) - now).total_seconds() / 86400, 1)
    return None


def _json(lines: list[str]) -> dict[str, Any] | None:
    try:
        value = json.loads("\n".join(lines))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class HostStatus:
    host: str
    reachable: bool = True
    corte: str | None = None
    package: str | None = None
    corte_age_seconds: int | None = None
    monitor_level: str | None = None
    monitor_checked_seconds_ago: int | None = None
    missed_periods: int | None = None
    services: dict[str, str] = field(default_factory=dict)
    pending: int = 0
    last_rejection: dict[str, Any] | None = None
    disk_free_bytes: int | None = None
    disk_total_bytes: int | None = None
    certificate_days: float | None = None
    ntp_offset_seconds: float | None = None
    ntp_leap_status: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _seconds_since(moment: str | None, now: datetime) -> int | None:
    if not moment:
        return None
    try:
        return int((now - datetime.fromisoformat(moment)).total_seconds())
    except (TypeError, ValueError):
        return None


def host_status(host: str, sections: dict[str, list[str]]) -> HostStatus:
    """What the probe's sections say, and every problem a human must look at."""
    now_text = (sections.get("now") or [""])[0].strip()
    now = datetime.fromtimestamp(int(now_text) if now_text.isdigit() else 0, timezone.utc)
    status = HostStatus(host)
    publisher = _json(sections.get("publisher", []))
    if publisher is None:
        status.problems.append("publisher: its status cannot be read (is the host deployed?)")
        publisher = {}
    live = publisher.get("live") or {}
    status.corte, status.package = live.get("corte"), live.get("package")
    status.corte_age_seconds = _seconds_since(status.corte, now)
    monitor = publisher.get("monitor") or {}
    health = publisher.get("health") or {}
    status.monitor_level = monitor.get("level")
    status.monitor_checked_seconds_ago = _seconds_since(monitor.get("checked_at"), now)
    status.missed_periods = health.get("missed_periods")
    status.pending = len(publisher.get("pending") or [])
    status.last_rejection = publisher.get("last_rejection")
    status.services = _services(sections.get("services", []))
    disk = _disk(sections.get("disk", []))
    if disk:
        status.disk_free_bytes, status.disk_total_bytes = disk["free_bytes"], disk["total_bytes"]
    status.certificate_days = _certificate_days(sections.get("certificate", []), now)
    tracking = ChronyTracking().process(sections.get("time", []))
    status.ntp_offset_seconds = tracking["offset_seconds"]
    status.ntp_leap_status = tracking["leap_status"]
    status.problems += problems(status, bool(publisher))
    return status


def problems(status: HostStatus, publisher_read: bool = True) -> list[str]:
    """What needs a human, one phrase each (empty: nothing)."""
    found = []
    if publisher_read:
        if status.monitor_level in MONITOR_ALERTING:
            found.append(
                f"monitor: {status.monitor_level} ({status.missed_periods} missed periods)"
            )
        silence = status.monitor_checked_seconds_ago
        if silence is None or silence > MONITOR_MAX_SILENCE_SECONDS:
            found.append(
                "monitor: has not run"
                + (f" for {silence // 60} min" if silence is not None else "")
            )
        rejection = status.last_rejection
        if rejection and not rejection.get("published_since"):
            found.append(
                f"last package rejected: {rejection.get('package')} ({rejection.get('reason')})"
            )
    down = {unit: state for unit, state in status.services.items() if state != "active"}
    if not status.services:
        found.append("services: systemd did not answer")
    found += [f"{unit}: {state}" for unit, state in down.items()]
    if status.disk_free_bytes is None or not status.disk_total_bytes:
        found.append(f"disk: {paths.SERVE_DIR} cannot be measured")
    elif (
        status.disk_free_bytes < DISK_MIN_FREE_BYTES
        or status.disk_free_bytes < DISK_MIN_FREE_FRACTION * status.disk_total_bytes
    ):
        found.append(f"disk: only {status.disk_free_bytes / GIB:.1f} GiB free")
    if status.certificate_days is None:
        found.append("certificate: cannot be read")
    elif status.certificate_days < CERT_MIN_DAYS:
        found.append(f"certificate: expires in {status.certificate_days:g} days")
    if status.ntp_leap_status != "Normal":
        found.append(f"time: not synchronised ({status.ntp_leap_status})")
    elif (
        status.ntp_offset_seconds is not None
        and abs(status.ntp_offset_seconds) > NTP_MAX_OFFSET_SECONDS
    ):
        found.append(f"time: offset {status.ntp_offset_seconds:+.3f} s")
    return found


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def line(status: HostStatus) -> str:
    """The host's one line."""
    if not status.reachable:
        return f"{status.host}: ATTENTION  unreachable  ! {'; '.join(status.problems)}"
    corte = (
        f"corte {status.corte[:16].replace('T', ' ')} ({_age(status.corte_age_seconds)})"
        if status.corte
        else "corte none"
    )
    active = sum(state == "active" for state in status.services.values())
    rejection = status.last_rejection
    parts = [
        corte,
        f"monitor {status.monitor_level or '?'}",
        f"services {active}/{len(status.services)}",
        "rejection "
        + (f"{rejection['package']} {rejection.get('reason')}" if rejection else "none"),
    ]
    if status.pending:
        parts.append(f"pending {status.pending}")
    if status.disk_free_bytes is not None and status.disk_total_bytes:
        share = status.disk_free_bytes / status.disk_total_bytes
        parts.append(f"disk {status.disk_free_bytes / GIB:.1f} GiB free ({share:.0%})")
    else:
        parts.append("disk ?")
    days = status.certificate_days
    parts.append(f"cert {days:.0f} d" if days is not None else "cert ?")
    offset = status.ntp_offset_seconds
    parts.append(f"ntp {offset:+.6f} s" if offset is not None else "ntp ?")
    text = f"{status.host}: {'OK' if status.ok else 'ATTENTION'}  " + "  ".join(parts)
    return text + (f"  ! {'; '.join(status.problems)}" if status.problems else "")


def read_host(host: InventoryHost, timeout: float = 20) -> HostStatus:
    """Probe one host over SSH."""
    with Remote(SshTarget.from_host(host)) as remote:
        result = remote.run(probe_command(), timeout=timeout)
    sections = split_sections(result.stdout)
    if "now" not in sections:
        reason = (result.stderr.strip().splitlines() or [f"ssh exited {result.returncode}"])[-1]
        return HostStatus(host.name, reachable=False, problems=[f"unreachable: {reason}"])
    return host_status(host.name, sections)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document for machines")


def run(args: argparse.Namespace) -> int:
    hosts = select_hosts(load_inventory(args.inventory), args.host)
    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        statuses = list(pool.map(read_host, hosts))
    if args.json:
        document = [asdict(status) | {"ok": status.ok} for status in statuses]
        json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for status in statuses:
            print(line(status))
    return 0 if all(status.ok for status in statuses) else 1
