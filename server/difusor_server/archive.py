"""The archive keeps every package received, forever: ``archive/YYYYMMDD/NAME.zip`` (published,
with its sidecar) and ``archive/YYYYMMDD/rejected/NAME.zip``. A file is never overwritten: a
name already taken by other bytes gets a suffix (see :func:`place`)."""

import os
import time
from datetime import datetime
from typing import Any

from .fsutil import fd_chunks, move, sha256_file
from .intake import SIDECAR_SUFFIX, Package


def place(directory: str, name: str, sha256: str | None) -> tuple[str, bool]:
    """A free path for ``name`` in ``directory`` (created if needed), and whether a file with
    the same sha256 is there already (then that path, and nothing needs writing)."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    target = os.path.join(directory, name)
    for candidate in (target, f"{target}.{(sha256 or 'nohash')[:12]}"):
        if not os.path.lexists(candidate):
            return candidate, False
        if (
            sha256
            and os.path.isfile(candidate)
            and not os.path.islink(candidate)
            and sha256_file(candidate) == sha256
        ):
            return candidate, True
    return f"{target}.{int(time.time() * 1000)}", False


def same_file(path: str, file_stat: os.stat_result) -> bool:
    """Whether ``path`` is still the file ``file_stat`` describes."""
    try:
        current = os.lstat(path)
    except FileNotFoundError:
        return False
    return (current.st_ino, current.st_dev) == (file_stat.st_ino, file_stat.st_dev)


def file_sidecar(sidecar: str, beside: str) -> None:
    """Move ``sidecar`` next to the file ``beside`` (quarantined or archived); dropped when
    one is there already."""
    target = beside + SIDECAR_SUFFIX
    if os.path.lexists(target):
        os.unlink(sidecar)
    else:
        move(sidecar, target)


class Archive:
    def __init__(self, archive_dir: str) -> None:
        self.root = archive_dir

    def day_dir(self, day: datetime) -> str:
        """``archive/YYYYMMDD``: the corte day, or the day received for a file without one."""
        return os.path.join(self.root, day.strftime("%Y%m%d"))

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    def holds(self, entry: dict[str, Any], size: int) -> bool:
        """Whether the archived copy a state entry names is there, with ``size`` bytes."""
        archived = entry.get("archived")
        if not archived:
            return False
        try:
            return os.path.getsize(os.path.join(self.root, archived)) == size
        except OSError:
            return False

    def history(self, name: str, corte: datetime) -> list[dict[str, Any]]:
        """State lost? A package archived under its plain name was published."""
        path = os.path.join(self.day_dir(corte), name)
        if not os.path.isfile(path):
            return []
        return [
            {"sha256": sha256_file(path), "outcome": "published", "archived": self.relative(path)}
        ]

    def file(self, package: Package, directory: str) -> str:
        """Move the incoming file (and its sidecar) into ``directory``; returns the path relative
        to the archive. If the name was replaced while we worked, the bytes we processed are
        copied from the open descriptor and the newer file stays for the next run."""
        target, exists = place(directory, package.name, package.sha256)
        unchanged = same_file(package.path, package.stat)
        if exists:
            if unchanged:
                os.unlink(package.path)
        elif unchanged:
            move(package.path, target)
        else:
            tmp = target + f".tmp-{os.getpid()}"
            with open(tmp, "wb") as out:
                for chunk in fd_chunks(package.fd):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        if package.sidecar and os.path.lexists(package.sidecar) and unchanged:
            file_sidecar(package.sidecar, target)
        return self.relative(target)
