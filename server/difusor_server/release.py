"""Release directories: extraction (with hardlink dedup and nested zips), atomic switch, pruning.

Layout under ``releases_dir``::

    <id>/site/...         the package content, byte for byte (the web root)
    <id>/corte.json       the stamp (served at /corte.json)
    <id>/manifest.json    size, CRC-32 and sha256 of every file (for dedup; not served)
    .tmp-<id>-<pid>/      a release being built (removed at the start of every run)

``<id>`` is ``YYYYMMDDTHHMM-<first 12 hex of the package sha256>``.
"""

import contextlib
import errno
import hashlib
import lzma
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import hooks, ziplayout
from .fsutil import fsync_dir, read_json, syncfs, unlink_if_present, write_json
from .package import Budget, Member, Rejection, inspect_zip, where

TMP_PREFIX = ".tmp-"
CHUNK = 1 << 20


def release_id(corte: datetime, sha256: str) -> str:
    return f"{corte:%Y%m%dT%H%M}-{sha256[:12]}"


def live_release(current_link: str) -> tuple[str | None, dict[str, Any] | None]:
    """(release directory, stamp dict) of what ``current_link`` points at, or (None, None)."""
    try:
        target = os.path.realpath(current_link)
    except OSError:
        return None, None
    if not os.path.islink(current_link) or not os.path.isdir(target):
        return None, None
    return target, read_json(os.path.join(target, "corte.json"))


def cleanup_temp(releases_dir: str, current_link: str) -> list[str]:
    """Remove what an interrupted run left: temp releases and temp symlinks."""
    removed = []
    if os.path.isdir(releases_dir):
        for name in os.listdir(releases_dir):
            if name.startswith(TMP_PREFIX):
                shutil.rmtree(os.path.join(releases_dir, name), ignore_errors=True)
                removed.append(name)
    parent = os.path.dirname(current_link)
    base = os.path.basename(current_link) + ".tmp-"
    if os.path.isdir(parent):
        for name in os.listdir(parent):
            if name.startswith(base):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(parent, name))
                    removed.append(name)
    return removed


def _zip_error(exc: Exception, entry: str) -> Rejection:
    """The rejection for an entry whose data cannot be read back. The package's end record
    was checked: data that runs out early is a wrong size in the central directory."""
    text = str(exc)
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in text:
        return Rejection("bad-crc", f"{entry}: {text}")
    if isinstance(exc, EOFError):
        return Rejection("corrupt", f"{entry}: its data runs past the end of the zip")
    return Rejection("corrupt", f"{entry}: {type(exc).__name__}: {text}")


class Extraction:
    """Extract a package into ``tmp_dir/site`` with the shared limits ``budget``.

    Files identical (size, CRC-32, then sha256) to one in the previous release's manifest
    are hard-linked to it instead of written."""

    def __init__(
        self,
        tmp_dir: str,
        budget: Budget,
        previous_dir: str | None = None,
        previous_manifest: dict[str, Any] | None = None,
    ) -> None:
        self.root = tmp_dir
        self.budget = budget
        self.files: list[dict[str, Any]] = []  # manifest entries
        self.linked = 0
        self.linked_bytes = 0
        self.written_bytes = 0
        # (size, CRC-32) -> [(sha256, path)] of the previous release's files
        self.index: dict[tuple[int, int], list[tuple[str, str]]] = {}
        if previous_dir and previous_manifest:
            for entry in previous_manifest.get("files", []):
                try:
                    key = (entry["size"], entry["crc32"])
                    self.index.setdefault(key, []).append(
                        (entry["sha256"], os.path.join(previous_dir, entry["path"]))
                    )
                except (KeyError, TypeError):
                    continue

    # -- one zip
    def extract(
        self,
        zip_file: zipfile.ZipFile,
        members: list[Member],
        dest_rel: str,
        depth: int,
        label: str = "",
    ) -> None:
        """Extract ``members`` of ``zip_file`` under ``dest_rel`` (relative to the release root)."""
        nested = []
        for member in members:
            rel = f"{dest_rel}/{member.path}"
            dest = os.path.join(self.root, rel)
            if member.is_dir:
                os.makedirs(dest, mode=0o755, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
            self._file(zip_file, member.info, dest, rel, label)
            if member.is_zip:
                nested.append(rel)
            hooks.pause("member")
        for rel in nested:
            self._nested(rel, depth + 1)

    def _nested(self, rel: str, depth: int) -> None:
        path = os.path.join(self.root, rel)
        label = rel[len("site/") :]
        with open(path, "rb") as file:
            try:
                zip_file = ziplayout.open_zip(file, os.fstat(file.fileno()).st_size, self.budget)
            except Rejection as rejection:
                raise Rejection(rejection.reason, f"nested {label!r}: {rejection.detail}") from None
            with zip_file:
                members = inspect_zip(zip_file, self.budget, depth, label)
                folder = rel[:-4]
                if os.path.lexists(os.path.join(self.root, folder)):
                    # the package already has something by that name: keep it, only verify it
                    self.verify(zip_file, members, label)
                    return
                os.makedirs(os.path.join(self.root, folder), mode=0o755)
                self.extract(zip_file, members, folder, depth, label)

    def verify(self, zip_file: zipfile.ZipFile, members: list[Member], label: str) -> None:
        for member in members:
            if not member.is_dir:
                self._hash(zip_file, member.info, label)

    # -- one file
    def _read(
        self, zip_file: zipfile.ZipFile, info: zipfile.ZipInfo, label: str
    ) -> Iterator[bytes]:
        try:
            with zip_file.open(info) as src:
                while True:
                    chunk = src.read(CHUNK)
                    if not chunk:
                        break
                    yield chunk
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            NotImplementedError,
            RuntimeError,
            ValueError,
            lzma.LZMAError,
        ) as exc:
            raise _zip_error(exc, where(label, info.filename)) from None
        except OSError as exc:
            if exc.errno is not None:
                raise  # the disk, not the data: an incident, the package waits
            raise _zip_error(exc, where(label, info.filename)) from None  # bz2's bad data

    def _hash(self, zip_file: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> str:
        digest = hashlib.sha256()
        for chunk in self._read(zip_file, info, label):
            digest.update(chunk)
        return digest.hexdigest()

    def _file(
        self, zip_file: zipfile.ZipFile, info: zipfile.ZipInfo, dest: str, rel: str, label: str
    ) -> None:
        candidates = self.index.get((info.file_size, info.CRC))
        if candidates:
            sha = self._hash(zip_file, info, label)  # also verifies the CRC
            for candidate_sha, candidate_path in candidates:
                if candidate_sha == sha:
                    try:
                        os.link(candidate_path, dest)
                    except OSError as exc:
                        if exc.errno == errno.ENOSPC:
                            raise
                        break  # EMLINK, EXDEV, gone: write it
                    self.linked += 1
                    self.linked_bytes += info.file_size
                    self._record(rel, info, sha)
                    return
        digest = hashlib.sha256()
        size = 0
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            for chunk in self._read(zip_file, info, label):
                size += len(chunk)
                if size > info.file_size:
                    raise Rejection("zip-bomb", f"{rel!r} inflates beyond its declared size")
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.written_bytes += size
        self._record(rel, info, digest.hexdigest())

    def _record(self, rel: str, info: zipfile.ZipInfo, sha: str) -> None:
        self.files.append({"path": rel, "size": info.file_size, "crc32": info.CRC, "sha256": sha})

    @property
    def total_bytes(self) -> int:
        return sum(f["size"] for f in self.files)


@dataclass
class Build:
    """A release built in its temp directory, with what its publication reports."""

    release_id: str
    temp_dir: str
    extraction: Extraction
    csv_corte: str | None  # the corte line read from the CSVs
    sidecar: str  # verified, absent or off
    switched_at: float = 0.0  # time.time() when ``current`` pointed at it


def finalize(
    releases_dir: str,
    tmp_dir: str,
    rid: str,
    stamp: dict[str, Any],
    manifest: dict[str, Any],
) -> str:
    """Write the stamp and manifest, flush everything, rename the temp dir to its final name."""
    write_json(os.path.join(tmp_dir, "corte.json"), stamp)
    write_json(os.path.join(tmp_dir, "manifest.json"), manifest)
    os.chmod(tmp_dir, 0o755)
    syncfs(tmp_dir)
    final = os.path.join(releases_dir, rid)
    if os.path.lexists(final):
        shutil.rmtree(final)
    os.rename(tmp_dir, final)
    fsync_dir(releases_dir)
    return final


def switch(current_link: str, release_dir: str) -> None:
    """Point ``current_link`` at ``release_dir`` atomically (temp symlink + rename)."""
    parent = os.path.dirname(current_link)
    target = os.path.relpath(release_dir, parent)
    tmp = f"{current_link}.tmp-{os.getpid()}"
    unlink_if_present(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, current_link)
    fsync_dir(parent)


def prune(releases_dir: str, keep: int, live_dir: str | None) -> list[str]:
    """Remove the oldest releases beyond ``keep``; never the live one."""
    names = sorted(
        name
        for name in os.listdir(releases_dir)
        if not name.startswith(".")
        and os.path.isfile(os.path.join(releases_dir, name, "corte.json"))
    )
    live = os.path.basename(live_dir) if live_dir else None
    keep_set = set(names[-keep:]) if keep > 0 else set()
    if live:
        keep_set.add(live)
    removed = []
    for name in names:
        if name not in keep_set:
            shutil.rmtree(os.path.join(releases_dir, name), ignore_errors=True)
            removed.append(name)
    return removed
