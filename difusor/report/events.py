"""Cortes, rejections and incidents from the publisher's JSON log lines and the journal.

Incidents (2024 VII.a.i), each with start, end and effect on publication:

- ``rejected-package``: from the rejection until the next publication (the portal kept the
  previous corte meanwhile);
- ``stale``: the live corte older than one period (after ``grace_minutes``), computed from the
  publication times exactly as the freshness monitor counts missed periods; the part at three
  periods or more (45 minutes at 15) is the critical level, when the institute may cut the
  difusor off. Before the first corte of the window, the age counts from the window's start;
- ``disk``, ``publisher-error``, ``cdn-purge``: the publisher's ``incident``/``purge-failed``/
  ``config-error`` lines, repeated lines merged, until the next publication (or purge);
- ``service-failure`` / ``service-restart``: a kit unit (nginx, publisher, receiver, monitor)
  failed or was stopped, until it started again; ``certificate``: certbot's renewal failed,
  until it next succeeded; ``host-restart``: the journal's boot changed (from the last entry
  of one boot to the first of the next). From systemd's own catalogued messages;
- ``5xx-burst``: minutes with many server errors (from the access logs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from difusor.report.copy import json_lines, json_object
from difusor.report.model import Burst, Corte, Incident, Period

# systemd's catalogued MESSAGE_IDs (systemd.catalog)
JOB_STARTED = "39f53479d3a045ac8e11786248231fbf"  # a start job finished (JOB_RESULT)
START_FAILED = "be02cf6855d2428ba40df7e9d022f03d"
STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"
UNIT_FAILED = "d9b373ed55a64feb8242e02dbe79a49c"
UNIT_SUCCEEDED = "7ad2d189f7e94e70a38c781354912448"
AUTO_RESTART = "5eb03494b6584870a536b337290809b3"

SERVICES = {  # long-running units of the kit
    "nginx.service": "nginx (portal)",
    "difusor-publisher.service": "publicador",
    "rsync.service": "receptor rsync",
}
ONESHOTS = {  # units that run and exit: a failure lasts until the next success
    "difusor-monitor.service": "monitor de frescura",
    "certbot.service": "renovación del certificado",
}
PUBLISHER_UNITS = ("difusor-publisher.service", "difusor-monitor.service")


@dataclass(frozen=True)
class Event:
    """One publisher/monitor log line."""

    ts: datetime
    name: str
    fields: dict[str, Any]


def publisher_events(files: list[Path], journal: Path | None) -> list[Event]:
    """The publisher's log lines in time order; from the journal when there is no log file."""
    records: Iterable[dict[str, Any]] = json_lines(files)
    if not files and journal is not None:
        records = _journal_publisher_lines(journal)
    events = []
    for record in records:
        ts = _instant(record.get("ts"))
        if ts is not None and isinstance(record.get("event"), str):
            events.append(Event(ts, record["event"], record))
    events.sort(key=lambda e: e.ts)
    return events


def _journal_publisher_lines(journal: Path) -> Iterable[dict[str, Any]]:
    for entry in json_lines([journal]):
        message = entry.get("MESSAGE")
        if entry.get("_SYSTEMD_UNIT") in PUBLISHER_UNITS and isinstance(message, str):
            record = json_object(message)
            if record is not None:
                yield record


def cortes(events: list[Event], period: Period) -> list[Corte]:
    """Every corte published (or recovered after a crash) in the period, in order."""
    found = []
    for corte in _publications(events):
        if period.start <= corte.published <= period.end:
            found.append(corte)
    return found


def _publications(events: list[Event]) -> list[Corte]:
    found = []
    for event in events:
        if event.name not in ("published", "recovered"):
            continue
        corte = _instant(event.fields.get("corte"))
        if corte is None:
            continue
        latency = event.fields.get("latency_s")
        received = (
            event.ts - timedelta(seconds=latency) if isinstance(latency, int | float) else None
        )
        found.append(
            Corte(
                package=str(event.fields.get("package", "")),
                corte=corte,
                received=received,
                published=event.ts,
                recovered=event.name == "recovered",
            )
        )
    return found


def rejections(events: list[Event], period: Period) -> list[dict[str, Any]]:
    return [
        {
            "package": e.fields.get("package"),
            "reason": e.fields.get("reason"),
            "detail": e.fields.get("detail"),
            "rejected": e.ts,
        }
        for e in events
        if e.name == "rejected" and period.start <= e.ts <= period.end
    ]


def alerts(events: list[Event], period: Period) -> list[dict[str, Any]]:
    """The monitor's alerts (level changes it alerted on) in the period."""
    return [
        {"ts": e.ts, "level": e.fields.get("level"), "previous": e.fields.get("previous")}
        for e in events
        if e.name == "freshness" and e.fields.get("alert") and period.start <= e.ts <= period.end
    ]


@dataclass(frozen=True)
class Staleness:
    incidents: list[Incident]
    stale_s: int
    critical_s: int


def staleness(
    events: list[Event], window: Period, period_minutes: int, grace_minutes: int
) -> Staleness:
    """When the live corte was older than one period (and three) inside ``window``."""
    step = timedelta(minutes=period_minutes)
    grace = timedelta(minutes=grace_minutes)
    publications = sorted(_publications(events), key=lambda c: c.published)
    reference: datetime | None = window.start  # the monitor's reference before any corte
    for corte in publications:
        if corte.published <= window.start:
            reference = corte.corte
    # segments of constant reference: [start, end) with the corte live then
    segments: list[tuple[datetime, datetime, datetime | None]] = []
    cursor = window.start
    for corte in publications:
        if window.start < corte.published <= window.end:
            segments.append((cursor, corte.published, reference))
            cursor, reference = corte.published, corte.corte
    segments.append((cursor, window.end, reference))

    spans: list[list[Any]] = []  # [start, end, critical_start, critical_s, worst_age_s]
    for start, end, ref in segments:
        if ref is None:
            continue
        stale_from = max(start, ref + grace + step)
        if stale_from >= end:
            continue
        critical_from = max(start, ref + grace + 3 * step)
        critical_s = max(0.0, (end - critical_from).total_seconds())
        worst = (end - ref).total_seconds()
        if spans and spans[-1][1] == stale_from:  # still stale across a publication
            spans[-1][1] = end
            spans[-1][3] += critical_s
            spans[-1][4] = max(spans[-1][4], worst)
            if spans[-1][2] is None and critical_s:
                spans[-1][2] = critical_from
        else:
            spans.append(
                [stale_from, end, critical_from if critical_s else None, critical_s, worst]
            )
    incidents = []
    for start, end, critical_start, critical_s, worst in spans:
        effect = (
            f"El corte publicado tuvo más de {period_minutes} min de antigüedad "
            f"(hasta {_minutes(worst)})"
        )
        if critical_start is not None:
            effect += (
                f"; nivel crítico (tres periodos sin corte nuevo) durante {_minutes(critical_s)}"
                f" desde las {critical_start.astimezone(window.start.tzinfo):%H:%M:%S}"
            )
        detail = {"worst_age_s": int(worst), "critical_s": int(critical_s)}
        if critical_start is not None:
            detail["critical_start"] = critical_start
        incidents.append(Incident("stale", start, end, effect + ".", detail))
    return Staleness(
        incidents=incidents,
        stale_s=sum(i.duration_s for i in incidents),
        critical_s=sum(int(span[3]) for span in spans),
    )


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def package_incidents(events: list[Event], period: Period) -> list[Incident]:
    """Rejections and the publisher's own incidents, each until publication resumed."""
    found: list[Incident] = []
    open_: dict[str, tuple[Event, int]] = {}  # kind -> first event, count of lines
    publications = [e for e in events if e.name in ("published", "recovered")]

    def next_publication(after: datetime) -> datetime:
        later = [e.ts for e in publications if e.ts > after]
        return min(later[0], period.end) if later else period.end

    def close(kind: str, end: datetime) -> None:
        first, lines = open_.pop(kind)
        found.append(_publisher_incident(kind, first, end, lines))

    for event in events:
        if event.name in ("published", "recovered"):
            for waiting in [k for k in open_ if k != "cdn-purge"]:
                close(waiting, event.ts)
        if event.name == "purged" and "cdn-purge" in open_:
            close("cdn-purge", event.ts)
        kind = _publisher_kind(event)
        if kind == "rejected-package":
            package = event.fields.get("package")
            found.append(
                Incident(
                    kind,
                    event.ts,
                    next_publication(event.ts),
                    f"Paquete {package} rechazado ({event.fields.get('reason')}): no se publicó; "
                    "el portal siguió mostrando el corte anterior hasta la siguiente publicación.",
                    {"package": package, "reason": event.fields.get("reason")},
                )
            )
        elif kind is not None:
            first, lines = open_.get(kind, (event, 0))
            open_[kind] = (first, lines + 1)
    for kind in list(open_):
        close(kind, period.end)
    return [i for i in found if i.end >= period.start and i.start <= period.end]


def _publisher_kind(event: Event) -> str | None:
    reason = event.fields.get("reason")
    if event.name == "rejected":
        return "rejected-package"
    if event.name == "purge-failed" or (event.name == "incident" and reason == "purge-error"):
        return "cdn-purge"
    if event.name == "incident":
        return "disk" if reason == "disk-full" else "publisher-error"
    if event.name == "config-error":
        return "publisher-error"
    return None


def _publisher_incident(kind: str, first: Event, end: datetime, lines: int) -> Incident:
    reason = first.fields.get("reason") or first.name
    package = first.fields.get("package")
    effect = {
        "disk": f"Disco lleno: el paquete {package} esperó en la entrada sin publicarse; el portal "
        "siguió en el corte anterior.",
        "publisher-error": f"Error del publicador ({reason}): la publicación se detuvo; el portal "
        "siguió en el corte anterior.",
        "cdn-purge": "La purga de la CDN falló: la CDN pudo servir el corte anterior hasta la "
        "siguiente purga exitosa.",
    }[kind]
    return Incident(kind, first.ts, end, effect, {"reason": reason, "log_lines": lines})


def journal_incidents(journal: Path | None, period: Period) -> list[Incident]:
    """Unit failures, restarts and host reboots from a ``journalctl -o json`` export."""
    if journal is None:
        return []
    entries = []
    for entry in json_lines([journal]):
        try:
            ts = datetime.fromtimestamp(int(entry["__REALTIME_TIMESTAMP"]) / 1e6, timezone.utc)
        except (KeyError, TypeError, ValueError):
            continue
        entries.append((ts, entry))
    entries.sort(key=lambda pair: pair[0])

    found: list[Incident] = []
    down: dict[
        str, tuple[datetime, str, str | None, int]
    ] = {}  # unit -> start, cause, boot, restarts
    previous: tuple[datetime, str | None] | None = None
    for ts, entry in entries:
        boot = entry.get("_BOOT_ID")
        if previous is not None and boot and previous[1] and boot != previous[1]:
            found.append(
                Incident(
                    "host-restart",
                    previous[0],
                    ts,
                    "El servidor se reinició: el portal y la publicación no estuvieron "
                    "disponibles mientras arrancaba.",
                )
            )
        previous = (ts, boot)
        unit, message = entry.get("UNIT"), entry.get("MESSAGE_ID")
        if unit in SERVICES:
            if message in (UNIT_FAILED, START_FAILED, STOPPING) and unit not in down:
                cause = "stopped" if message == STOPPING else "failed"
                down[unit] = (ts, cause, boot, 0)
            elif message == AUTO_RESTART and unit in down:
                start, _, start_boot, restarts = down[unit]
                down[unit] = (start, "failed", start_boot, restarts + 1)
            elif (
                message == JOB_STARTED
                and entry.get("JOB_RESULT", "done") == "done"
                and (unit in down)
            ):
                start, cause, start_boot, restarts = down.pop(unit)
                if cause == "failed" or start_boot == boot:  # a reboot is reported once
                    found.append(_service_incident(unit, start, ts, cause, restarts))
        elif unit in ONESHOTS:
            if message in (UNIT_FAILED, START_FAILED) and unit not in down:
                down[unit] = (ts, "failed", boot, 0)
            elif message in (UNIT_SUCCEEDED, JOB_STARTED) and unit in down:
                start, cause, _, restarts = down.pop(unit)
                found.append(_service_incident(unit, start, ts, cause, restarts))
    for unit, (start, cause, _, restarts) in down.items():
        found.append(_service_incident(unit, start, period.end, cause, restarts))
    return [i for i in found if i.end >= period.start and i.start <= period.end]


def _service_incident(
    unit: str, start: datetime, end: datetime, cause: str, restarts: int
) -> Incident:
    if unit == "certbot.service":
        return Incident(
            "certificate",
            start,
            end,
            "La renovación del certificado TLS falló; el certificado vigente siguió en uso.",
            {"unit": unit},
        )
    name = SERVICES.get(unit) or ONESHOTS[unit]
    if cause == "stopped":
        effect = f"Servicio {name} detenido y vuelto a iniciar (reinicio)."
        kind = "service-restart"
    else:
        effect = f"Falla del servicio {name}" + (
            f"; systemd lo reinició {restarts} vez/veces." if restarts else "."
        )
        kind = "service-failure"
    if unit == "nginx.service":
        effect += " El portal no respondió mientras estuvo detenido."
    elif unit == "difusor-publisher.service":
        effect += " Los paquetes que llegaron esperaron a que volviera."
    return Incident(kind, start, end, effect, {"unit": unit, "restarts": restarts})


def burst_incidents(bursts: list[Burst]) -> list[Incident]:
    return [
        Incident(
            "5xx-burst",
            b.start,
            b.end,
            f"{b.errors:,} respuestas de error del servidor (5xx) de {b.hits:,} solicitudes.",
            {"errors": b.errors, "hits": b.hits},
        )
        for b in bursts
    ]


def clipped(incidents: list[Incident], period: Period) -> list[Incident]:
    """Incidents limited to the period, in start order."""
    result = []
    for i in incidents:
        start, end = max(i.start, period.start), min(i.end, period.end)
        if start <= end:
            result.append(Incident(i.kind, start, end, i.effect, i.detail))
    return sorted(result, key=lambda i: (i.start, i.kind))


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None
