"""Fetch what a report needs from a host into a local copy (layout: :mod:`difusor.report`),
reading only: a listing (``find``), the journal (``journalctl``) and an rsync pull. Nothing on
the host is written, moved or rotated.

Which files (:func:`plan`): the publisher's logs and the monitor's and publisher's state files
whole (they are small, and the live corte at the start of the period may have been published
long before it); of the access logs, only those that can hold a line of the period. A log
file's last line is no later than its modification time (gzip keeps it, or sets a later one);
the kit's rotated names (``access.log-YYYYMMDD-EPOCH``) also say when the file was rotated,
so the file after it holds no line older than that. Files named otherwise (``access.log.1``)
are kept whenever their last write is not before the period.

Example::

    with Remote(SshTarget.from_host(host)) as remote:
        fetched = fetch(remote, period, Path("memoria/copia"))
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from difusor.remote import Remote
from difusor.report.copy import (
    ACCESS_LOG,
    JOURNAL,
    MONITOR_STATE,
    PUBLISHER_CONFIG,
    PUBLISHER_LOG,
    is_log_file,
)
from difusor.report.model import Period

# The copy's paths are the host's, relative to /.
LOGS = {f"/{ACCESS_LOG}", f"/{PUBLISHER_LOG}"}
STATE_FILES = (f"/{MONITOR_STATE}", f"/{PUBLISHER_CONFIG}")
MANAGED_DIRS = sorted({str(PurePosixPath(p).parent) for p in (*LOGS, *STATE_FILES)})
# Read-only: a listing of the candidates, with their last write and size.
LISTING = (
    f"find {' '.join(sorted({str(PurePosixPath(log).parent) for log in LOGS}))} "
    f"{' '.join(STATE_FILES)} -maxdepth 1 -type f -printf '%T@\\t%s\\t%p\\n' 2>/dev/null; exit 0"
)

# The kit's units (their failures, restarts and the publisher's own lines).
JOURNAL_UNITS = (
    "nginx.service",
    "difusor-publisher.service",
    "difusor-monitor.service",
    "rsync.service",
    "certbot.service",
)
# A unit that failed before the period and came back inside it needs its failure too.
JOURNAL_LEAD = timedelta(days=1)
# Log lines are written up to a second after their time (nginx's buffer), and rotation
# renames a file a moment before nginx reopens it: bounds are widened by this much.
SLACK = timedelta(minutes=5)
MANIFEST = "copia.json"
_ROTATED_AT = re.compile(r"-\d{8}-(\d+)(?:\.gz)?$")


class FetchError(RuntimeError):
    """The host could not be read (SSH, sudo or rsync failed); the message says which."""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # absolute, on the host
    size: int
    modified: datetime

    @property
    def rotated_at(self) -> datetime | None:
        """When logrotate renamed it, from the kit's ``-YYYYMMDD-EPOCH`` names."""
        match = _ROTATED_AT.search(self.path)
        return datetime.fromtimestamp(int(match.group(1)), timezone.utc) if match else None


def parse_listing(text: str) -> list[RemoteFile]:
    """The output of :data:`LISTING`."""
    files = []
    for line in text.splitlines():
        modified, size, path = line.split("\t", 2)
        files.append(
            RemoteFile(path, int(size), datetime.fromtimestamp(float(modified), timezone.utc))
        )
    return files


def plan(files: list[RemoteFile], period: Period) -> list[RemoteFile]:
    """The files of the listing that the report of ``period`` needs (see the module doc)."""
    chosen = [f for f in files if f.path in STATE_FILES or _is_log(f.path, f"/{PUBLISHER_LOG}")]
    access = [f for f in files if _is_log(f.path, f"/{ACCESS_LOG}")]
    rotations = sorted(r for f in access if (r := f.rotated_at) is not None)
    for f in access:
        rotated = f.rotated_at
        # The rotation that started this file: the last one before its own (for the live
        # file, the last of all); unknown for files not named by the kit.
        if rotated is None and PurePosixPath(f.path).name != PurePosixPath(ACCESS_LOG).name:
            started = None
        else:
            started = max((r for r in rotations if rotated is None or r < rotated), default=None)
        if f.modified < period.start - SLACK:
            continue  # its last line is older than the period
        if started is not None and started > period.end + SLACK:
            continue  # its first line is newer than the period
        chosen.append(f)
    return sorted(chosen, key=lambda f: f.path)


def _is_log(path: str, log: str) -> bool:
    """Whether the host path ``path`` is the log ``log`` or one of its rotated files."""
    candidate, base = PurePosixPath(path), PurePosixPath(log)
    return candidate.parent == base.parent and is_log_file(base.name, candidate.name)


def _managed(path: str) -> bool:
    """Whether a host path is one that fetches copy (and so may remove from the copy)."""
    return path in STATE_FILES or any(_is_log(path, log) for log in LOGS)


def journal_command(period: Period) -> str:
    """``journalctl`` export of the kit's units for the period (and a day before it)."""
    since = int((period.start - JOURNAL_LEAD).timestamp())
    until = int(period.end.timestamp()) + 1
    units = " ".join(f"-u {unit}" for unit in JOURNAL_UNITS)
    return f"journalctl -q -o json --no-pager --since=@{since} --until=@{until} {units}"


@dataclass(frozen=True)
class Fetched:
    files: list[RemoteFile]
    journal_bytes: int
    copy_dir: Path

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files) + self.journal_bytes


def fetch(remote: Remote, period: Period, copy_dir: Path) -> Fetched:
    """Pull into ``copy_dir`` what the report of ``period`` needs; return what was fetched.

    The copy mirrors the plan: files of an earlier fetch that the plan no longer names (a
    log since compressed under a new name, another period) are removed from the copy, so
    no line is counted twice. The copy holds readers' addresses: it is private (0700/0600).
    """
    listing = remote.run(LISTING)
    if listing.returncode != 0:
        raise FetchError(f"listing the logs on {remote.target.alias} failed: {_error(listing)}")
    files = plan(parse_listing(listing.stdout), period)
    copy_dir.mkdir(parents=True, exist_ok=True)
    copy_dir.chmod(0o700)
    if files:
        _pull(remote, [f.path for f in files], copy_dir)
    _forget_unplanned(copy_dir, {f.path for f in files})
    journal = _journal(remote, period, copy_dir)
    fetched = Fetched(files, journal, copy_dir)
    (copy_dir / MANIFEST).write_text(
        json.dumps(
            {
                "host": remote.target.alias,
                "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
                "files": [{"path": f.path, "size": f.size} for f in files],
                "journal": journal_command(period),
            },
            indent=2,
        )
        + "\n"
    )
    return fetched


def _pull(remote: Remote, paths: list[str], copy_dir: Path) -> None:
    argv = remote.rsync_argv(
        "--times",
        "--perms",
        "--chmod=D0700,F0600",
        "--compress",
        "--files-from=-",
        remote.remote_path("/"),
        f"{copy_dir}/",
    )
    result = subprocess.run(
        argv,
        input="".join(path.lstrip("/") + "\n" for path in paths),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    # 24: a file vanished between the listing and the pull (logrotate ran); the next file
    # of the rotation has its lines.
    if result.returncode not in (0, 24):
        raise FetchError(f"rsync from {remote.target.alias} failed: {_error(result)}")


def _forget_unplanned(copy_dir: Path, planned: set[str]) -> None:
    for directory in MANAGED_DIRS:
        local = copy_dir / directory.lstrip("/")
        for path in local.iterdir() if local.is_dir() else []:
            host_path = "/" + path.relative_to(copy_dir).as_posix()
            if path.is_file() and _managed(host_path) and host_path not in planned:
                path.unlink()


def _journal(remote: Remote, period: Period, copy_dir: Path) -> int:
    """The journal export, gzip-compressed into the copy; its compressed size."""
    plain = copy_dir / f".{JOURNAL}.partial"
    target = copy_dir / f"{JOURNAL}.gz"
    result = remote.run_to_file(journal_command(period), plain)
    if result.returncode != 0:
        plain.unlink(missing_ok=True)
        raise FetchError(f"journalctl on {remote.target.alias} failed: {_error(result)}")
    partial = target.with_name(f".{target.name}.partial")
    with plain.open("rb") as source, gzip.open(partial, "wb") as sink:
        shutil.copyfileobj(source, sink)
    plain.unlink()
    partial.chmod(0o600)
    partial.replace(target)
    (copy_dir / JOURNAL).unlink(missing_ok=True)  # an uncompressed one from elsewhere
    return target.stat().st_size


def _error(result: subprocess.CompletedProcess) -> str:
    stderr = (
        result.stderr.decode(errors="replace")
        if isinstance(result.stderr, bytes)
        else (result.stderr or "")
    )
    return stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {result.returncode}"
