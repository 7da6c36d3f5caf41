"""The publisher's configuration file (JSON); every key, its default and its meaning are in
server/README.md."""

import json
import os
from datetime import datetime, timedelta, tzinfo
from typing import Any

from .timeutil import get_zone, parse_local

DEFAULTS: dict[str, Any] = {
    "incoming_dir": "/srv/difusor/incoming",
    "archive_dir": "/srv/difusor/archive",
    "releases_dir": "/srv/difusor/releases",
    "current_link": "/srv/difusor/current",
    "quarantine_dir": "/srv/difusor/quarantine",
    "state_dir": "/var/lib/difusor",
    "log_file": "/var/log/difusor/publisher.log",
    "healthz_file": "/srv/difusor/healthz.json",
    "timezone": "America/Mexico_City",
    "sidecar": "if-present",
    "sidecar_wait_seconds": 5,
    "settle_seconds": 2,
    "limits": {
        "max_files": 20000,
        "max_total_bytes": 1073741824,
        "max_ratio": 100,
        "max_nesting": 2,
    },
    "keep_releases": 10,
    "period_minutes": 15,
    "grace_minutes": 0,
    "window_start": None,
    "window_end": None,
    "purge": {"type": "none"},
    "alert_webhook": None,
    "webhook_timeout_seconds": 5,
    "disk_alert_free_mb": 256,
    "certificate_check": None,
    "clock_check": None,
}

PATH_KEYS = (
    "incoming_dir",
    "archive_dir",
    "releases_dir",
    "current_link",
    "quarantine_dir",
    "state_dir",
)
PURGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cloudflare": {
        "api_base": "https://api.cloudflare.com/client/v4",
        "token_file": "/etc/difusor/cdn-token",
        "timeout_seconds": 5,
    },
    "command": {"timeout_seconds": 5},
    "none": {},
}
# The monitor's optional checks: their defaults, then the keys that must be given.
CHECK_DEFAULTS: dict[str, dict[str, Any]] = {
    "certificate_check": {"address": "127.0.0.1", "port": 443, "alert_days": 20},
    "clock_check": {"address": "127.0.0.1", "port": 123},
}
CHECK_REQUIRED = {"certificate_check": {"name"}, "clock_check": set()}
PURGE_KEYS = {
    "cloudflare": {"type", "zone_id", "api_base", "token_file", "timeout_seconds"},
    "command": {"type", "argv", "timeout_seconds"},
    "none": {"type"},
}


class ConfigError(Exception):
    pass


def _merged(data: Any, source: str) -> dict[str, Any]:
    """``data`` over the defaults, ``limits`` merged key by key; unknown keys refused."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a JSON object")
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s): {', '.join(unknown)}")
    merged = dict(DEFAULTS)
    merged.update(data)
    limits = dict(DEFAULTS["limits"])
    if not isinstance(merged["limits"], dict):
        raise ConfigError("limits: must be an object")
    bad = sorted(set(merged["limits"]) - set(limits))
    if bad:
        raise ConfigError(f"limits: unknown key(s): {', '.join(bad)}")
    limits.update(merged["limits"])
    for key, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"limits.{key}: {value!r} is not a non-negative integer")
    merged["limits"] = limits
    return merged


class Limits:
    def __init__(self, values: dict[str, int]) -> None:
        self.max_files = values["max_files"]
        self.max_total_bytes = values["max_total_bytes"]
        self.max_ratio = values["max_ratio"]
        self.max_nesting = values["max_nesting"]


class Config:
    """Validated configuration; attributes named as the JSON keys."""

    incoming_dir: str
    archive_dir: str
    releases_dir: str
    current_link: str
    quarantine_dir: str
    state_dir: str
    log_file: str | None
    healthz_file: str | None
    sidecar_wait_seconds: float
    settle_seconds: float
    grace_minutes: float
    webhook_timeout_seconds: float
    disk_alert_free_mb: int
    certificate_check: dict[str, Any] | None
    clock_check: dict[str, Any] | None
    keep_releases: int
    period_minutes: int

    def __init__(self, data: Any, source: str = "<dict>") -> None:
        self.source = source
        merged = _merged(data, source)
        self.raw = merged
        self._read_paths(merged)
        try:
            self.zone: tzinfo = get_zone(merged["timezone"])
        except Exception as exc:
            raise ConfigError(f"timezone: {merged['timezone']!r}: {exc}") from None
        self.timezone = merged["timezone"]
        self._read_publishing(merged)
        self._read_window(merged)
        self.purge = self._purge(merged["purge"])
        hook = merged["alert_webhook"]
        if hook is not None and (
            not isinstance(hook, str) or not hook.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"alert_webhook: {hook!r} is not an http(s) URL (or null)")
        self.alert_webhook = hook
        self._read_checks(merged)

    def _read_checks(self, merged: dict[str, Any]) -> None:
        free = merged["disk_alert_free_mb"]
        if not isinstance(free, int) or isinstance(free, bool) or free < 0:
            raise ConfigError(f"disk_alert_free_mb: {free!r} is not a non-negative integer")
        self.disk_alert_free_mb = free
        for key, defaults in CHECK_DEFAULTS.items():
            value = merged[key]
            if value is None:
                setattr(self, key, None)
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: {value!r} must be an object (or null)")
            unknown = sorted(set(value) - set(defaults) - CHECK_REQUIRED[key])
            if unknown:
                raise ConfigError(f"{key}: unknown key(s): {', '.join(unknown)}")
            check = {**defaults, **value}
            for field in sorted(CHECK_REQUIRED[key] | {"address"}):
                if not isinstance(check.get(field), str) or not check[field]:
                    raise ConfigError(f"{key}.{field}: {check.get(field)!r} is not a name")
            for field in ("port", "alert_days"):
                number = check.get(field, 1)
                if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                    raise ConfigError(f"{key}.{field}: {number!r} is not a positive integer")
            setattr(self, key, check)

    def _read_paths(self, merged: dict[str, Any]) -> None:
        for key in PATH_KEYS:
            value = merged[key]
            if not isinstance(value, str) or not os.path.isabs(value):
                raise ConfigError(f"{key}: {value!r} is not an absolute path")
            setattr(self, key, os.path.normpath(value))
        for key in ("log_file", "healthz_file"):
            value = merged[key]
            if value is not None and (not isinstance(value, str) or not os.path.isabs(value)):
                raise ConfigError(f"{key}: {value!r} is not an absolute path (or null)")
            setattr(self, key, os.path.normpath(value) if value else None)

    def _read_publishing(self, merged: dict[str, Any]) -> None:
        if merged["sidecar"] not in ("require", "if-present", "off"):
            raise ConfigError(
                f"sidecar: {merged['sidecar']!r} is not one of require, if-present, off"
            )
        self.sidecar = merged["sidecar"]
        for key in (
            "sidecar_wait_seconds",
            "settle_seconds",
            "grace_minutes",
            "webhook_timeout_seconds",
        ):
            value = merged[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{key}: {value!r} is not a non-negative number")
            setattr(self, key, float(value))
        for key, minimum in (("keep_releases", 1), ("period_minutes", 1)):
            value = merged[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(f"{key}: {value!r} is not an integer >= {minimum}")
            setattr(self, key, value)
        self.limits = Limits(merged["limits"])

    def _read_window(self, merged: dict[str, Any]) -> None:
        self.window_start = self._local(merged, "window_start")
        self.window_end = self._local(merged, "window_end")
        if self.window_start is not None and self.window_end is None:
            day = (self.window_start + timedelta(days=7)).date()
            self.window_end = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=self.zone)
        if self.window_start and self.window_end and self.window_end <= self.window_start:
            raise ConfigError("window_end: must be after window_start")

    def _local(self, merged: dict[str, Any], key: str) -> datetime | None:
        value = merged[key]
        if value is None:
            return None
        try:
            return parse_local(value, self.zone)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{key}: {value!r} is not an ISO date-time such as 2024-06-02T20:00"
            ) from None

    @staticmethod
    def _purge(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or value.get("type") not in PURGE_KEYS:
            raise ConfigError(
                f"purge: {value!r} must be an object with type none, cloudflare or command"
            )
        kind = value["type"]
        unknown = sorted(set(value) - PURGE_KEYS[kind])
        if unknown:
            raise ConfigError(f"purge: unknown key(s) for type {kind}: {', '.join(unknown)}")
        purge = dict(PURGE_DEFAULTS[kind])
        purge.update(value)
        if kind == "cloudflare":
            if not isinstance(purge.get("zone_id"), str) or not purge["zone_id"]:
                raise ConfigError("purge.zone_id: required for type cloudflare")
            if not str(purge["api_base"]).startswith(("http://", "https://")):
                raise ConfigError(f"purge.api_base: {purge['api_base']!r} is not an http(s) URL")
            if not os.path.isabs(purge["token_file"]):
                raise ConfigError(
                    f"purge.token_file: {purge['token_file']!r} is not an absolute path"
                )
        if kind == "command":
            argv = purge.get("argv")
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                raise ConfigError(
                    "purge.argv: a non-empty list of strings is required for type command"
                )
        if "timeout_seconds" in purge:
            timeout = purge["timeout_seconds"]
            if (
                not isinstance(timeout, (int, float))
                or isinstance(timeout, bool)
                or not 0 < timeout <= 60
            ):
                raise ConfigError(f"purge.timeout_seconds: {timeout!r} must be a number in (0, 60]")
        return purge

    # derived paths
    def state_file(self, name: str) -> str:
        return os.path.join(self.state_dir, name)


def load(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    return Config(data, source=path)
