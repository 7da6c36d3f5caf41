"""Durable file-system helpers: atomic writes, directory fsync, syncfs, moves across devices."""

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

_libc: ctypes.CDLL | None = None


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def syncfs(path: str) -> None:
    """Flush the file system holding ``path`` (one call instead of an fsync per file)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except Exception:
        pass
    os.sync()


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write bytes to ``path`` via a temp file in the same directory, fsync and rename."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    fsync_dir(directory)


def write_json(path: str, obj: Any, mode: int = 0o644) -> None:
    atomic_write(
        path,
        (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"),
        mode,
    )


def read_json(path: str, default: Any = None) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fd_chunks(fd: int, size: int = 1 << 20) -> Iterator[bytes]:
    """The whole content of an open file, from its start, in chunks."""
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        chunk = os.read(fd, size)
        if not chunk:
            return
        yield chunk


def sha256_fd(fd: int) -> str:
    digest = hashlib.sha256()
    for chunk in fd_chunks(fd):
        digest.update(chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    return digest.hexdigest()


def _temp_beside(dst: str) -> str:
    return os.path.join(os.path.dirname(dst), f".{os.path.basename(dst)}.tmp-{os.getpid()}")


def move(src: str, dst: str) -> None:
    """Rename, or copy + fsync + unlink across file systems."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = _temp_beside(dst)
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
        os.unlink(src)
    fsync_dir(os.path.dirname(dst))


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        tmp = _temp_beside(dst)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    fsync_dir(os.path.dirname(dst))


def unlink_if_present(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
