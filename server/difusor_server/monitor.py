"""``monitor``: how old is the live corte? One check, then exit (run it from a 1-minute timer).

Levels, with ``missed = floor(max(0, age - grace_minutes) / period_minutes)``:
``ok`` (0), ``incident`` (1), ``escalation`` (2), ``critical`` (3 or more: 45 min at 15-minute
periods is when the institute cuts a difusor off). Outside the publication window the level
is ``outside-window`` and nothing is alerted. Inside it, before any corte was published, the
age counts from ``window_start``; with no window configured and no corte the level is
``no-corte``.

An alert (a log line with severity = the level, plus an optional webhook POST) is raised
only when the level changes to incident/escalation/critical, or back to ok from one of
them. A webhook that fails is retried on the next runs until it is delivered once.
``healthz_file`` is rewritten atomically on every run.

The same run performs the other checks (``checks``: publishing blocked, certificate, clock):
a change of a check's status is a ``check`` log line and an alert. Alerts wait in
``monitor.json``'s outbox, in order, until the webhook takes them.
"""

import fcntl
import json
import math
import os
import socket
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

from . import checks
from .config import Config
from .fsutil import read_json, write_json
from .log import Logger
from .release import live_release
from .timeutil import iso, parse_iso
from .timeutil import now as now_in

LEVELS = ["ok", "incident", "escalation", "critical"]
ALERTING = {"incident", "escalation", "critical"}
STATE = "monitor.json"


def assess(cfg: Config, now: datetime, stamp: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(level, details) for the live ``stamp`` (corte.json) at ``now``."""
    in_window = (cfg.window_start is None or now >= cfg.window_start) and (
        cfg.window_end is None or now <= cfg.window_end
    )
    corte = None
    if stamp and stamp.get("corte"):
        try:
            corte = parse_iso(stamp["corte"])
            if corte.tzinfo is None:
                corte = corte.replace(tzinfo=cfg.zone)
        except (TypeError, ValueError):
            corte = None
    details = {
        "corte": iso(corte.astimezone(cfg.zone)) if corte else None,
        "package": (stamp or {}).get("package") if corte else None,
        "corte_age_seconds": int((now - corte).total_seconds()) if corte else None,
        "missed_periods": None,
    }
    if not in_window:
        return "outside-window", details
    reference = corte or cfg.window_start
    if reference is None:
        return "no-corte", details
    age = max(0.0, (now - reference).total_seconds() - cfg.grace_minutes * 60)
    missed = math.floor(age / (cfg.period_minutes * 60))
    details["missed_periods"] = missed
    return LEVELS[min(missed, 3)], details


def should_alert(previous: str | None, level: str) -> bool:
    if level in ALERTING:
        return True
    return level == "ok" and previous in ALERTING


def post_webhook(url: str, payload: dict[str, Any], timeout: float) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "difusor-monitor"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read(4096)


def run(cfg: Config, log: Logger, now: datetime | None = None) -> dict[str, Any] | None:
    now = now or now_in(cfg.zone)
    os.makedirs(cfg.state_dir, exist_ok=True)
    lock_fd = os.open(cfg.state_file("monitor.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # another check is running
        return _run(cfg, log, now)
    finally:
        os.close(lock_fd)


def _run(cfg: Config, log: Logger, now: datetime) -> dict[str, Any]:
    state_path = cfg.state_file(STATE)
    state = read_json(state_path) or {}
    for key in ("alert", "delivered"):  # the single alert of earlier versions
        state.pop(key, None)
    outbox: list[dict[str, Any]] = state.setdefault("outbox", [])
    _, stamp = live_release(cfg.current_link)
    level, details = assess(cfg, now, stamp)
    previous = state.get("level")
    health = {
        "status": "ok"
        if level in ("ok", "outside-window")
        else "no-corte"
        if level == "no-corte"
        else "stale",
        "level": level,
        **details,
        "period_minutes": cfg.period_minutes,
        "checked_at": iso(now),
    }

    if level != previous:
        alert = should_alert(previous, level)
        severity = level if level in ALERTING else ("recovered" if alert else "info")
        log.event(
            "freshness", severity=severity, level=level, previous=previous, alert=alert, **details
        )
        state["level"] = level
        state["since"] = iso(now)
        if alert:
            alert_body = {"level": level, "previous": previous, "ts": iso(now), **details}
            outbox.append({"check": "freshness", **alert_body, "message": _message(alert_body)})
    _run_checks(cfg, log, now, state)
    _deliver(cfg, log, outbox)
    state["checked_at"] = iso(now)
    write_json(state_path, state)
    if cfg.healthz_file:
        os.makedirs(os.path.dirname(cfg.healthz_file), exist_ok=True)
        write_json(cfg.healthz_file, health)
    return health


def _run_checks(cfg: Config, log: Logger, now: datetime, state: dict[str, Any]) -> None:
    """Each check's status in ``state["checks"]``; a change is logged and alerted."""
    known: dict[str, Any] = state.setdefault("checks", {})
    for name, problem in checks.run_all(cfg, now).items():
        before = known.get(name, {}).get("status", "ok")
        status = problem.status if problem else "ok"
        detail = problem.detail if problem else None
        known[name] = {
            "status": status,
            "detail": detail,
            "since": known.get(name, {}).get("since") if status == before else iso(now),
        }
        if status == before:
            continue
        level = "warning" if problem else "ok"
        log.event(
            "check",
            severity="warning" if problem else "recovered",
            check=name,
            status=status,
            previous=before,
            detail=detail,
        )
        state["outbox"].append(
            {
                "check": name,
                "level": level,
                "status": status,
                "previous": before,
                "ts": iso(now),
                "detail": detail,
                "message": f"difusor {name}: {detail}" if detail else f"difusor {name}: ok again",
            }
        )


def _deliver(cfg: Config, log: Logger, outbox: list[dict[str, Any]]) -> None:
    """POST the waiting alerts in order; the first that fails stops the rest until next run."""
    if not cfg.alert_webhook:
        outbox.clear()  # nowhere to send them: the log lines are the alerts
        return
    while outbox:
        payload = {"source": "difusor", "host": socket.gethostname(), **outbox[0]}
        try:
            post_webhook(cfg.alert_webhook, payload, cfg.webhook_timeout_seconds)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.event(
                "webhook-failed",
                check=outbox[0]["check"],
                level=outbox[0]["level"],
                detail=str(getattr(exc, "reason", exc)),
                retry=True,
            )
            return
        outbox.pop(0)


def _message(alert: dict[str, Any]) -> str:
    level = alert["level"]
    if level == "ok":
        return f"PREP publication fresh again: corte {alert.get('corte')}"
    age = alert.get("corte_age_seconds")
    age_text = f"{age // 60} min" if isinstance(age, int) else "unknown"
    return (
        f"PREP publication {level}: {alert.get('missed_periods')} missed period(s); live corte "
        f"{alert.get('corte')} is {age_text} old"
    )
