"""The memoria técnica (2024 VII.a; 2018 II): figures and documents from a copy of a host's logs.

Runs on the sysadmin's machine, offline, from a **copy** of what the host logged. The copy
mirrors the host's paths under one directory (everything optional except that there must be
access logs or publisher logs)::

    COPY/
      var/log/nginx/access.log*          the portal's JSON access logs: access.log,
                                         access.log.1, access.log.2.gz, and the kit's
                                         logrotate names access.log-YYYYMMDD-EPOCH[.gz]
      var/log/difusor/publisher.log*     the publisher's and the monitor's JSON lines,
                                         rotated the same way
      var/lib/difusor/monitor.json       the monitor's last level and alert
      etc/difusor/publisher.json         the publisher's settings: timezone, period_minutes,
                                         grace_minutes, window_start, window_end
      journal.json[.gz]                  `journalctl -o json -u nginx -u difusor-publisher
                                         -u difusor-monitor -u rsync -u certbot` for the period
                                         (unit failures, restarts, reboots; the publisher's
                                         lines too, used when publisher.log is missing)
      notas.md                           the operator's notes (format: difusor.report.notes)
      cdn-analytics.json                 the CDN's own counts for the period (behind a CDN:
                                         difusor.report.cloudflare writes it)

Other files are ignored (those that look like a log but have another name are listed in
report.json's ``inputs.ignored``). Whatever fetches the copy must only read from the host.

API (what the ``difusor report`` command calls)::

    from difusor.report import ReportOptions, build_report
    report = build_report(copy_dir, period_from, period_to, out_dir,
                          ReportOptions(difusor="prep.example.com.mx"))
    print(report.summary)          # one line with the figures
    report.data                    # report.json as a dict; report.files: what was written

``period_from``/``period_to`` are datetimes, both included; naive ones are local times of
``options.timezone`` (default: the copy's publisher.json, else America/Mexico_City). Bad
input raises ``ValueError`` (``CopyError``, ``NotesError``) with a message naming the file
and the value, before anything is written.

Writes into ``out_dir``: ``report.json``, ``summary.csv``, ``pages.csv``, ``hourly.csv``,
``cortes.csv``, ``rejections.csv``, ``incidents.csv``, ``memoria-tecnica.html`` (self-contained)
and ``memoria-tecnica.pdf``. Definitions: :mod:`difusor.report.definitions`. Reader
statistics come, figure by figure, from the best source the copy has (the origin's access
logs; behind a CDN its analytics and the beacon: :mod:`difusor.report.sources`), or from a
:class:`TrafficSource` given; report.json's ``source`` names the one behind each figure.
Privacy: only aggregates leave the engine; no reader address, cookie or user agent is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from difusor import documents
from difusor.report.build import TrafficSource, collect, report_data
from difusor.report.copy import CopyError
from difusor.report.model import Period, ReportOptions
from difusor.report.notes import NotesError
from difusor.report.output import HTML_NAME, PDF_NAME, render_html, write_csvs, write_json
from difusor.report.sources import OriginLogs

__all__ = [
    "CopyError",
    "NotesError",
    "OriginLogs",
    "Period",
    "Report",
    "ReportOptions",
    "TrafficSource",
    "build_report",
]


@dataclass(frozen=True)
class Report:
    data: dict[str, Any]
    files: list[Path]

    @property
    def summary(self) -> str:
        d = self.data
        return (
            f"memoria técnica: {d['hits']:,} hits, {d['page_views']:,} page views, "
            f"{d['visitors']:,} visitors ({d['visitors_detail']['cookieless']:,} without cookies), "
            f"{d['visits']:,} visits, median time on site {d['time_on_site']['median_s']} s, "
            f"{len(d['cortes']):,} cortes, {len(d['rejections']):,} rejected, "
            f"{len(d['incidents']):,} incidents, stale {d['availability']['stale_s']} s"
        )


def build_report(
    copy_dir: Path | str,
    period_from: datetime,
    period_to: datetime,
    out_dir: Path | str,
    options: ReportOptions | None = None,
    traffic_source: TrafficSource | None = None,
) -> Report:
    """Compute the memoria técnica from ``copy_dir`` and write its files into ``out_dir``."""
    options = options or ReportOptions()
    collected = collect(copy_dir, period_from, period_to, options, traffic_source)
    data = report_data(collected)
    html = render_html(collected, data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(data, out / "report.json")
    files = [out / "report.json", *write_csvs(data, out)]
    (out / HTML_NAME).write_text(html, encoding="utf-8")
    files.append(out / HTML_NAME)
    if options.pdf:
        documents.write_pdf(html, out / PDF_NAME)
        files.append(out / PDF_NAME)
    return Report(data, files)
