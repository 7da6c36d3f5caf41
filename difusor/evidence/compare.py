"""
What changed on a server between two evidence runs (two ``evidence.json``): the matrix's
results, the settings, and the state read on the server (firewall rules, services, sshd,
nginx, certificate, containers, the OS and resources). Values that move by themselves (clock
offset, counters, the corte being published) are left out.

    for line in changes(json.load(old), json.load(new)):
        print(line)
"""

from __future__ import annotations

import json
from typing import Any


def _flat(value: Any, prefix: str, into: dict[str, str]) -> None:
    """Nested dicts as dotted keys; lists of strings as one key per item (so an added or
    removed item reads as such); other values as compact JSON."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(item, f"{prefix}.{key}" if prefix else str(key), into)
    elif isinstance(value, list) and all(isinstance(item, str) for item in value) and value:
        for item in value:
            into[f"{prefix}: {item}"] = "present"
    else:
        into[prefix] = json.dumps(value, ensure_ascii=False, sort_keys=True)


def server_state(evidence: dict[str, Any]) -> dict[str, Any]:
    """The comparable state of a server in one evidence run, by section."""
    o = evidence.get("observed", {})
    state: dict[str, Any] = {
        "os": o.get("os", {}).get("pretty"),
        "resources": {k: v for k, v in o.get("resources", {}).items() if k != "mhz"},
        "addresses": [a["address"] for a in o.get("addresses", [])],
        "services": o.get("services", {}),
        "firewall": {
            "active": o.get("ufw", {}).get("active"),
            "defaults": o.get("ufw", {}).get("defaults"),
            "rule": o.get("ufw", {}).get("rules", []),
        },
        "sshd": o.get("sshd", {}),
        "nginx": {
            name: values
            for name, values in o.get("nginx", {}).items()
            if name
            in (
                "server_name",
                "listen",
                "ssl_protocols",
                "ssl_ciphers",
                "add_header",
                "limit_req",
                "limit_conn",
                "limit_req_zone",
                "access_log",
                "return",
            )
        },
        "certificate": {
            k: v for k, v in (o.get("certificate") or {}).items() if k in ("serial", "not_after")
        },
        "ntp sources": o.get("chrony", {}).get("sources", []),
        "fail2ban jails": sorted(o.get("fail2ban", {})),
        "root access": o.get("access", {}),
        "containers": {
            c["name"]: [
                f"{p['host_ip']}:{p['host_port']}->{p['container_port']}/{p['proto']}"
                for p in c["ports"]
            ]
            for c in o.get("docker", {}).get("containers", [])
        },
        "publisher config": (o.get("publisher", {}) or {}).get("config") or {},
        "reachable from the operator": {
            port: probe.get("open") for port, probe in o.get("reachability", {}).items()
        },
        "tls": {
            "accepted": (o.get("tls") or {}).get("accepted"),
            "mozilla intermediate": (o.get("tls") or {}).get("mozilla_intermediate"),
        },
    }
    return state


def _diff(old: dict[str, str], new: dict[str, str], what: str) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if after == "present" and before is None:
            lines.append(f"{what} {key}: added")
        elif before == "present" and after is None:
            lines.append(f"{what} {key}: removed")
        else:
            lines.append(f"{what} {key}: {before or '(none)'} -> {after or '(none)'}")
    return lines


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per change from ``old`` to ``new``: results first, then settings, then the
    server's state."""
    lines = []
    old_rows = {row["key"]: row for row in old.get("rows", [])}
    for row in new.get("rows", []):
        before = old_rows.pop(row["key"], None)
        if before is None:
            lines.append(f"result {row['clause']} {row['title']}: new row, {row['status']}")
        elif before["status"] != row["status"]:
            lines.append(
                f"result {row['clause']} {row['title']}: {before['status']} -> {row['status']}"
                f" ({row['measured']})"
            )
    lines += [f"result {row['clause']} {row['title']}: row removed" for row in old_rows.values()]
    old_settings: dict[str, str] = {}
    new_settings: dict[str, str] = {}
    _flat(old.get("settings", {}), "", old_settings)
    _flat(new.get("settings", {}), "", new_settings)
    lines += _diff(old_settings, new_settings, "setting")
    lines += _server_diff(server_state(old), server_state(new))
    return lines


def _server_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The server's sections compared key by key; a section that one run could not read at all
    (``sshd -T`` while sshd is stopped, ``nginx -T`` on a broken configuration) in one line,
    not as every key gone."""
    lines = []
    for section in old.keys() | new.keys():
        before, after = old.get(section), new.get(section)
        if isinstance(before, dict) and isinstance(after, dict) and bool(before) != bool(after):
            lines.append(f"server {section}: " + ("not read now" if before else "read again"))
            continue
        old_flat: dict[str, str] = {}
        new_flat: dict[str, str] = {}
        _flat(before, section, old_flat)
        _flat(after, section, new_flat)
        lines += _diff(old_flat, new_flat, "server")
    return sorted(lines)
