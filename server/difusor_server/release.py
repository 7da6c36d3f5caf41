"""Release directories: extraction (with hardlink dedup and nested zips), atomic switch, pruning.

Layout under ``releases_dir``::

    <id>/site/...         the package content, byte for byte (the web root)
    <id>/corte.json       the stamp (served at /corte.json)
    <id>/manifest.json    size, CRC-32 and sha256 of every file (for dedup; not served)
    .tmp-<id>-<pid>/      a release being built (removed at the start of every run)

``<id>`` is ``YYYYMMDDTHHMM-<first 12 hex of the package sha256>``.
"""

import errno
import hashlib
import os
import shutil
import zipfile
import zlib

from . import hooks
from .fsutil import fsync_dir, read_json, syncfs, write_json
from .package import Rejection, check_layout, classify_unreadable, inspect_zip

TMP_PREFIX = ".tmp-"
CHUNK = 1 << 20


def release_id(corte, sha256):
    return f"{corte:%Y%m%dT%H%M}-{sha256[:12]}"


def live_release(current_link):
    """(release directory, stamp dict) of what ``current_link`` points at, or (None, None)."""
    try:
        target = os.path.realpath(current_link)
    except OSError:
        return None, None
    if not os.path.islink(current_link) or not os.path.isdir(target):
        return None, None
    return target, read_json(os.path.join(target, "corte.json"))


def cleanup_temp(releases_dir, current_link):
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
                try:
                    os.unlink(os.path.join(parent, name))
                    removed.append(name)
                except OSError:
                    pass
    return removed


def _zip_error(exc, where):
    text = str(exc)
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in text:
        return Rejection("bad-crc", f"{where}: {text}")
    if isinstance(exc, (EOFError,)):
        return Rejection("truncated", f"{where}: compressed data ends early")
    return Rejection("corrupt", f"{where}: {type(exc).__name__}: {text}")


class Extraction:
    """Extract a package into ``tmp_dir/site`` with the shared limits ``budget``.

    Files identical (size, CRC-32, then sha256) to one in the previous release's manifest
    are hard-linked to it instead of written."""

    def __init__(self, tmp_dir, budget, previous_dir=None, previous_manifest=None):
        self.root = tmp_dir
        self.budget = budget
        self.files = []  # manifest entries
        self.linked = 0
        self.linked_bytes = 0
        self.written_bytes = 0
        self.index = {}
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
    def extract(self, zf, members, dest_rel, depth, label=""):
        """Extract ``members`` of ``zf`` under ``dest_rel`` (relative to the release root)."""
        nested = []
        for m in members:
            rel = f"{dest_rel}/{m.path}"
            dest = os.path.join(self.root, rel)
            if m.is_dir:
                os.makedirs(dest, mode=0o755, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
            self._file(zf, m.info, dest, rel, label)
            if m.is_zip:
                nested.append(rel)
            hooks.pause("member")
        for rel in nested:
            self._nested(rel, depth + 1)

    def _nested(self, rel, depth):
        path = os.path.join(self.root, rel)
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            with open(path, "rb") as f:
                head = f.read(8)
            raise Rejection(
                classify_unreadable(head, os.path.getsize(path)),
                f"nested {rel[len('site/') :]!r}: {exc}",
            )
        label = rel[len("site/") :]
        with zf:
            try:
                check_layout(zf.fp, os.path.getsize(path), zf)
            except Rejection as rej:
                raise Rejection(rej.reason, f"nested {label!r}: {rej.detail}")
            members = inspect_zip(zf, self.budget, depth, label)
            folder = rel[:-4]
            if os.path.lexists(os.path.join(self.root, folder)):
                # the package already has something by that name: keep it, only verify the zip
                self.verify(zf, members, label)
                return
            os.makedirs(os.path.join(self.root, folder), mode=0o755)
            self.extract(zf, members, folder, depth, label)

    def verify(self, zf, members, label):
        for m in members:
            if not m.is_dir:
                self._hash(zf, m.info, label)

    # -- one file
    def _read(self, zf, info, label):
        where = f"{label}: {info.filename!r}" if label else repr(info.filename)
        try:
            with zf.open(info) as src:
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
        ) as exc:
            raise _zip_error(exc, where) from None

    def _hash(self, zf, info, label):
        h = hashlib.sha256()
        for chunk in self._read(zf, info, label):
            h.update(chunk)
        return h.hexdigest()

    def _file(self, zf, info, dest, rel, label):
        candidates = self.index.get((info.file_size, info.CRC))
        if candidates:
            sha = self._hash(zf, info, label)  # also verifies the CRC
            for cand_sha, cand_path in candidates:
                if cand_sha == sha:
                    try:
                        os.link(cand_path, dest)
                    except OSError as exc:
                        if exc.errno == errno.ENOSPC:
                            raise
                        break  # EMLINK, EXDEV, gone: write it
                    self.linked += 1
                    self.linked_bytes += info.file_size
                    self._record(rel, info, sha)
                    return
        h = hashlib.sha256()
        size = 0
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            for chunk in self._read(zf, info, label):
                size += len(chunk)
                if size > info.file_size:
                    raise Rejection("zip-bomb", f"{rel!r} inflates beyond its declared size")
                h.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.written_bytes += size
        self._record(rel, info, h.hexdigest())

    def _record(self, rel, info, sha):
        self.files.append({"path": rel, "size": info.file_size, "crc32": info.CRC, "sha256": sha})

    @property
    def total_bytes(self):
        return sum(f["size"] for f in self.files)


def finalize(releases_dir, tmp_dir, rid, stamp, manifest):
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


def switch(current_link, release_dir):
    """Point ``current_link`` at ``release_dir`` atomically (temp symlink + rename)."""
    parent = os.path.dirname(current_link)
    target = os.path.relpath(release_dir, parent)
    tmp = f"{current_link}.tmp-{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, current_link)
    fsync_dir(parent)


def prune(releases_dir, keep, live_dir):
    """Remove the oldest releases beyond ``keep``; never the live one."""
    names = sorted(
        n
        for n in os.listdir(releases_dir)
        if not n.startswith(".") and os.path.isfile(os.path.join(releases_dir, n, "corte.json"))
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
