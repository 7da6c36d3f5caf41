"""Which files `difusor report` pulls from a host (difusor.report.fetch.plan), the commands it
runs there (reading only), and the local copy it keeps."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from difusor.report import fetch
from difusor.report.fetch import RemoteFile, parse_listing, plan
from difusor.report.model import Period

LOCAL = timezone(timedelta(hours=-6))
NGINX = "/var/log/nginx"


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, second, tzinfo=LOCAL)


def rotated(day: int) -> str:
    """The kit's logrotate name for the log rotated at local midnight of ``day``."""
    moment = at(day)
    return f"{NGINX}/access.log-{moment:%Y%m%d}-{int(moment.timestamp())}"


def remote(path: str, modified: datetime, size: int = 1000) -> RemoteFile:
    return RemoteFile(path, size, modified.astimezone(timezone.utc))


def names(files: list[RemoteFile]) -> list[str]:
    return [f.path for f in files]


def test_the_listing_is_parsed():
    text = (
        "1717394400.1234567890\t2048\t/var/log/nginx/access.log-20240603-1717394400.gz\n"
        "1717480800.0000000000\t0\t/var/lib/difusor/monitor.json\n"
    )
    first, second = parse_listing(text)
    assert first.path.endswith(".gz") and first.size == 2048
    assert first.modified == datetime(2024, 6, 3, 6, 0, 0, 123457, tzinfo=timezone.utc)
    assert first.rotated_at == datetime(2024, 6, 3, 6, 0, tzinfo=timezone.utc)
    assert second.rotated_at is None


def test_only_the_access_logs_that_can_hold_the_period_are_pulled():
    files = [
        remote(f"{NGINX}/access.log", at(10, 12)),  # live, since the rotation of the 10th
        remote(rotated(10), at(9, 23, 59, 59)),  # the 9th
        remote(rotated(9) + ".gz", at(9, 0, 0, 1)),  # the 8th, mtime kept by gzip
        remote(rotated(8) + ".gz", at(9, 0, 25)),  # the 7th, compressed a day later
        remote(rotated(7) + ".gz", at(6, 23, 59)),  # the 6th
        remote(rotated(3) + ".gz", at(2, 23, 59)),  # long before
        remote(f"{NGINX}/access.log.1", at(1, 23)),  # from before the kit
        remote(f"{NGINX}/access.log.2.gz", at(7, 22)),  # old name, written in the period
        remote(f"{NGINX}/error.log", at(10, 12)),
        remote(f"{NGINX}/access.log.bak", at(10, 12)),
        remote("/var/log/difusor/publisher.log", at(10, 11)),
        remote("/var/log/difusor/publisher.log-20240603-1717394400.gz", at(3)),
        remote("/var/lib/difusor/monitor.json", at(10, 12)),
        remote("/etc/difusor/publisher.json", at(1)),
    ]
    chosen = names(plan(files, Period(at(7, 20), at(8, 20))))
    assert chosen == [
        "/etc/difusor/publisher.json",
        "/var/lib/difusor/monitor.json",
        # the publisher's logs whole: the live corte may have been published long before
        "/var/log/difusor/publisher.log",
        "/var/log/difusor/publisher.log-20240603-1717394400.gz",
        "/var/log/nginx/access.log-20240608-" + rotated(8).rsplit("-", 1)[1] + ".gz",
        "/var/log/nginx/access.log-20240609-" + rotated(9).rsplit("-", 1)[1] + ".gz",
        "/var/log/nginx/access.log.2.gz",
    ]


def test_a_period_before_any_rotation_still_reads_the_live_log():
    files = [remote(f"{NGINX}/access.log", at(2, 21))]
    assert names(plan(files, Period(at(2, 20), at(2, 20, 30)))) == [f"{NGINX}/access.log"]


def history(rng: random.Random, days: int) -> tuple[list[RemoteFile], dict[str, list[datetime]]]:
    """A month of rotations as the kit's logrotate makes them, with the lines of each file:
    rotation near midnight, nginx writing into the renamed file until it reopens it, the
    previous day's file compressed (its mtime kept, or the compression time), and two files
    named otherwise from before the kit."""
    lines: dict[str, list[datetime]] = {}
    files = []
    old = [at(1) - timedelta(days=2, hours=rng.randrange(24)) for _ in range(40)]
    lines[f"{NGINX}/access.log.2.gz"] = sorted(old)
    lines[f"{NGINX}/access.log.1"] = sorted(
        at(1) - timedelta(seconds=rng.randrange(80000)) for _ in range(40)
    )
    for path, written in lines.items():
        files.append(remote(path, max(written)))
    previous = at(1)
    for day in range(2, days + 1):
        moment = at(day) + timedelta(seconds=rng.randrange(-60, 60))
        written = [
            *sorted(
                previous
                + timedelta(seconds=rng.randrange(int((moment - previous).total_seconds())))
                for _ in range(60)
            ),
            moment + timedelta(seconds=rng.random()),  # before nginx reopened it
        ]
        name = f"{NGINX}/access.log-{moment:%Y%m%d}-{int(moment.timestamp())}"
        compressed = day < days
        if compressed:
            name += ".gz"
        modified = max(written)
        if compressed and rng.random() < 0.5:
            modified = moment + timedelta(days=1, seconds=30)  # the compression's own time
        lines[name] = written
        files.append(remote(name, modified))
        previous = moment
    live = sorted(previous + timedelta(seconds=rng.randrange(40000)) for _ in range(30))
    lines[f"{NGINX}/access.log"] = live
    files.append(remote(f"{NGINX}/access.log", max(live)))
    return files, lines


def test_no_file_with_a_line_of_the_period_is_ever_left_behind():
    rng = random.Random(2024)
    files, lines = history(rng, 30)
    first, last = at(1) - timedelta(days=3), at(1) + timedelta(days=30)
    span = int((last - first).total_seconds())
    for _ in range(400):
        start = first + timedelta(seconds=rng.randrange(span))
        period = Period(start, start + timedelta(seconds=rng.choice([60, 3600, 86400, 8 * 86400])))
        needed = {
            p for p, times in lines.items() if any(period.start <= t <= period.end for t in times)
        }
        chosen = set(names(plan(files, period)))
        assert needed <= chosen, (period, needed - chosen)
        # and it does not pull the whole month for one day
        if period.end - period.start <= timedelta(days=1):
            assert len(chosen) <= len(needed) + 4


def test_the_journal_export_covers_the_period_and_a_day_before():
    period = Period(at(2, 20), at(9, 23, 59, 59))
    command = fetch.journal_command(period)
    assert command.startswith("journalctl -q -o json --no-pager ")
    assert f"--since=@{int(at(1, 20).timestamp())}" in command
    assert f"--until=@{int(at(9, 23, 59, 59).timestamp()) + 1}" in command
    for unit in ("nginx", "difusor-publisher", "difusor-monitor", "rsync", "certbot"):
        assert f"-u {unit}.service" in command


@pytest.mark.parametrize("command", [fetch.LISTING, fetch.journal_command(Period(at(2), at(3)))])
def test_the_commands_run_on_the_host_only_read(command):
    program = command.split()[0]
    assert program in ("find", "journalctl")
    words = (" -delete", " -exec", "--rotate", "--vacuum", ">")
    assert not any(word in command.replace("2>/dev/null", "") for word in words)


def test_the_copy_forgets_files_the_plan_no_longer_names(tmp_path: Path):
    """A log pulled once uncompressed, and compressed since on the host, must not be counted
    twice; the operator's notes and the reports beside the copy stay."""
    copy = tmp_path / "copia"
    (copy / "var/log/nginx").mkdir(parents=True)
    for name in ("access.log", "access.log-20240609-1717912800", "error.log"):
        (copy / "var/log/nginx" / name).write_text("x\n")
    (copy / "var/lib/difusor").mkdir(parents=True)
    (copy / "var/lib/difusor/monitor.json").write_text("{}")
    (copy / "notas.md").write_text("## Criterios de mejora\n- ...\n")
    fetch._forget_unplanned(
        copy, {"/var/log/nginx/access.log", "/var/log/nginx/access.log-20240609-1717912800.gz"}
    )
    assert sorted(p.name for p in (copy / "var/log/nginx").iterdir()) == ["access.log", "error.log"]
    assert not (copy / "var/lib/difusor/monitor.json").exists()
    assert (copy / "notas.md").exists()
