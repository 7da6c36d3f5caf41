"""Freshness monitor: levels by missed periods, the publication window, healthz, webhook on
change."""

import json

import pytest
from srvtools import LocalHTTP

WINDOW = {"window_start": "2024-06-02T20:00", "period_minutes": 15}


@pytest.fixture()
def live(tree):
    tree.configure(**WINDOW)
    tree.put(tree.package("2024-06-02T21:00", 0.4))
    assert tree.publish().only("published")
    return tree


def health(tree):
    return json.loads(tree.healthz.read_text())


@pytest.mark.parametrize(
    "now,level,missed",
    [
        ("2024-06-02T21:05", "ok", 0),
        ("2024-06-02T21:14:59", "ok", 0),
        ("2024-06-02T21:15", "incident", 1),
        ("2024-06-02T21:31", "escalation", 2),
        ("2024-06-02T21:45", "critical", 3),
        ("2024-06-02T23:00", "critical", 8),
    ],
)
def test_levels_by_missed_periods(live, now, level, missed):
    result = live.monitor(now)
    assert result.rc == 0, result.stderr
    h = health(live)
    assert h["level"] == level and h["missed_periods"] == missed
    assert (
        h["corte"] == "2024-06-02T21:00:00-06:00" and h["package"] == "20240602_2100_PREP_VER.zip"
    )
    assert h["checked_at"].startswith(now[:16])
    assert h["status"] == ("ok" if level == "ok" else "stale")
    [ev] = result.only("freshness")
    assert ev["level"] == level
    assert ev["severity"] == (level if level != "ok" else "info")


def test_grace_minutes_shift_the_thresholds(live):
    live.configure(grace_minutes=5)
    live.monitor("2024-06-02T21:16")
    assert health(live)["level"] == "ok"
    live.monitor("2024-06-02T21:20")
    assert health(live)["level"] == "incident"


@pytest.mark.parametrize("now", ["2024-06-02T19:59", "2024-06-10T00:00:01", "2024-07-01T12:00"])
def test_outside_the_window_it_is_quiet(live, now):
    result = live.monitor(now)
    h = health(live)
    assert h["level"] == "outside-window" and h["status"] == "ok"
    assert all(e.get("alert") is False for e in result.events)
    assert all(e["severity"] == "info" for e in result.events)


def test_window_end_defaults_to_2359_of_day_plus_7(live):
    live.monitor("2024-06-09T23:59")
    assert health(live)["level"] == "critical"
    live.monitor("2024-06-10T00:00")
    assert health(live)["level"] == "outside-window"


def test_no_corte_yet_counts_from_the_window_start(tree):
    tree.configure(**WINDOW)
    tree.monitor("2024-06-02T20:10")
    assert health(tree)["level"] == "ok" and health(tree)["corte"] is None
    tree.monitor("2024-06-02T20:31")
    assert health(tree)["level"] == "escalation"


def test_webhook_only_on_level_changes(live):
    hook = LocalHTTP(default=(200, {}, 0))
    try:
        live.configure(alert_webhook=hook.url + "/alert")
        for now in ["2024-06-02T21:05", "2024-06-02T21:06", "2024-06-02T21:07"]:
            live.monitor(now)
        assert hook.requests == []  # ok from the start: nothing to say
        live.monitor("2024-06-02T21:16")
        live.monitor("2024-06-02T21:17")
        live.monitor("2024-06-02T21:18")
        assert [r["body"]["level"] for r in hook.requests] == ["incident"]
        live.monitor("2024-06-02T21:31")
        live.monitor("2024-06-02T21:46")
        live.monitor("2024-06-02T21:47")
        assert [r["body"]["level"] for r in hook.requests] == ["incident", "escalation", "critical"]
        body = hook.requests[-1]["body"]
        assert body["previous"] == "escalation" and body["missed_periods"] == 3
        assert body["corte"] == "2024-06-02T21:00:00-06:00" and "critical" in body["message"]
        # a new corte arrives: back to ok, announced once
        live.put(live.package("2024-06-02T21:45", 0.6))
        live.publish()
        live.monitor("2024-06-02T21:48")
        live.monitor("2024-06-02T21:49")
        assert [r["body"]["level"] for r in hook.requests] == [
            "incident",
            "escalation",
            "critical",
            "ok",
        ]
        # outside the window: no webhook
        live.monitor("2024-06-12T00:00")
        assert len(hook.requests) == 4
    finally:
        hook.close()


def test_a_failed_webhook_is_retried_until_delivered_once(live):
    hook = LocalHTTP(script=[(500, {}, 0)], default=(200, {}, 0))
    try:
        live.configure(alert_webhook=hook.url)
        live.monitor("2024-06-02T21:05")
        result = live.monitor("2024-06-02T21:16")
        assert [e["event"] for e in result.events] == ["freshness", "webhook-failed"]
        result = live.monitor("2024-06-02T21:17")
        assert result.events == []  # same level: no new log line, but the alert is delivered now
        assert [r["body"]["level"] for r in hook.requests] == ["incident", "incident"]
        live.monitor("2024-06-02T21:18")
        assert len(hook.requests) == 2
    finally:
        hook.close()


def test_healthz_is_written_atomically_every_run(live):
    live.monitor("2024-06-02T21:05")
    first = live.healthz.stat().st_ino
    live.monitor("2024-06-02T21:06")
    assert live.healthz.stat().st_ino != first  # replaced by rename, never rewritten in place
    assert health(live)["checked_at"].startswith("2024-06-02T21:06")
    assert [p.name for p in live.healthz.parent.iterdir()] == ["healthz.json"]
