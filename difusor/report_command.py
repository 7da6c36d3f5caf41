"""``difusor report``: the memoria técnica of one host, from its own logs.

    difusor report [--inventory FILE] [--host NAME] [--from WHEN] [--to WHEN] [--out DIR]
    difusor report --from-copy DIR --from WHEN --to WHEN [--out DIR]      # offline

It fetches, reading only (:mod:`difusor.report.fetch`), the host's access logs (rotated and
compressed ones too), the publisher's log, the monitor's state, publisher.json and a journal
export of the kit's units for the period into a local copy (``--copy``, default
``OUT/copia``), adds the CDN's own analytics when the portal is behind Cloudflare, then builds
the report (:func:`difusor.report.build_report`) into ``--out``. ``--from-copy`` builds again
from a copy, offline.

The period: ``--from``/``--to`` (local times of the settings' ``timezone``; a bare date means
the start or the end of that day); by default the publication window, ``publication_start``
to 23:59:59 of the seventh day after. Without ``publication_start`` in the settings, ``--from``
is needed. A period that has not ended yet is reported until now. Offline, the settings are
those the copy was fetched with (kept in its manifest, ``copia.json``), so no ``.env`` is
needed; a copy made otherwise takes the inventory's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from difusor.cli import add_inventory_arguments
from difusor.settings import SettingsError

if TYPE_CHECKING:
    from difusor.inventory import InventoryHost
    from difusor.report.model import ReportOptions
    from difusor.settings import Settings

HELP = "build the memoria técnica from the host's logs (fetched read-only over SSH)"
DEFAULT_OUT = Path("memoria")
COPY_NAME = "copia"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser, one_host=True)
    parser.add_argument(
        "--from",
        dest="start",
        metavar="WHEN",
        help="start of the period, e.g. 2024-06-02T20:00 (default: publication_start)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="WHEN",
        help="end of the period, included (default: 23:59:59 of the seventh day after the start)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})"
    )
    copy = parser.add_mutually_exclusive_group()
    copy.add_argument(
        "--copy", type=Path, help=f"where to keep the copy of the logs (default: OUT/{COPY_NAME})"
    )
    copy.add_argument("--from-copy", type=Path, metavar="DIR", help="build from this copy, offline")
    parser.add_argument(
        "--notes", type=Path, help="operator's notes (default: notas.md in the copy)"
    )
    parser.add_argument(
        "--capacity-rps", type=float, help="the portal's measured capacity, requests per second"
    )
    parser.add_argument("--no-pdf", action="store_true", help="HTML, JSON and CSV only")


@dataclass(frozen=True)
class Defaults:
    """What the report takes from the settings (or, offline, from the copy's manifest)."""

    timezone: str = "America/Mexico_City"
    difusor: str | None = None
    publication_start: datetime | None = None  # local, naive
    period_minutes: int | None = None
    page_patterns: tuple[str, ...] = ()
    behind_cdn: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Defaults:
        return cls(
            timezone=settings.timezone,
            difusor=settings.portal_domain,
            publication_start=settings.publication_start,
            period_minutes=settings.corte_period_minutes,
            page_patterns=tuple(settings.report_page_patterns),
            behind_cdn=settings.cdn != "none" or bool(settings.cdn_networks),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "publication_start": self.publication_start.isoformat()
            if self.publication_start
            else None,
            "page_patterns": list(self.page_patterns),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Defaults:
        start = data.get("publication_start")
        return cls(
            **{
                **data,
                "publication_start": datetime.fromisoformat(start) if start else None,
                "page_patterns": tuple(data.get("page_patterns") or ()),
            }
        )


def moment(text: str, zone: str, end: bool = False) -> datetime:
    """A ``--from``/``--to`` value: ISO date-time (local time of ``zone`` unless it has an
    offset), or a date: its first second, or with ``end`` its last."""
    try:
        if "T" not in text and " " not in text:
            day = date.fromisoformat(text)
            value = datetime.combine(day, time(23, 59, 59) if end else time(0, 0))
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        option = "--to" if end else "--from"
        raise SettingsError(
            [f"{option}: {text!r} is not a date or date-time such as 2024-06-02T20:00"]
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


def report_period(
    start: str | None, end: str | None, defaults: Defaults, now: datetime
) -> tuple[datetime, datetime, list[str]]:
    """The period to report on, and what the operator should know about it."""
    from difusor.report.model import window_end

    zone = ZoneInfo(defaults.timezone)
    notes = []
    if start is not None:
        first = moment(start, defaults.timezone)
    elif defaults.publication_start is not None:
        first = defaults.publication_start.replace(tzinfo=zone)
    else:
        raise SettingsError(
            [
                "--from: needed, because publication_start is not set in the settings (the "
                "default period is the publication window: publication_start to 23:59:59 of "
                "the seventh day after)"
            ]
        )
    last = moment(end, defaults.timezone, end=True) if end is not None else window_end(first)
    if last > now:
        notes.append(
            f"the period ends {last.astimezone(zone):%Y-%m-%d %H:%M:%S}, later than now: "
            f"reported until {now.astimezone(zone):%Y-%m-%d %H:%M:%S}"
        )
        # to the microsecond: what was logged in the current second is in (logs have ms)
        last = now.astimezone(zone)
    if last <= first:
        raise SettingsError(
            [
                f"--to: the period ends {last:%Y-%m-%d %H:%M:%S}, "
                f"not after its start {first:%Y-%m-%d %H:%M:%S}"
            ]
        )
    return first, last, notes


def run(args: argparse.Namespace) -> int:
    from difusor.report import build_report
    from difusor.report.copy import CopyError

    now = datetime.now(timezone.utc)
    offline = args.from_copy is not None
    copy_dir: Path = args.from_copy or args.copy or args.out / COPY_NAME
    # Offline, the settings the copy was fetched with: a machine without the server's .env
    # (secrets the report does not use) can build the report again.
    defaults = _fetched_defaults(copy_dir) if offline else None
    host, settings = (None, None) if defaults else _host(args, offline)
    if defaults is None:
        defaults = Defaults.from_settings(settings) if settings else _copy_defaults(copy_dir)
    start, end, notes = report_period(args.start, args.end, defaults, now)
    for note in notes:
        print(f"difusor report: {note}", file=sys.stderr)
    if not offline:
        assert host is not None and settings is not None
        status = _fetch(host, settings, defaults, start, end, copy_dir)
        if status:
            return status
    try:
        report = build_report(copy_dir, start, end, args.out, _options(args, defaults))
    except ValueError as error:  # CopyError, NotesError: a bad copy or notes file
        kind = "copy" if isinstance(error, CopyError) else "input"
        print(f"difusor report: bad {kind}: {error}", file=sys.stderr)
        return 2
    print(report.summary)
    print(f"difusor report: {', '.join(str(f) for f in report.files if f.suffix != '.csv')}")
    return 0


def _host(args: argparse.Namespace, offline: bool) -> tuple[InventoryHost | None, Settings | None]:
    """The host and its settings; offline without an inventory file, neither."""
    from difusor.inventory import load_inventory, select_hosts

    if offline and not args.inventory.startswith("@") and not os.path.isfile(args.inventory):
        return None, None
    hosts = select_hosts(load_inventory(args.inventory), args.host)
    if len(hosts) > 1:
        names = ", ".join(host.name for host in hosts)
        raise SettingsError([f"--host: the inventory has several hosts ({names}): choose one"])
    return hosts[0], hosts[0].settings()


def _fetched_defaults(copy_dir: Path) -> Defaults | None:
    """The settings the copy was fetched with (its manifest), if it has them."""
    from difusor.report.fetch import MANIFEST

    try:
        manifest = json.loads((copy_dir / MANIFEST).read_text())
        return Defaults.from_json(manifest["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _copy_defaults(copy_dir: Path) -> Defaults:
    """Offline, a copy not fetched by this command and no inventory: the time zone of the
    host's publisher.json in the copy."""
    from difusor.report.copy import CopyError, open_copy

    try:
        return Defaults(timezone=open_copy(copy_dir).publisher_config.timezone)
    except CopyError:
        return Defaults()  # build_report says what is wrong with the copy


def _fetch(
    host: InventoryHost,
    settings: Settings,
    defaults: Defaults,
    start: datetime,
    end: datetime,
    copy_dir: Path,
) -> int:
    """Pull the copy (and the CDN's analytics) for the period; an exit status when it fails."""
    from difusor.remote import Remote, SshTarget
    from difusor.report import cloudflare, fetch
    from difusor.report.copy import CDN_ANALYTICS
    from difusor.report.model import Period

    period = Period(start, end)
    try:
        with Remote(SshTarget.from_host(host)) as remote:
            fetched = fetch.fetch(remote, period, copy_dir)
    except (fetch.FetchError, OSError) as error:
        print(f"difusor report: {error}", file=sys.stderr)
        return 1
    manifest = copy_dir / fetch.MANIFEST
    content = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**content, "settings": defaults.as_json()}, indent=2) + "\n")
    print(
        f"difusor report: {len(fetched.files)} files and the journal "
        f"({fetched.bytes / 1e6:.1f} MB) from {host.name} in {copy_dir}",
        file=sys.stderr,
    )
    cdn_file = copy_dir / CDN_ANALYTICS
    cdn_file.unlink(missing_ok=True)  # never the figures of another period
    if settings.cdn != "cloudflare":
        return 0
    if not (settings.cloudflare_zone_id and settings.cdn_token):
        print(
            "difusor report: cdn = cloudflare but cloudflare_zone_id or DIFUSOR_CDN_TOKEN is not "
            "set: hits and page views come from the origin's logs and undercount",
            file=sys.stderr,
        )
        return 0
    try:
        analytics = cloudflare.fetch_analytics(
            settings.cloudflare_zone_id, settings.cdn_token.get_secret_value(), period
        )
    except cloudflare.CloudflareError as error:
        print(
            f"difusor report: {error}; hits and page views come from the origin's logs and "
            "undercount",
            file=sys.stderr,
        )
        return 0
    cdn_file.write_text(json.dumps(analytics) + "\n")
    return 0


def _options(args: argparse.Namespace, defaults: Defaults) -> ReportOptions:
    from difusor.report.model import Period, ReportOptions, window_end

    window = None
    if defaults.publication_start is not None:
        start = defaults.publication_start.replace(tzinfo=ZoneInfo(defaults.timezone))
        window = Period(start, window_end(start))
    return ReportOptions(
        timezone=defaults.timezone,
        difusor=defaults.difusor,
        page_patterns=defaults.page_patterns,
        period_minutes=defaults.period_minutes,
        window=window,
        behind_cdn=defaults.behind_cdn,
        capacity_rps=args.capacity_rps,
        notes=args.notes,
        pdf=not args.no_pdf,
    )
