"""
difusor backup: pull, incrementally over SSH (rsync), what a lost server cannot be rebuilt
without: the archive of every package, the publisher's state, the logs the memoria técnica
needs, and fingerprints of the secrets the settings put on the server (not the secrets).

    difusor backup --to BACKUPS [--inventory inventory/production.py] [--host NAME]

Each host goes to ``BACKUPS/<host>/``, laid out as the host's own paths, so the same
directory is also a copy ``difusor.report`` builds the memoria técnica from::

    manifest.json                   every archived file with its size and sha256, the live
                                    stamp, when and from where the backup was taken
    fingerprints.json               sha256 of the files holding the rsync password and the
                                    CDN token (the secrets the deploy writes from .env)
    journal.json                    the kit's units in the journal (journalctl -o json)
    srv/difusor/archive/...         every package received, published or rejected
    var/lib/difusor/state.json      the outcome of every package name
    var/lib/difusor/monitor.json    the freshness monitor's last level
    etc/difusor/publisher.json      the publisher's configuration
    var/log/difusor/publisher.log*, var/log/nginx/access.log*, var/log/rsyncd.log*

A backup refuses to write over newer data: when ``manifest.json`` already holds an archived
file the host does not have (or has with other bytes), or a later live corte, the directory is
left as it was (a fresh or another server: take its backup into another directory). The files
pulled are checked against the host's manifest by sha256; ``manifest.json`` is written last,
so an interrupted backup leaves the previous one valid.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from difusor import paths
from difusor.cli import add_inventory_arguments
from difusor.inventory import InventoryHost, load_inventory, select_hosts
from difusor.remote import Remote, SshTarget, publisher_program

HELP = "pull a host's archive, state, logs and secret fingerprints into a local directory"

MANIFEST = "manifest.json"
FINGERPRINTS = "fingerprints.json"
JOURNAL = "journal.json"
ARCHIVE = paths.ARCHIVE_DIR.lstrip("/")
STATE = f"{paths.STATE_DIR.lstrip('/')}/state.json"

# (directory on the host, names kept from it): the publisher's state and configuration, and
# the logs of the memoria técnica (difusor.report's copy layout).
PULLED = (
    (paths.STATE_DIR, ("state.json", "monitor.json")),
    (os.path.dirname(paths.PUBLISHER_CONFIG), ("publisher.json",)),
    (paths.LOG_DIR, ("publisher.log*",)),
    ("/var/log/nginx", ("access.log*",)),
    (os.path.dirname(paths.RSYNC_LOG), (os.path.basename(paths.RSYNC_LOG) + "*",)),
)
JOURNAL_UNITS = ("nginx", "difusor-publisher", "difusor-monitor", "rsync", "certbot")

# The files holding the secrets the deploy writes from the settings (.env), and what a
# different one on a rebuilt server means.
SECRETS = {
    "rsync_password": (
        paths.RSYNC_SECRETS,
        "the institute's uploads fail until it has the new password",
    ),
    "cdn_token": (paths.CDN_TOKEN_FILE, "CDN purges use another token"),
}


class BackupError(Exception):
    """What stops a backup or a restore, in words for the sysadmin."""


# ------------------------------------------------------------------ pure comparisons


def archive_differences(
    kept: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """(absent, different): files of ``kept`` that ``other`` lacks, or holds with other bytes."""
    absent = sorted(path for path in kept if path not in other)
    different = sorted(
        path
        for path, entry in kept.items()
        if path in other and other[path].get("sha256") != entry.get("sha256")
    )
    return absent, different


def _corte(manifest: dict[str, Any]) -> str | None:
    return (manifest.get("live") or {}).get("corte_utc")


def _listed(what: str, paths_: list[str]) -> str:
    shown = ", ".join(paths_[:3]) + (f" and {len(paths_) - 3} more" if len(paths_) > 3 else "")
    return f"{len(paths_)} {what}: {shown}"


def newer_in_backup(backup: dict[str, Any], host: dict[str, Any]) -> list[str]:
    """Why pulling ``host`` (its manifest) would overwrite newer data in ``backup`` (empty:
    it would not)."""
    absent, different = archive_differences(backup.get("archive", {}), host.get("archive", {}))
    reasons = []
    if absent:
        reasons.append(_listed("archived files in the backup are not on the host", absent))
    if different:
        reasons.append(_listed("archived files differ between backup and host", different))
    kept, live = _corte(backup), _corte(host)
    if kept and (not live or live < kept):
        reasons.append(f"the backup's live corte ({kept}) is newer than the host's ({live})")
    return reasons


def conflicts_on_host(backup: dict[str, Any], host: dict[str, Any]) -> list[str]:
    """Why pushing ``backup`` onto ``host`` would overwrite the host's data (empty: it would
    not; files the host has and the backup lacks stay, they are newer)."""
    _, different = archive_differences(backup.get("archive", {}), host.get("archive", {}))
    return [_listed("archived files on the host differ from the backup", different)] * bool(
        different
    )


def verify_files(root: Path, files: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(missing, mismatched): the listed files of ``root`` absent, or not of that size and
    sha256."""
    missing, mismatched = [], []
    for relative, expected in sorted(files.items()):
        path = root / relative
        if not path.is_file():
            missing.append(relative)
            continue
        if path.stat().st_size != expected["size"]:
            mismatched.append(relative)
            continue
        if _sha256(path) != expected["sha256"]:
            mismatched.append(relative)
    return missing, mismatched


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_differences(
    backup: dict[str, str | None], host: dict[str, str | None]
) -> list[str]:
    """The secrets whose fingerprint on ``host`` is not the one ``backup`` recorded."""
    return [
        f"{name}: not the one of the backed-up server ({consequence})"
        for name, (_, consequence) in SECRETS.items()
        if backup.get(name) != host.get(name)
    ]


# ------------------------------------------------------------------ reading the host


def host_manifest(remote: Remote) -> dict[str, Any]:
    result = remote.run(publisher_program("manifest"), timeout=600)
    try:
        manifest = json.loads(result.stdout)
    except ValueError:
        manifest = None
    if result.returncode != 0 or not isinstance(manifest, dict):
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackupError(
            f"the publisher's manifest cannot be read (is the host deployed?): {detail}"
        )
    return manifest


def host_fingerprints(remote: Remote) -> dict[str, str | None]:
    """sha256 of each secret's file; None for one the host does not have."""
    command = "; ".join(
        f"echo {name}=$(sha256sum 2>/dev/null < {path} | cut -d' ' -f1)"
        for name, (path, _) in SECRETS.items()
    )
    output = remote.run(command, timeout=60).stdout
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {name: values.get(name, "").strip() or None for name in SECRETS}


# rsync's exit status when a source file vanished while it ran: a log rotated meanwhile.
RSYNC_VANISHED = 24


def rsync(remote: Remote, *arguments: str) -> None:
    result = subprocess.run(
        remote.rsync_argv("--recursive", "--links", "--times", *arguments),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, RSYNC_VANISHED):
        raise BackupError(f"rsync {shlex.join(arguments)}: {result.stderr.strip()[-400:]}")


def write_json_atomically(path: Path, document: Any) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    temp.replace(path)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise BackupError(f"{path}: not a manifest ({error})") from None


# ------------------------------------------------------------------ backup


def backup_host(host: InventoryHost, directory: Path) -> str:
    """Back ``host`` up into ``directory``; the summary line. Raises BackupError."""
    started = time.monotonic()
    previous = read_manifest(directory) or {}
    # access logs name readers, the archive may be embargoed: for the sysadmin's eyes only
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with Remote(SshTarget.from_host(host)) as remote:
        manifest = host_manifest(remote)
        refusals = newer_in_backup(previous, manifest)
        if refusals:
            raise BackupError(
                "refused, the backup holds newer data than the host: " + "; ".join(refusals)
            )
        archive = directory / ARCHIVE
        archive.mkdir(parents=True, exist_ok=True)
        rsync(remote, remote.remote_path(paths.ARCHIVE_DIR + "/"), f"{archive}/")
        for source, names in PULLED:
            target = directory / source.lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            filters = [f"--include={name}" for name in names] + ["--exclude=*"]
            rsync(remote, *filters, remote.remote_path(source + "/"), f"{target}/")
        units = " ".join(f"-u {unit}" for unit in JOURNAL_UNITS)
        journal = remote.run(f"journalctl -o json --no-pager {units}", timeout=600)
        (directory / f".{JOURNAL}.tmp").write_text(journal.stdout)
        (directory / f".{JOURNAL}.tmp").replace(directory / JOURNAL)
        write_json_atomically(directory / FINGERPRINTS, host_fingerprints(remote))
    missing, mismatched = verify_files(archive, manifest["archive"])
    if missing or mismatched:
        raise BackupError(
            "the archive pulled does not match the host's manifest: "
            + "; ".join(
                _listed(what, found)
                for what, found in (("missing", missing), ("mismatched", mismatched))
                if found
            )
        )
    manifest["backup"] = {
        "host": host.name,
        "taken": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "epoch": int(time.time()),
    }
    write_json_atomically(directory / MANIFEST, manifest)
    new = len(set(manifest["archive"]) - set(previous.get("archive", {})))
    size = sum(entry["size"] for entry in manifest["archive"].values())
    live = (manifest.get("live") or {}).get("package")
    return (
        f"{host.name}: {len(manifest['archive'])} archived files ({new} new, "
        f"{size / 1e6:.1f} MB, verified by sha256), live corte {live}, into {directory} "
        f"in {time.monotonic() - started:.1f} s"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)
    parser.add_argument(
        "--to", required=True, type=Path, help="local directory; each host goes to TO/HOST/"
    )


def run(args: argparse.Namespace) -> int:
    failed = 0
    for host in select_hosts(load_inventory(args.inventory), args.host):
        try:
            print(backup_host(host, args.to / host.name), flush=True)
        except BackupError as error:
            print(f"{host.name}: {error}", flush=True)
            failed += 1
    return 1 if failed else 0
