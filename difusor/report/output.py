"""The memoria técnica's files: report.json, CSV tables, HTML and PDF."""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from difusor import documents
from difusor.report import charts
from difusor.report.build import KIND_LABELS, SOURCES, Collected

TEMPLATES = Path(__file__).resolve().parent / "templates"
HTML_NAME = "memoria-tecnica.html"
PDF_NAME = "memoria-tecnica.pdf"
TOP_PAGES = 20
ANNEX_PAGES = 2000

STATISTIC_NAMES = {
    "hits": "hits",
    "page_views": "páginas consultadas",
    "visitors": "visitantes",
    "visits": "visitas",
    "pages": "listado de páginas",
    "time_on_site": "tiempo de permanencia",
    "hourly": "cifras por hora",
    "status": "clases de respuesta",
    "peak": "pico de carga",
    "cortes": "cortes",
    "rejections": "rechazos",
    "alerts": "alertas",
    "availability": "disponibilidad",
    "incidents": "incidencias",
}

# CSV tables: file -> (key of report.json, columns)
TABLES = {
    "pages.csv": ("pages", ["path", "views"]),
    "hourly.csv": ("hourly", ["hour", "hits", "page_views", "visitors"]),
    "cortes.csv": ("cortes", ["package", "corte", "received", "published", "delay_s", "recovered"]),
    "rejections.csv": ("rejections", ["package", "reason", "detail", "rejected"]),
    "incidents.csv": ("incidents", ["kind", "start", "end", "duration_s", "effect"]),
}


def write_json(data: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_csvs(data: dict[str, Any], out_dir: Path) -> list[Path]:
    """One CSV per table of report.json, plus summary.csv; UTF-8 with BOM for spreadsheets."""
    written = []
    for name, (key, columns) in TABLES.items():
        written.append(
            _csv(out_dir / name, columns, [[row[c] for c in columns] for row in data[key]])
        )
    summary = [
        ["hits", data["hits"], data["source"]["hits"]],
        ["page_views", data["page_views"], data["source"]["page_views"]],
        ["visitors", data["visitors"], data["source"]["visitors"]],
        ["visitors_cookie", data["visitors_detail"]["cookie"], data["source"]["visitors"]],
        ["visitors_cookieless", data["visitors_detail"]["cookieless"], data["source"]["visitors"]],
        ["visits", data["visits"], data["source"]["visits"]],
        *[
            [f"time_on_site_{k}", v, data["source"]["time_on_site"]]
            for k, v in data["time_on_site"].items()
        ],
        *[
            [f"availability_{k}", v, data["source"]["availability"]]
            for k, v in data["availability"].items()
        ],
        ["period_from", data["period"]["from"], ""],
        ["period_to", data["period"]["to"], ""],
    ]
    written.append(_csv(out_dir / "summary.csv", ["statistic", "value", "source"], summary))
    return written


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def suggestions(c: Collected, data: dict[str, Any]) -> list[str]:
    """The kit's own measured figures for the improvement criteria (Spanish)."""
    items = []
    peak = data["peak"]
    if peak["requests_per_second"]:
        text = (
            f"Pico de carga: {peak['requests_per_second']:,} solicitudes en un segundo y "
            f"{peak['requests_per_minute']:,} en un minuto"
        )
        if c.options.capacity_rps:
            share = 100 * peak["requests_per_second"] / c.options.capacity_rps
            text += (
                f", frente a una capacidad medida de {c.options.capacity_rps:,.0f} solicitudes por "
                f"segundo ({share:.0f} % de ella)"
                + (
                    ": la capacidad tuvo holgura."
                    if share < 50
                    else ": conviene ampliar la capacidad o poner una CDN delante del portal."
                )
            )
        else:
            text += (
                ": compárelo con la capacidad medida del servidor para dimensionar la próxima "
                "elección."
            )
        items.append(text)
    if c.cortes:
        delay = data["corte_delay"]
        kit = [
            (corte.published - corte.received).total_seconds()
            for corte in c.cortes
            if corte.received
        ]
        items.append(
            f"Retraso de los cortes: {documents.duration(delay['median_s'])} en la mediana y "
            f"{documents.duration(delay['max_s'])} como máximo desde la hora del corte; "
            "el kit tardó "
            f"{documents.duration(statistics.median(kit) if kit else None)} en la mediana desde la "
            "recepción: el resto corresponde a la generación y el envío de los paquetes."
        )
    if c.rejections:
        reasons = Counter(str(r["reason"]) for r in c.rejections)
        items.append(
            f"Paquetes rechazados: {len(c.rejections):,} ("
            + ", ".join(f"{reason}: {n}" for reason, n in reasons.most_common())
            + "). Revisar con el instituto la generación y el envío de los paquetes."
        )
    items.append(
        f"Frescura: el corte publicado estuvo vencido {documents.duration(c.stale_s)} "
        f"({data['availability']['stale_percent']:.2f} % del tiempo de cortes)"
        + (f", {documents.duration(c.critical_s)} en nivel crítico." if c.critical_s else ".")
    )
    if data["visitors"]:
        share = 100 * data["visitors_detail"]["cookieless"] / data["visitors"]
        items.append(
            f"Lectores sin cookies: {share:.1f} % de los visitantes; se cuentan por dirección y "
            "navegador por día, por lo que varios lectores detrás de una misma red cuentan "
            "como uno."
        )
    errors = data["status"]["5xx"]
    if data["hits"]:
        items.append(
            f"Errores del servidor: {errors:,} respuestas 5xx ({100 * errors / data['hits']:.3f} % "
            f"de los hits) y {len(c.origin.bursts_5xx):,} ráfagas."
        )
    return items


def render_html(c: Collected, data: dict[str, Any]) -> str:
    uri = documents.image_uri
    chart_images = {
        "hourly": uri(charts.hourly(c.readers.hourly, c.period, c.zone)),
        "cortes": uri(charts.corte_delays(c.cortes, c.zone)),
        "timeline": uri(charts.incident_timeline(c.incidents, KIND_LABELS, c.period, c.zone)),
    }
    kit = [(k.published - k.received).total_seconds() for k in c.cortes if k.received]
    by_source: dict[str, list[str]] = {}
    for statistic, name in data["source"].items():
        for source in name if isinstance(name, list) else [name]:
            by_source.setdefault(source, []).append(STATISTIC_NAMES[statistic])
    env = documents.environment(TEMPLATES)
    return env.get_template("memoria-tecnica.html.j2").render(
        title="Memoria técnica",
        c=c,
        data=data,
        zone=c.zone,
        notes=c.notes,
        labels=KIND_LABELS,
        kind_counts=Counter(i.kind for i in c.incidents).most_common(),
        charts=chart_images,
        kit_latency={
            "median": statistics.median(kit) if kit else None,
            "max": max(kit) if kit else None,
        },
        top_pages=data["pages"][:TOP_PAGES],
        annex_pages=data["pages"][:ANNEX_PAGES],
        suggestions=suggestions(c, data),
        source_names=SOURCES,
        sources_used=[(name, ", ".join(stats)) for name, stats in by_source.items()],
    )
