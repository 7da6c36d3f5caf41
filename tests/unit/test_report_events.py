"""Cortes, rejections and incidents of the memoria técnica (difusor.report.events), with times
worked out by hand from the publisher's log lines and a journal export."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from difusor.report import events
from difusor.report.copy import CopyError, open_copy
from difusor.report.model import Period

LOCAL = timezone(timedelta(hours=-6))
WINDOW = Period(
    datetime(2024, 6, 2, 20, 0, tzinfo=LOCAL), datetime(2024, 6, 2, 23, 0, tzinfo=LOCAL)
)


def at(hhmmss: str) -> datetime:
    """A local time on election night, e.g. at("20:16:30")."""
    parts = [int(p) for p in hhmmss.split(":")] + [0]
    return datetime(2024, 6, 2, parts[0], parts[1], parts[2], tzinfo=LOCAL)


def record(when: str, event: str, **fields) -> dict:
    return {"ts": at(when).isoformat(timespec="milliseconds"), "event": event, **fields}


def published(when: str, corte: str, latency_s: float = 0.5) -> dict:
    name = f"20240602_{corte.replace(':', '')}_PREP_VER.zip"
    return record(when, "published", package=name, corte=at(corte).isoformat(), latency_s=latency_s)


def night(tmp_path: Path, lines: list[dict]) -> list[events.Event]:
    log = tmp_path / "publisher.log"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return events.publisher_events([log], None)


# A simulacro: a bad package at 20:30 and nothing for the 20:45 corte.
SIMULACRO = [
    published("20:01:00", "20:00"),
    published("20:16:00", "20:15"),
    record(
        "20:31:00",
        "rejected",
        package="20240602_2030_PREP_VER.zip",
        reason="bad-crc",
        detail="'a.csv' fails its CRC-32",
    ),
    published("21:01:30", "21:00"),
    published("21:16:00", "21:15"),
]
SIMULACRO_WINDOW = Period(at("20:00"), at("21:20"))


def test_cortes_have_their_reception_publication_and_delay(tmp_path):
    cortes = events.cortes(night(tmp_path, SIMULACRO), WINDOW)
    assert [c.package for c in cortes] == [
        "20240602_2000_PREP_VER.zip",
        "20240602_2015_PREP_VER.zip",
        "20240602_2100_PREP_VER.zip",
        "20240602_2115_PREP_VER.zip",
    ]
    first = cortes[0]
    assert first.published == at("20:01:00")
    assert first.received == at("20:01:00") - timedelta(seconds=0.5)
    assert first.delay_s == 60.0


def test_a_rejection_and_a_gap_are_incidents_with_their_times(tmp_path):
    log = night(tmp_path, SIMULACRO)
    assert events.rejections(log, WINDOW) == [
        {
            "package": "20240602_2030_PREP_VER.zip",
            "reason": "bad-crc",
            "detail": "'a.csv' fails its CRC-32",
            "rejected": at("20:31:00"),
        }
    ]
    [rejected] = events.package_incidents(log, WINDOW)
    assert (rejected.kind, rejected.start, rejected.end) == (
        "rejected-package",
        at("20:31:00"),
        at("21:01:30"),
    )
    assert "bad-crc" in rejected.effect

    stale = events.staleness(log, SIMULACRO_WINDOW, period_minutes=15, grace_minutes=0)
    # 20:00 was live until 20:16: older than 15 min from 20:15. 20:15 was live until 21:01:30:
    # older than 15 min from 20:30, three periods (critical) from 21:00. 21:00 until 21:16.
    assert [(i.start, i.end) for i in stale.incidents] == [
        (at("20:15:00"), at("20:16:00")),
        (at("20:30:00"), at("21:01:30")),
        (at("21:15:00"), at("21:16:00")),
    ]
    assert stale.incidents[1].detail == {
        "worst_age_s": 46 * 60 + 30,
        "critical_s": 90,
        "critical_start": at("21:00:00"),
    }
    assert "crítico" in stale.incidents[1].effect
    assert (stale.stale_s, stale.critical_s) == (60 + 31 * 60 + 30 + 60, 90)


def test_grace_minutes_shift_the_stale_periods_as_the_monitor_counts_them(tmp_path):
    stale = events.staleness(night(tmp_path, SIMULACRO), SIMULACRO_WINDOW, 15, grace_minutes=2)
    assert [(i.start, i.end) for i in stale.incidents] == [(at("20:32:00"), at("21:01:30"))]
    assert stale.critical_s == 0  # critical only from 21:02


def test_before_the_first_corte_the_age_counts_from_the_window_start(tmp_path):
    log = night(tmp_path, [published("20:20:00", "20:15")])
    stale = events.staleness(log, Period(at("20:00"), at("20:40")), 15, 0)
    assert [(i.start, i.end) for i in stale.incidents] == [
        (at("20:15:00"), at("20:20:00")),
        (at("20:30:00"), at("20:40:00")),  # to the end of the evaluated window
    ]


def test_the_publishers_repeated_incident_lines_are_one_incident_until_publication(tmp_path):
    log = night(
        tmp_path,
        [
            published("20:01:00", "20:00"),
            record(
                "20:16:00",
                "incident",
                package="20240602_2015_PREP_VER.zip",
                reason="disk-full",
                detail="No space left on device",
            ),
            record(
                "20:17:00",
                "incident",
                package="20240602_2015_PREP_VER.zip",
                reason="disk-full",
                detail="No space left on device",
            ),
            record("20:17:05", "purge-failed", detail="HTTP 500"),
            published("20:19:00", "20:15"),
            record("20:25:00", "purged", retry=True),
            record("20:40:00", "config-error", detail="period_minutes"),
        ],
    )
    found = {i.kind: i for i in events.package_incidents(log, WINDOW)}
    assert (found["disk"].start, found["disk"].end) == (at("20:16:00"), at("20:19:00"))
    assert found["disk"].detail == {"reason": "disk-full", "log_lines": 2}
    assert (found["cdn-purge"].start, found["cdn-purge"].end) == (at("20:17:05"), at("20:25:00"))
    # never resolved in the period: lasts until its end
    assert (found["publisher-error"].start, found["publisher-error"].end) == (
        at("20:40:00"),
        WINDOW.end,
    )


def journal_entry(when: str, unit: str, message_id: str, boot: str = "b1", **extra) -> str:
    stamp = int(at(when).timestamp() * 1_000_000)
    entry = {
        "__REALTIME_TIMESTAMP": str(stamp),
        "UNIT": unit,
        "MESSAGE_ID": message_id,
        "_BOOT_ID": boot,
        "MESSAGE": f"{unit}: something",
        **extra,
    }
    return json.dumps(entry)


def test_unit_failures_restarts_reboots_and_certificates_from_the_journal(tmp_path):
    journal = tmp_path / "journal.json"
    journal.write_text(
        "\n".join(
            [
                # nginx fails, systemd restarts it twice, it runs again at 20:10:07
                journal_entry("20:10:00", "nginx.service", events.UNIT_FAILED),
                journal_entry("20:10:02", "nginx.service", events.AUTO_RESTART),
                journal_entry("20:10:05", "nginx.service", events.AUTO_RESTART),
                journal_entry("20:10:07", "nginx.service", events.JOB_STARTED, JOB_RESULT="done"),
                # an operator restarts the publisher
                journal_entry("20:30:00", "difusor-publisher.service", events.STOPPING),
                journal_entry(
                    "20:30:01", "difusor-publisher.service", events.JOB_STARTED, JOB_RESULT="done"
                ),
                # the certificate renewal fails, and succeeds at the next try
                journal_entry("20:40:00", "certbot.service", events.UNIT_FAILED),
                journal_entry("21:40:00", "certbot.service", events.UNIT_SUCCEEDED),
                # a reboot: nginx stops in one boot and starts in the next (reported once)
                journal_entry("22:00:00", "nginx.service", events.STOPPING),
                journal_entry(
                    "22:01:30", "nginx.service", events.JOB_STARTED, boot="b2", JOB_RESULT="done"
                ),
                # the monitor fails and never runs again in the period
                journal_entry("22:30:00", "difusor-monitor.service", events.UNIT_FAILED, boot="b2"),
                # not a kit unit
                journal_entry("22:40:00", "cron.service", events.UNIT_FAILED, boot="b2"),
            ]
        )
        + "\n"
    )
    found = [
        (i.kind, i.start, i.end, i.detail.get("unit"))
        for i in events.clipped(events.journal_incidents(journal, WINDOW), WINDOW)
    ]
    assert found == [
        ("service-failure", at("20:10:00"), at("20:10:07"), "nginx.service"),
        ("service-restart", at("20:30:00"), at("20:30:01"), "difusor-publisher.service"),
        ("certificate", at("20:40:00"), at("21:40:00"), "certbot.service"),
        ("host-restart", at("22:00:00"), at("22:01:30"), None),
        ("service-failure", at("22:30:00"), WINDOW.end, "difusor-monitor.service"),
    ]
    nginx = events.journal_incidents(journal, WINDOW)[0]
    assert nginx.detail["restarts"] == 2


def test_without_publisher_log_its_lines_are_read_from_the_journal(tmp_path):
    line = json.dumps(published("20:01:00", "20:00"))
    journal = tmp_path / "journal.json"
    journal.write_text(
        json.dumps(
            {
                "__REALTIME_TIMESTAMP": "1",
                "_SYSTEMD_UNIT": "difusor-publisher.service",
                "MESSAGE": line,
            }
        )
        + "\n"
        + json.dumps(
            {"__REALTIME_TIMESTAMP": "2", "_SYSTEMD_UNIT": "nginx.service", "MESSAGE": line}
        )
        + "\n"
    )
    log = events.publisher_events([], journal)
    assert [e.name for e in log] == ["published"]


def test_incidents_are_clipped_to_the_period(tmp_path):
    stale = events.staleness(night(tmp_path, SIMULACRO), SIMULACRO_WINDOW, 15, 0)
    inside = Period(at("20:45"), at("21:10"))
    [clipped] = events.clipped(stale.incidents, inside)
    assert (clipped.start, clipped.end, clipped.duration_s) == (at("20:45"), at("21:01:30"), 990)


def test_a_bad_copy_is_refused_with_a_message_naming_the_problem(tmp_path):
    with pytest.raises(CopyError, match="does not exist"):
        open_copy(tmp_path / "missing")
    with pytest.raises(CopyError, match=r"holds neither var/log/nginx/access\.log"):
        open_copy(tmp_path)
    (tmp_path / "var/log/nginx").mkdir(parents=True)
    (tmp_path / "var/log/nginx/access.log").write_text("")
    config = tmp_path / "etc/difusor/publisher.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"timezone": "America/Veracruz"}))
    with pytest.raises(CopyError, match="timezone 'America/Veracruz' is not a known time zone"):
        open_copy(tmp_path)
    config.write_text(json.dumps({"window_start": "2024-06-02T20:00", "period_minutes": 0}))
    with pytest.raises(CopyError, match="period_minutes 0 is not a valid number of minutes"):
        open_copy(tmp_path)
    config.write_text(json.dumps({"window_start": "2024-06-02T20:00"}))
    window = open_copy(tmp_path).publisher_config
    assert window.window_start is not None
    assert window.window_end == datetime(2024, 6, 9, 23, 59, 59, tzinfo=window.window_start.tzinfo)
