"""Durable file-system helpers: atomic writes, directory fsync, syncfs, moves across devices."""

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil

_libc = None


def fsync_dir(path):
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


def syncfs(path):
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


def atomic_write(path, data, mode=0o644):
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


def write_json(path, obj, mode=0o644):
    atomic_write(
        path,
        (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"),
        mode,
    )


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fd_chunks(fd, size=1 << 20):
    """The whole content of an open file, from its start, in chunks."""
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        chunk = os.read(fd, size)
        if not chunk:
            return
        yield chunk


def sha256_fd(fd):
    h = hashlib.sha256()
    for chunk in fd_chunks(fd):
        h.update(chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    return h.hexdigest()


def move(src, dst):
    """Rename, or copy + fsync + unlink across file systems."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = os.path.join(os.path.dirname(dst), f".{os.path.basename(dst)}.tmp-{os.getpid()}")
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
        os.unlink(src)
    fsync_dir(os.path.dirname(dst))


def link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        tmp = os.path.join(os.path.dirname(dst), f".{os.path.basename(dst)}.tmp-{os.getpid()}")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    fsync_dir(os.path.dirname(dst))
