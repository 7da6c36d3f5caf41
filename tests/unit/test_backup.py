"""difusor backup and restore: when either refuses, and how a backup is checked."""

import hashlib

from difusor.backup import (
    conflicts_on_host,
    fingerprint_differences,
    newer_in_backup,
    verify_files,
)
from difusor.remote import Remote
from difusor.restore import restore_logs, restored_log_name


def entry(content: bytes) -> dict:
    return {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def manifest(files: dict[str, bytes], corte_utc: str | None = "2024-06-03T03:15:00Z") -> dict:
    return {
        "format": 1,
        "archive": {path: entry(content) for path, content in files.items()},
        "live": {"corte_utc": corte_utc} if corte_utc else None,
    }


NIGHT = {"20240602/A.zip": b"a", "20240602/B.zip": b"b"}


def test_a_backup_of_the_same_host_later_is_allowed():
    later = manifest(NIGHT | {"20240602/C.zip": b"c"}, "2024-06-03T03:30:00Z")
    assert newer_in_backup(manifest(NIGHT), later) == []
    assert newer_in_backup({}, later) == []  # the first backup


def test_a_backup_from_a_host_that_lacks_the_archive_is_refused():
    fresh = manifest({}, None)
    reasons = newer_in_backup(manifest(NIGHT), fresh)
    assert reasons == [
        "2 archived files in the backup are not on the host: 20240602/A.zip, 20240602/B.zip",
        "the backup's live corte (2024-06-03T03:15:00Z) is newer than the host's (None)",
    ]


def test_a_backup_over_other_bytes_or_an_older_corte_is_refused():
    other = manifest({"20240602/A.zip": b"A", "20240602/B.zip": b"b"}, "2024-06-03T03:00:00Z")
    reasons = newer_in_backup(manifest(NIGHT), other)
    assert reasons[0] == "1 archived files differ between backup and host: 20240602/A.zip"
    assert "is newer than the host's (2024-06-03T03:00:00Z)" in reasons[1]


def test_a_restore_never_overwrites_the_hosts_files_but_leaves_its_newer_ones():
    newer_host = manifest({"20240602/C.zip": b"c"}, "2024-06-03T04:00:00Z")
    assert conflicts_on_host(manifest(NIGHT), newer_host) == []
    clash = manifest({"20240602/A.zip": b"other bytes"})
    assert conflicts_on_host(manifest(NIGHT), clash) == [
        "1 archived files on the host differ from the backup: 20240602/A.zip"
    ]


def test_long_lists_are_cut_short():
    many = {f"20240602/{n:03}.zip": b"x" for n in range(10)}
    reason = newer_in_backup(manifest(many), manifest({}))[0]
    assert reason.endswith("20240602/002.zip and 7 more")


def test_verify_files_finds_missing_and_altered_files(tmp_path):
    (tmp_path / "20240602").mkdir()
    (tmp_path / "20240602" / "A.zip").write_bytes(b"a")
    (tmp_path / "20240602" / "B.zip").write_bytes(b"c")  # same size, other bytes
    files = manifest(NIGHT | {"20240602/C.zip": b"c"})["archive"]
    assert verify_files(tmp_path, files) == (["20240602/C.zip"], ["20240602/B.zip"])
    (tmp_path / "20240602" / "B.zip").write_bytes(b"b")
    (tmp_path / "20240602" / "C.zip").write_bytes(b"c")
    assert verify_files(tmp_path, files) == ([], [])


def test_a_different_secret_is_named_with_its_consequence():
    backed_up = {"rsync_password": "1", "cdn_token": None}
    assert fingerprint_differences(backed_up, dict(backed_up)) == []
    assert fingerprint_differences(backed_up, backed_up | {"rsync_password": "9"}) == [
        "rsync_password: not the one of the backed-up server (the institute's uploads fail "
        "until it has the new password)"
    ]
    assert fingerprint_differences(backed_up, backed_up | {"cdn_token": "2"}) == [
        "cdn_token: not the one of the backed-up server (CDN purges use another token)"
    ]


def test_the_lost_hosts_live_log_takes_a_rotated_name():
    epoch = 1717384500
    rotated = restored_log_name("publisher.log", "publisher.log", epoch)
    assert rotated.startswith("publisher.log-2024060") and rotated.endswith(f"-{epoch}")
    assert restored_log_name("publisher.log-20240602-1717300000.gz", "publisher.log", epoch) == (
        "publisher.log-20240602-1717300000.gz"
    )


class LocalRemote(Remote):
    """A Remote whose host is a local directory: rsync without SSH."""

    def __init__(self, root):
        self.root = root

    def rsync_argv(self, *options: str) -> list[str]:
        return ["rsync", *options]

    def remote_path(self, path: str) -> str:
        return str(self.root / path.lstrip("/"))


def test_logs_are_restored_beside_the_hosts_own_never_over_them(tmp_path):
    backup, host = tmp_path / "backup", tmp_path / "host"
    logs = {
        "var/log/difusor/publisher.log": "lost live\n",
        "var/log/difusor/publisher.log-20240602-1717300000.gz": "lost rotated\n",
        "var/log/nginx/access.log": "lost readers\n",
        "var/log/rsyncd.log": "lost uploads\n",
    }
    for path, text in logs.items():
        (backup / path).parent.mkdir(parents=True, exist_ok=True)
        (backup / path).write_text(text)
    for path in ("var/log/difusor/publisher.log", "var/log/nginx/access.log"):
        (host / path).parent.mkdir(parents=True, exist_ok=True)
        (host / path).write_text("new host\n")

    epoch = 1717384500
    assert restore_logs(LocalRemote(host), backup, epoch) == 4

    found = {
        str(path.relative_to(host)): path.read_text() for path in host.rglob("*") if path.is_file()
    }
    suffix = restored_log_name("publisher.log", "publisher.log", epoch).removeprefix(
        "publisher.log"
    )
    assert found == {
        "var/log/difusor/publisher.log": "new host\n",
        f"var/log/difusor/publisher.log{suffix}": "lost live\n",
        "var/log/difusor/publisher.log-20240602-1717300000.gz": "lost rotated\n",
        "var/log/nginx/access.log": "new host\n",
        f"var/log/nginx/access.log{suffix}": "lost readers\n",
        f"var/log/rsyncd.log{suffix}": "lost uploads\n",
    }
    assert (host / f"var/log/nginx/access.log{suffix}").stat().st_mode & 0o777 == 0o640
