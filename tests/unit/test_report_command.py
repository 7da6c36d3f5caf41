"""`difusor report`: its period, its defaults from the settings, and an offline run from a copy."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from difusor import cli
from difusor.report.fetch import MANIFEST
from difusor.report_command import Defaults, report_period
from difusor.settings import SettingsError

from .test_report_document import make_copy

MEXICO = ZoneInfo("America/Mexico_City")
AFTER_THE_WINDOW = datetime(2024, 7, 1, tzinfo=timezone.utc)


def test_the_default_period_is_the_publication_window():
    defaults = Defaults(publication_start=datetime(2024, 6, 2, 20, 0))
    start, end, notes = report_period(None, None, defaults, AFTER_THE_WINDOW)
    assert start == datetime(2024, 6, 2, 20, 0, tzinfo=MEXICO)
    assert end == datetime(2024, 6, 9, 23, 59, 59, tzinfo=MEXICO)
    assert notes == []


def test_without_publication_start_the_start_must_be_given():
    with pytest.raises(SettingsError) as error:
        report_period(None, None, Defaults(), AFTER_THE_WINDOW)
    (problem,) = error.value.problems
    assert problem.startswith("--from: needed, because publication_start is not set")
    assert "23:59:59 of the seventh day after" in problem


def test_dates_are_whole_days_and_offsets_are_kept():
    start, end, _ = report_period("2024-06-02", "2024-06-03", Defaults(), AFTER_THE_WINDOW)
    assert start == datetime(2024, 6, 2, 0, 0, tzinfo=MEXICO)
    assert end == datetime(2024, 6, 3, 23, 59, 59, tzinfo=MEXICO)
    start, _, _ = report_period("2024-06-02T20:00-05:00", None, Defaults(), AFTER_THE_WINDOW)
    assert start.utcoffset() == timedelta(hours=-5)


def test_a_window_that_has_not_ended_is_reported_until_now():
    now = datetime(2024, 6, 3, 4, 30, 12, 500000, tzinfo=timezone.utc)
    defaults = Defaults(publication_start=datetime(2024, 6, 2, 20, 0))
    _, end, notes = report_period(None, None, defaults, now)
    assert end == datetime(2024, 6, 2, 22, 30, 12, 500000, tzinfo=MEXICO)  # what is logged
    assert notes == [
        "the period ends 2024-06-09 23:59:59, later than now: reported until 2024-06-02 22:30:12"
    ]


@pytest.mark.parametrize(
    "start, end, message",
    [
        (
            "2024-06-03T20:00",
            "2024-06-03T19:00",
            "--to: the period ends 2024-06-03 19:00:00, not after",
        ),
        ("ayer", None, "--from: 'ayer' is not a date or date-time"),
    ],
)
def test_a_bad_period_is_named(start, end, message):
    with pytest.raises(SettingsError) as error:
        report_period(start, end, Defaults(), AFTER_THE_WINDOW)
    assert error.value.problems[0].startswith(message)


def test_settings_give_the_reports_defaults(valid_data):
    from difusor.settings import parse_settings

    settings = parse_settings(
        {
            **valid_data,
            "timezone": "America/Hermosillo",
            "publication_start": "2024-06-02T20:00",
            "corte_period_minutes": 10,
            "report_page_patterns": ["^/resultados/[a-z]+$"],
            "cdn_networks": ["198.51.100.0/24"],
        }
    )
    defaults = Defaults.from_settings(settings)
    assert defaults == Defaults(
        timezone="America/Hermosillo",
        difusor="prep.example.com.mx",
        publication_start=datetime(2024, 6, 2, 20, 0),
        period_minutes=10,
        page_patterns=("^/resultados/[a-z]+$",),
        behind_cdn=True,
    )
    assert Defaults.from_json(json.loads(json.dumps(defaults.as_json()))) == defaults


def test_a_bad_page_pattern_is_refused_with_its_value(valid_data):
    from difusor.settings import parse_settings

    with pytest.raises(SettingsError) as error:
        parse_settings({**valid_data, "report_page_patterns": ["(?!x)", "["]})
    assert error.value.problems == [
        "report_page_patterns[0]: '(?!x)': lookarounds and backreferences are not supported (RE2)",
        "report_page_patterns[1]: '[' is not a regular expression "
        "(unterminated character set at position 0)",
    ]


def write_inventory(tmp_path, hosts: dict[str, dict]) -> str:
    path = tmp_path / "inventory.py"
    path.write_text(
        textwrap.dedent(f"""
        servers = [(name, data) for name, data in {hosts!r}.items()]
    """)
    )
    return str(path)


def test_no_period_and_no_publication_start_stops_before_connecting(
    valid_data, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # no group_data/ here
    inventory = write_inventory(tmp_path, {"prep": valid_data})
    assert cli.main(["report", "--inventory", inventory, "--out", str(tmp_path / "m")]) == 2
    assert "report: --from: needed, because publication_start is not set" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_an_inventory_of_several_hosts_needs_host(valid_data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    inventory = write_inventory(tmp_path, {"prep1": valid_data, "prep2": valid_data})
    assert cli.main(["report", "--inventory", inventory, "--from", "2024-06-02"]) == 2
    assert "--host: the inventory has several hosts (prep1, prep2): choose one" in (
        capsys.readouterr().err
    )


def test_offline_from_a_copy_without_an_inventory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    copy = make_copy(tmp_path / "copia", notes=False)
    out = tmp_path / "memoria"
    argv = ["report", "--from-copy", str(copy), "--from", "2024-06-02T20:00"]
    argv += ["--to", "2024-06-02T23:59:59", "--out", str(out), "--no-pdf"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("memoria técnica: 22 hits, 10 page views, 5 visitors")
    assert str(out / "memoria-tecnica.html") in printed
    data = json.loads((out / "report.json").read_text())
    assert data["period"]["from"] == "2024-06-02T20:00:00-06:00" and data["hits"] == 22
    assert not (out / "memoria-tecnica.pdf").exists()


def test_offline_from_a_missing_copy_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["report", "--from-copy", str(tmp_path / "nada"), "--from", "2024-06-02", "--no-pdf"]
    assert cli.main(argv) == 2
    assert "bad copy: copy directory" in capsys.readouterr().err


def test_offline_a_fetched_copy_needs_no_secrets_and_keeps_its_settings(
    valid_data, tmp_path, monkeypatch, capsys
):
    """On a machine without the server's .env, --from-copy of a copy this command fetched
    builds with the settings saved in the copy (here its portal name and time zone), even
    when an inventory is there whose settings could not be read without those secrets."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIFUSOR_RSYNC_PASSWORD")
    inventory = write_inventory(tmp_path, {"prep": valid_data})
    copy = make_copy(tmp_path / "copia", notes=False)
    saved = Defaults(timezone="America/Mexico_City", difusor="prep.guardado.example")
    (copy / MANIFEST).write_text(json.dumps({"host": "prep", "settings": saved.as_json()}))
    argv = ["report", "--inventory", inventory, "--from-copy", str(copy)]
    argv += ["--from", "2024-06-02T20:00", "--to", "2024-06-02T23:59:59"]
    argv += ["--out", str(tmp_path / "memoria"), "--no-pdf"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "memoria" / "report.json").read_text())
    assert (data["difusor"], data["hits"]) == ("prep.guardado.example", 22)
    (copy / MANIFEST).unlink()  # a copy made by hand: the inventory's settings, so its secrets
    assert cli.main(argv) == 2
    assert "DIFUSOR_RSYNC_PASSWORD" in capsys.readouterr().err
