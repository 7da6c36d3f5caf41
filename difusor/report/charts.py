"""The memoria técnica's charts, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from difusor.report.model import Corte, Hour, Incident, Period

BLUE, LIGHT_BLUE, ORANGE, RED, GREY = "#123a5e", "#7fa7cc", "#c98a00", "#b3261e", "#5a6470"
WIDTH_IN = 7.0
DPI = 200

plt.rcParams.update(
    {
        "font.family": "DejaVu Sans",
        "font.size": 8,
        "axes.edgecolor": GREY,
        "axes.labelcolor": "#1d2329",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#dde3e9",
        "grid.linewidth": 0.6,
        "xtick.color": GREY,
        "ytick.color": GREY,
    }
)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _time_axis(axis, period: Period, zone: ZoneInfo) -> None:
    axis.set_xlim(period.start, period.end)
    days = (period.end - period.start).total_seconds() / 86400
    if days > 2:
        axis.xaxis.set_major_locator(mdates.DayLocator(tz=zone))
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m", tz=zone))
        if days <= 10:
            axis.xaxis.set_minor_locator(mdates.HourLocator(byhour=[6, 12, 18], tz=zone))
    else:
        axis.xaxis.set_major_locator(mdates.AutoDateLocator(tz=zone, maxticks=10))
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m\n%H:%M", tz=zone))


def hourly(hours: list[Hour], period: Period, zone: ZoneInfo) -> bytes:
    """Hits (top) and visitors (bottom) per hour, every hour of the period."""
    by_hour = {h.start: h for h in hours}
    start = period.start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    slots: list[datetime] = []
    while start <= period.end:
        slots.append(start)
        start += timedelta(hours=1)
    hits = [by_hour[s].hits if s in by_hour else 0 for s in slots]
    visitors = [by_hour[s].visitors if s in by_hour else 0 for s in slots]
    width = 1 / 24 * 0.9
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(WIDTH_IN, 4.2), sharex=True)
    x = mdates.date2num(slots)
    top.bar(x, hits, width=width, align="edge", color=BLUE, linewidth=0)
    top.set_ylabel("Hits por hora")
    bottom.bar(x, visitors, width=width, align="edge", color=LIGHT_BLUE, linewidth=0)
    bottom.set_ylabel("Visitantes por hora")
    for axis in (top, bottom):
        axis.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        _time_axis(axis, period, zone)
    bottom.set_xlabel(f"Día/mes, hora local ({zone.key})")
    figure.align_ylabels()
    return _png(figure)


def corte_delays(cortes: list[Corte], zone: ZoneInfo) -> bytes:
    """Per corte: minutes from the corte time to reception, and from reception to online."""
    figure, axis = plt.subplots(figsize=(WIDTH_IN, 2.8))
    if cortes:
        times = mdates.date2num([c.corte for c in cortes])
        waiting = [
            max(0.0, ((c.received or c.published) - c.corte).total_seconds() / 60) for c in cortes
        ]
        kit = [
            max(0.0, (c.published - (c.received or c.published)).total_seconds() / 60)
            for c in cortes
        ]
        span = float(times.max() - times.min()) if len(times) > 1 else 1.0
        width = max(span / max(len(cortes), 1) * 0.8, 1 / 24 / 60 * 5)
        axis.bar(
            times,
            waiting,
            width=width,
            color=LIGHT_BLUE,
            linewidth=0,
            label="del corte a la recepción del paquete",
        )
        axis.bar(
            times,
            kit,
            bottom=waiting,
            width=width,
            color=ORANGE,
            linewidth=0,
            label="de la recepción a la publicación (el kit)",
        )
        axis.legend(loc="upper right", frameon=False)
    else:
        axis.text(
            0.5,
            0.5,
            "Sin cortes publicados en el periodo",
            transform=axis.transAxes,
            ha="center",
            va="center",
            color=GREY,
        )
    axis.set_ylabel("Minutos")
    if cortes:
        margin = timedelta(minutes=30)
        _time_axis(axis, Period(cortes[0].corte - margin, cortes[-1].corte + margin), zone)
    axis.set_xlabel(f"Hora del corte ({zone.key})")
    return _png(figure)


def incident_timeline(
    incidents: list[Incident], labels: dict[str, str], period: Period, zone: ZoneInfo
) -> bytes:
    """One lane per kind of incident; each incident a bar from its start to its end."""
    kinds = [k for k in labels if any(i.kind == k for i in incidents)]
    height = 0.9 + 0.32 * max(len(kinds), 1)
    figure, axis = plt.subplots(figsize=(WIDTH_IN, height))
    minimum = (period.end - period.start) / 400  # short incidents stay visible
    for lane, kind in enumerate(kinds):
        spans = [
            (mdates.date2num(i.start), mdates.date2num(i.start + max(i.end - i.start, minimum)))
            for i in incidents
            if i.kind == kind
        ]
        color = RED if kind in ("stale", "service-failure", "host-restart") else ORANGE
        axis.broken_barh([(a, b - a) for a, b in spans], (lane - 0.35, 0.7), color=color)
    axis.set_yticks(range(len(kinds)), [labels[k] for k in kinds])
    axis.set_ylim(-0.7, max(len(kinds), 1) - 0.3)
    axis.invert_yaxis()
    axis.grid(axis="y", visible=False)
    if not kinds:
        axis.set_yticks([])
        axis.text(
            0.5,
            0.5,
            "Sin incidencias en el periodo",
            transform=axis.transAxes,
            ha="center",
            va="center",
            color=GREY,
        )
    _time_axis(axis, period, zone)
    axis.xaxis_date(zone)
    axis.set_xlabel(f"Día/mes, hora local ({zone.key})")
    return _png(figure)
