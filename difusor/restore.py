"""
difusor restore: a backup (``difusor backup``) pushed onto a freshly deployed server, the last
published corte live again, the archive complete and verified by sha256 on the server.

    difusor restore --from BACKUPS/prep1 [--inventory inventory/production.py] [--host NAME]

    prep1: restored 98 archived files (verified by sha256 on the host), 98 outcomes merged;
           live corte 20240603_0015_PREP_VER.zip (made live again) in 41.8 s

Steps: the backup checked against its own manifest; the host's archive compared with it (a
file the host holds with other bytes refuses the restore before anything is written); the
archive pushed without overwriting any file (files the host has and the backup lacks are
newer, they stay); the publisher's ``restore`` (server/README.md) verifies every file by
sha256, merges the state and makes the last corte live unless a newer one is; the logs are
restored beside the host's own, under logrotate's names, so the memoria técnica has the
whole night; the fingerprints of the host's secrets are compared with the backed-up ones
(a different rsync password means the institute's uploads would fail).
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

from difusor import paths
from difusor.accounts import PUBLISHER_USER
from difusor.backup import (
    ARCHIVE,
    FINGERPRINTS,
    MANIFEST,
    PULLED,
    STATE,
    BackupError,
    conflicts_on_host,
    fingerprint_differences,
    host_fingerprints,
    host_manifest,
    read_manifest,
    rsync,
    verify_files,
)
from difusor.cli import add_inventory_arguments
from difusor.inventory import InventoryHost, load_inventory, select_hosts
from difusor.remote import Remote, SshTarget, publisher_program

HELP = "push a backup onto a freshly deployed host and bring its last corte live again"

STAGING = f"{paths.STATE_DIR}/restore"
# The logs that are restored (the configuration and monitor state are the new host's own).
LOG_DIRS = tuple((source, names) for source, names in PULLED if source.startswith("/var/log"))


def restored_log_name(name: str, live_name: str, epoch: int) -> str:
    """A live log of the lost host takes a rotated name (logrotate's ``dateext`` format of the
    kit, ``-YYYYMMDD-EPOCH`` at the backup's time) beside the new host's live log; rotated
    ones keep theirs."""
    if name != live_name:
        return name
    return f"{name}-{time.strftime('%Y%m%d', time.localtime(epoch))}-{epoch}"


def restore_logs(remote: Remote, directory: Path, epoch: int) -> int:
    """Push the backed-up logs beside the host's own, never over a file; how many."""
    count = 0
    with tempfile.TemporaryDirectory(prefix="difusor-logs-") as staging:
        for index, (source, patterns) in enumerate(LOG_DIRS):
            local = directory / source.lstrip("/")
            links = Path(staging) / str(index)
            links.mkdir()
            for pattern in patterns:
                live_name = pattern.rstrip("*")
                for path in sorted(local.glob(pattern)):
                    (links / restored_log_name(path.name, live_name, epoch)).symlink_to(path)
                    count += 1
            rsync(
                remote,
                "--copy-links",
                "--ignore-existing",
                "--omit-dir-times",
                # access logs name readers: never readable by everyone on the host
                "--chmod=F640",
                f"{links}/",
                remote.remote_path(source + "/"),
            )
    return count


def _server_restore(remote: Remote) -> tuple[int, dict[str, Any]]:
    command = (
        f"chown -R {PUBLISHER_USER}: {STAGING} && cd / && runuser -u {PUBLISHER_USER} -- "
        + publisher_program("restore", "--from", STAGING)
    )
    result = remote.run(command, timeout=1800)
    try:
        return result.returncode, json.loads(result.stdout)
    except ValueError:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackupError(f"the publisher's restore did not answer: {detail}") from None


def restore_host(host: InventoryHost, directory: Path) -> tuple[bool, str]:
    """Restore ``directory`` onto ``host``: (all well, the summary line). Raises BackupError
    when nothing was changed."""
    started = time.monotonic()
    backup = read_manifest(directory)
    if backup is None:
        raise BackupError(f"{directory / MANIFEST} does not exist: not a backup directory")
    missing, mismatched = verify_files(directory / ARCHIVE, backup["archive"])
    if missing or mismatched:
        raise BackupError(
            f"the backup is damaged: {len(missing)} archived files missing, "
            f"{len(mismatched)} with other bytes than its manifest says (e.g. "
            f"{(missing + mismatched)[0]})"
        )
    fingerprints = json.loads((directory / FINGERPRINTS).read_text())
    with Remote(SshTarget.from_host(host)) as remote:
        conflicts = conflicts_on_host(backup, host_manifest(remote))
        if conflicts:
            raise BackupError("refused, it would overwrite the host's data: " + conflicts[0])
        owner = f"--chown={PUBLISHER_USER}:{PUBLISHER_USER}"
        rsync(
            remote,
            "--ignore-existing",
            "--chmod=D750,F640",
            owner,
            f"{directory / ARCHIVE}/",
            remote.remote_path(paths.ARCHIVE_DIR + "/"),
        )
        remote.run(f"rm -rf {STAGING} && install -d -m 750 {STAGING}")
        kept = [str(path) for path in (directory / MANIFEST, directory / STATE) if path.is_file()]
        rsync(remote, owner, *kept, remote.remote_path(STAGING + "/"))
        code, result = _server_restore(remote)
        if code == 0:
            remote.run(f"rm -rf {shlex.quote(STAGING)}")
        logs = restore_logs(remote, directory, backup.get("backup", {}).get("epoch", 0))
        differences = fingerprint_differences(fingerprints, host_fingerprints(remote))
    live = (result.get("live") or {}).get("package")
    how = "made live again" if result.get("republished") else "already live, or newer"
    lines = [
        f"{host.name}: restored {result.get('verified')} archived files (verified by sha256 on "
        f"the host), {result.get('merged')} outcomes merged, {logs} log files; live corte "
        f"{live} ({how}) in {time.monotonic() - started:.1f} s"
    ]
    for what in ("missing", "mismatched", "conflicts"):
        if result.get(what):
            lines.append(f"{host.name}: {what}: {', '.join(result[what][:5])}")
    if result.get("error"):
        lines.append(f"{host.name}: {result['error']}")
    lines += [f"{host.name}: warning: {difference}" for difference in differences]
    return code == 0 and not differences, "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser, one_host=True)
    parser.add_argument(
        "--from",
        dest="from_dir",
        required=True,
        type=Path,
        help="a host's backup directory (BACKUPS/HOST, as difusor backup wrote it)",
    )


def run(args: argparse.Namespace) -> int:
    hosts = select_hosts(load_inventory(args.inventory), args.host)
    if len(hosts) != 1:
        names = ", ".join(host.name for host in hosts)
        print(f"difusor restore: the inventory has several hosts ({names}): name one with --host")
        return 2
    try:
        ok, summary = restore_host(hosts[0], args.from_dir)
    except BackupError as error:
        print(f"{hosts[0].name}: {error}")
        return 1
    print(summary)
    return 0 if ok else 1
