"""
The simulacro: the institute's side of election night, from the lab's trusted `difusor-ople`
namespace. Synthetic packages (difusor.rehearsal.prep) are pushed over real rsync to the lab
host at a fixed period, and each corte is followed until the portal serves it over HTTPS.

    python -m difusor.rehearsal.lab simulacro --cortes 8 --period 5      # a fast rehearsal
    python -m difusor.rehearsal.lab simulacro --cortes 4 --period 900    # the real rhythm

Reports per corte: pushed, published, upload-complete-to-live latency, errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from difusor.rehearsal.prep.generator import SiteSpec, generate_series
from difusor.remote import publisher_program

from .core import Lab
from .inventory import lab_secrets
from .network import LAB_IPV4, OPLE_NETNS, PUBLIC_NETNS

PORTAL_NAME = "prep.lab.test"
RSYNC_URL = f"rsync://prep@{LAB_IPV4}/prep/"
TIMEZONE = ZoneInfo("America/Mexico_City")


@dataclass
class CorteReport:
    package: str
    pushed: bool = False
    published: bool = False
    latency_s: float | None = None
    error: str = ""


def recent_cortes_start(count: int, period_minutes: int = 1) -> datetime:
    """A start time so that ``count`` cortes end at the current minute (local time): the
    freshness monitor then sees a live corte, and each corte has a name of its own."""
    now = datetime.now(TIMEZONE).replace(second=0, microsecond=0, tzinfo=None)
    return now - timedelta(minutes=period_minutes * (count - 1))


def start_after_live(lab: Lab, count: int, period_minutes: int = 1) -> datetime:
    """As :func:`recent_cortes_start`, but after the corte live on the host, if a later one
    is: the publisher refuses a corte older than the live one, and a test may leave one live
    whose time is still to come."""
    start = recent_cortes_start(count, period_minutes)
    status = lab.ssh(publisher_program("status"), timeout=60)
    live = (json.loads(status.stdout).get("live") or {}) if status.returncode == 0 else {}
    if live.get("corte"):
        after_live = datetime.fromisoformat(live["corte"]).replace(tzinfo=None)
        start = max(start, after_live + timedelta(minutes=period_minutes))
    return start


def push(
    lab: Lab, package: Path, password: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """rsync one package from the trusted namespace, as the institute does."""
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            OPLE_NETNS,
            "env",
            f"RSYNC_PASSWORD={password}",
            "rsync",
            "--timeout=60",
            "--times",
            str(package),
            RSYNC_URL,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def live_package(ns: str = PUBLIC_NETNS, max_time: float = 5) -> str | None:
    """The package name in the portal's /corte.json, fetched over HTTPS from a namespace."""
    return (live_stamp(ns, max_time) or {}).get("package")


def live_stamp(ns: str = PUBLIC_NETNS, max_time: float = 5) -> dict | None:
    """The portal's /corte.json, fetched over HTTPS from a namespace; None when not served."""
    result = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "curl",
            "-sk",
            "--max-time",
            str(max_time),
            "--resolve",
            f"{PORTAL_NAME}:443:{LAB_IPV4}",
            f"https://{PORTAL_NAME}/corte.json",
        ],
        capture_output=True,
        text=True,
        timeout=15,
    )
    try:
        stamp = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    return stamp if isinstance(stamp, dict) else None


def wait_live(name: str, timeout: float = 60) -> float | None:
    """Seconds until the portal serves ``name``, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if live_package() == name:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def run_simulacro(
    lab: Lab,
    cortes: int,
    period_seconds: float,
    actas: int = 11030,
    nesting: str = "zip",
    site: SiteSpec | None = None,
    start: datetime | None = None,
) -> list[CorteReport]:
    """Push ``cortes`` packages, one minute of corte time apart, ending now unless ``start``."""
    workdir = lab.workdir / "simulacro"
    shutil.rmtree(workdir, ignore_errors=True)
    packages = generate_series(
        workdir,
        cortes,
        start=start or recent_cortes_start(cortes),
        period_minutes=1,
        actas=actas,
        nesting=nesting,
        seed=int(time.time()),
        site=site,
    )
    password = lab_secrets()["DIFUSOR_RSYNC_PASSWORD"]
    reports = []
    next_push = time.monotonic()
    for package in packages:
        time.sleep(max(0.0, next_push - time.monotonic()))
        next_push = time.monotonic() + period_seconds
        report = CorteReport(package.name)
        pushed = push(lab, package, password)
        report.pushed = pushed.returncode == 0
        if not report.pushed:
            report.error = (pushed.stderr or pushed.stdout).strip()[-300:]
        else:
            latency = wait_live(package.name)
            report.published = latency is not None
            report.latency_s = round(latency, 3) if latency is not None else None
            if latency is None:
                report.error = "not live within 60 s"
        print(
            f"simulacro: {report.package} pushed={report.pushed} published={report.published} "
            f"latency={report.latency_s} s {report.error}".rstrip(),
            flush=True,
        )
        reports.append(report)
    return reports


def main(cortes: int, period_seconds: float, actas: int) -> int:
    os.environ.setdefault("DIFUSOR_LAB_REUSE", "1")
    reports = run_simulacro(Lab(), cortes, period_seconds, actas)
    published = sum(r.published for r in reports)
    print(f"simulacro: {published} of {len(reports)} cortes published")
    return 0 if published == len(reports) else 1
