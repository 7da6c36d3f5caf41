"""What arrives in the incoming directory: which names are packages, the sidecars that travel
with them, and when a file is ready to be read (its sidecar given time to follow, a file
still being written given time to finish)."""

import os
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo

from .config import Config
from .fsutil import sha256_fd
from .timeutil import corte_from_name

SIDECAR_SUFFIX = ".sha256"
# Never packages: uploaders' and editors' temp files, and sidecars (they travel with their zip).
IGNORED_SUFFIXES = ("~", ".tmp", ".part", ".partial", ".swp", SIDECAR_SUFFIX)


class NotReady(Exception):
    """Not ready yet (a sidecar or the file itself may still be arriving): look again at
    ``until`` (a ``time.time()``)."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until


@dataclass(frozen=True)
class Arrival:
    """A file in incoming taken for a package. ``corte`` is None when the name is not a
    package name; ``sidecar`` is the path of its ``NAME.zip.sha256`` when one is there."""

    name: str
    path: str
    corte: datetime | None
    sidecar: str | None

    @classmethod
    def at(cls, incoming_dir: str, name: str, zone: tzinfo) -> "Arrival":
        path = os.path.join(incoming_dir, name)
        sidecar = path + SIDECAR_SUFFIX
        return cls(
            name=name,
            path=path,
            corte=corte_from_name(name, zone),
            sidecar=sidecar if os.path.lexists(sidecar) else None,
        )

    @property
    def sort_key(self) -> tuple[int, float, str]:
        """Files without a corte first (they are refused at once), then corte order, then name."""
        if self.corte is None:
            return (0, 0, self.name)
        return (1, self.corte.timestamp(), self.name)


@dataclass
class Scan:
    """What one look at incoming found."""

    arrivals: list[Arrival]
    # sidecars whose zip is not in incoming (processed already, or still to come)
    lone_sidecars: list[str]


def scan(incoming_dir: str, zone: tzinfo) -> Scan:
    """The files of incoming that are packages (or claim to be), and the lone sidecars.

    Left alone: dotfiles (rsync's ``.NAME.zip.XXXXXX`` temp files), ``IGNORED_SUFFIXES``,
    directories."""
    found = Scan([], [])
    try:
        entries = list(os.scandir(incoming_dir))
    except FileNotFoundError:
        return found
    names = {entry.name for entry in entries}
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        if name.endswith(SIDECAR_SUFFIX):
            if name[: -len(SIDECAR_SUFFIX)] not in names:
                found.lone_sidecars.append(name)
            continue
        if name.endswith(IGNORED_SUFFIXES):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        found.arrivals.append(Arrival.at(incoming_dir, name, zone))
    return found


def wait_for_sidecar(cfg: Config, arrival: Arrival, received: float, sidecars_seen: bool) -> None:
    """rsync sends ``X.zip`` before ``X.zip.sha256``: give the sidecar ``sidecar_wait_seconds``
    to follow, under ``require`` always, under ``if-present`` once the sender has used them.
    Raises NotReady."""
    expected = cfg.sidecar == "require" or (cfg.sidecar == "if-present" and sidecars_seen)
    if arrival.sidecar is None and expected and time.time() - received < cfg.sidecar_wait_seconds:
        raise NotReady(received + cfg.sidecar_wait_seconds)


def wait_until_settled(file_stat: os.stat_result, settle_seconds: float) -> None:
    """A file that changed less than ``settle_seconds`` ago may still be written in place by a
    slow uploader: raises NotReady until then."""
    changed = max(file_stat.st_mtime, file_stat.st_ctime)
    if time.time() - changed < settle_seconds:
        raise NotReady(changed + settle_seconds)


@dataclass
class Package:
    """A package taken up for publication: an open descriptor on it (the bytes processed are
    the bytes identified, whatever happens to the name meanwhile), its stat and sha256."""

    name: str
    path: str
    corte: datetime
    sidecar: str | None
    fd: int
    stat: os.stat_result
    sha256: str
    received: float  # its ctime: when it became complete in incoming (rsync renames it there)
    started: float  # time.monotonic() when it was taken up

    @classmethod
    def read(cls, arrival: Arrival, corte: datetime, fd: int, received: float) -> "Package":
        """Take up the package open on ``fd``: its stat, and its sha256 (read once)."""
        started = time.monotonic()
        file_stat = os.fstat(fd)
        sha256 = sha256_fd(fd)
        name, path, sidecar = arrival.name, arrival.path, arrival.sidecar
        return cls(name, path, corte, sidecar, fd, file_stat, sha256, received, started)


def snapshot(incoming_dir: str) -> tuple[int, frozenset[str]] | None:
    """What identifies the incoming directory's content: its mtime and its names."""
    try:
        return os.stat(incoming_dir).st_mtime_ns, frozenset(os.listdir(incoming_dir))
    except OSError:
        return None
