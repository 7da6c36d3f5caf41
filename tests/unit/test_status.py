"""difusor status: what the probe's output says about a host, and when a human is needed."""

import json

import pytest

from difusor.status import SECTION, SERVICES, host_status, line, split_sections

NOW = 1717384500  # 2024-06-03T03:15:00Z, 21:15 in Mexico City


def probe_output(
    publisher: dict | None = None,
    services: dict | None = None,
    disk: str = "/dev/sda1 100000000000 20000000000 80000000000 20% /",
    certificate: str = "notAfter=Aug 31 03:15:00 2024 GMT",
    tracking: str = "System time : 0.000012000 seconds fast of NTP time\nLeap status : Normal",
) -> str:
    """What the probe command prints for a healthy host, with the parts given replaced."""
    document = {
        "live": {"corte": "2024-06-02T21:00:00-06:00", "package": "20240602_2100_PREP_VER.zip"},
        "pending": [],
        "monitor": {"level": "ok", "checked_at": "2024-06-02T21:14:30-06:00"},
        "health": {"missed_periods": 0},
        "last_rejection": None,
    } | (publisher or {})
    states = dict.fromkeys(SERVICES, ("loaded", "active")) | (services or {})
    units = "\n\n".join(
        f"Id={unit}\nLoadState={load}\nActiveState={active}"
        for unit, (load, active) in states.items()
    )
    sections = {
        "now": str(NOW),
        "publisher": json.dumps(document, indent=2),
        "services": units,
        "disk": disk,
        "certificate": certificate,
        "time": tracking,
    }
    return "\n".join(f"{SECTION}{name}\n{text}" for name, text in sections.items())


def status_of(**parts):
    return host_status("prep1", split_sections(probe_output(**parts)))


def test_a_healthy_host_is_ok_and_its_line_says_everything():
    status = status_of()
    assert status.ok, status.problems
    assert status.corte_age_seconds == 15 * 60
    assert status.certificate_days == 89.0
    assert status.ntp_offset_seconds == pytest.approx(0.000012)
    text = line(status)
    assert text.startswith("prep1: OK  corte 2024-06-02 21:00 (15 min)  monitor ok")
    assert f"services {len(SERVICES)}/{len(SERVICES)}" in text
    assert "rejection none" in text
    assert "disk 74.5 GiB free (80%)" in text
    assert "cert 89 d" in text and "ntp +0.000012 s" in text
    assert "\n" not in text


def test_certbots_timer_counts_only_where_acme_installed_it():
    assert status_of(services={"certbot.timer": ("not-found", "inactive")}).ok
    status = status_of(services={"certbot.timer": ("loaded", "failed")})
    assert status.problems == ["certbot.timer: failed"]


@pytest.mark.parametrize(
    ("parts", "problem"),
    [
        (
            {
                "publisher": {
                    "monitor": {"level": "critical", "checked_at": "2024-06-02T21:14:30-06:00"}
                }
            },
            "monitor: critical",
        ),
        (
            {"publisher": {"monitor": {"level": "ok", "checked_at": "2024-06-02T21:05:00-06:00"}}},
            "monitor: has not run for 10 min",
        ),
        ({"services": {"nginx.service": ("loaded", "failed")}}, "nginx.service: failed"),
        ({"services": {"rsync.service": ("not-found", "inactive")}}, "rsync.service: missing"),
        (
            {
                "publisher": {
                    "last_rejection": {
                        "package": "X.zip",
                        "reason": "zip-bomb",
                        "published_since": False,
                    }
                }
            },
            "last package rejected: X.zip (zip-bomb)",
        ),
        (
            {"disk": "/dev/sda1 100000000000 95000000000 5000000000 95% /"},
            "disk: only 4.7 GiB free",
        ),
        ({"disk": "df: /srv/difusor: No such file or directory"}, "disk: /srv/difusor cannot"),
        ({"certificate": "notAfter=Jun 10 03:15:00 2024 GMT"}, "certificate: expires in 7 days"),
        ({"certificate": "Could not open file"}, "certificate: cannot be read"),
        ({"tracking": "506 Cannot talk to daemon"}, "time: not synchronised"),
        (
            {"tracking": "System time : 2.5 seconds slow of NTP time\nLeap status : Normal"},
            "time: offset -2.500 s",
        ),
        ({"publisher": {"live": None, "monitor": None}}, "monitor: has not run"),
    ],
)
def test_each_trouble_needs_a_human(parts, problem):
    status = status_of(**parts)
    assert not status.ok
    assert any(found.startswith(problem) for found in status.problems), status.problems
    assert line(status).split(": ", 1)[1].startswith("ATTENTION")
    assert problem in line(status)


def test_a_rejection_followed_by_a_publication_is_history_not_trouble():
    rejection = {"package": "X.zip", "reason": "zip-bomb", "published_since": True}
    status = status_of(publisher={"last_rejection": rejection})
    assert status.ok
    assert "rejection X.zip zip-bomb" in line(status)


def test_a_host_without_the_publisher_is_not_ok():
    output = probe_output().replace('"live"', "not json")
    status = host_status("prep1", split_sections(output))
    assert "publisher: its status cannot be read (is the host deployed?)" in status.problems
