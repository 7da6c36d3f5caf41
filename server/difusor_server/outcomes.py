"""What becomes of each file taken from incoming, with what is moved where, its record in
``state.json`` and its log line: published, duplicate, recovered, rejected (quarantined and
archived), refused before it is read (not a package at all), incident (the package waits in
incoming for the next run), and a sidecar that arrives after its package."""

import contextlib
import errno
import os
import stat
import time
import traceback
from typing import Any

from . import archive
from .config import Config
from .fsutil import link_or_copy, move, read_json, sha256_file, unlink_if_present, write_json
from .intake import SIDECAR_SUFFIX, Arrival, Package
from .log import Logger
from .package import Rejection, read_sidecar
from .release import Build
from .timeutil import corte_from_name, from_ts, iso, now

STATE_FILE = "state.json"
# Present while a package waits after an incident (disk full, I/O error): the monitor alerts.
INCIDENT_FILE = "incident.json"


class State:
    """``state_dir/state.json``: what happened to every package name."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.data = read_json(self.path) or {}
        self.data.setdefault("version", 1)
        self.data.setdefault("packages", {})

    def entries(self, name: str) -> list[dict[str, Any]]:
        return list(self.data["packages"].get(name, []))

    def record(self, name: str, **entry: Any) -> None:
        """Save ``entry`` as the outcome of this name and sha256 (replacing an older one)."""
        entries = self.data["packages"].setdefault(name, [])
        entries[:] = [e for e in entries if e.get("sha256") != entry.get("sha256")]
        entries.append(entry)
        write_json(self.path, self.data)

    @property
    def sidecars_seen(self) -> bool:
        """Whether the sender has ever sent a sidecar (then ``if-present`` waits for them)."""
        return bool(self.data.get("sidecars_seen"))

    def note_sidecars_seen(self) -> None:
        self.data["sidecars_seen"] = True  # saved with the next record


def incident_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk-full"
    if isinstance(exc, OSError):
        return "io-error"
    return "internal-error"


class Outcomes:
    def __init__(self, cfg: Config, log: Logger, state: State) -> None:
        self.cfg = cfg
        self.log = log
        self.state = state
        self.archive = archive.Archive(cfg.archive_dir)

    def _now(self) -> str:
        return iso(now(self.cfg.zone))

    # ------------------------------------------------------------------ published
    def published(
        self, package: Package, build: Build, stamp: dict[str, Any], previous: str | None
    ) -> None:
        """Live: archive the package (and sidecar), record it, log ``published``."""
        archived = self._file_published(package, stamp["corte"])
        self.log.event(
            "published",
            package=package.name,
            corte=stamp["corte"],
            sha256=package.sha256,
            size=package.stat.st_size,
            release=build.release_id,
            previous=previous,
            files=len(build.extraction.files),
            linked=build.extraction.linked,
            written_bytes=build.extraction.written_bytes,
            csv_corte=build.csv_corte,
            sidecar=build.sidecar,
            latency_s=round(build.switched_at - package.received, 3),
            duration_s=round(time.monotonic() - package.started, 3),
            archived=archived,
        )

    def _file_published(self, package: Package, corte: str | None) -> str:
        """Archive a live package under its corte day and record it as published."""
        archived = self.archive.file(package, self.archive.day_dir(package.corte))
        self.state.record(
            package.name,
            sha256=package.sha256,
            outcome="published",
            archived=archived,
            corte=corte,
            ts=self._now(),
        )
        return archived

    def duplicate(self, package: Package, entry: dict[str, Any]) -> None:
        """The same name and bytes as before: nothing to publish; make sure the archive has it."""
        if self.archive.holds(entry, package.stat.st_size):
            if os.path.lexists(package.path):
                if archive.same_file(package.path, package.stat):
                    unlink_if_present(package.path)
                if package.sidecar:
                    unlink_if_present(package.sidecar)
            archived = entry.get("archived")
        else:
            directory = self.archive.day_dir(package.corte)
            if entry.get("outcome") != "published":
                directory = os.path.join(directory, "rejected")
            archived = self.archive.file(package, directory)
            self.state.record(package.name, **dict(entry, archived=archived))
        self.log.event(
            "duplicate",
            package=package.name,
            corte=iso(package.corte),
            sha256=package.sha256,
            previous_outcome=entry.get("outcome"),
            detail="identical re-push; nothing to do",
            archived=archived,
        )

    def recovered(self, package: Package, live: dict[str, Any]) -> None:
        """Live already (the last run was killed after the switch): finish the archiving."""
        archived = self._file_published(package, live.get("corte"))
        self.log.event(
            "recovered",
            package=package.name,
            corte=live.get("corte"),
            sha256=package.sha256,
            release=live.get("release"),
            detail="already live (interrupted after the switch); archiving completed",
            archived=archived,
        )

    # ------------------------------------------------------------------ rejected
    def rejected(self, package: Package, rejection: Rejection) -> None:
        """Quarantine a copy with its reason, archive the package under ``rejected/``."""
        quarantined, exists = archive.place(self.cfg.quarantine_dir, package.name, package.sha256)
        reason_doc = {
            "package": package.name,
            "reason": rejection.reason,
            "detail": rejection.detail,
            "sha256": package.sha256,
            "size": package.stat.st_size,
            "corte": iso(package.corte),
            "received": iso(from_ts(package.received, self.cfg.zone)),
            "rejected": self._now(),
        }
        write_json(quarantined + ".reason.json", reason_doc)
        if not exists:
            _quarantine_copy(package.path, package.sidecar, quarantined)
        directory = os.path.join(self.archive.day_dir(package.corte), "rejected")
        archived = self.archive.file(package, directory)
        self.state.record(
            package.name,
            sha256=package.sha256,
            outcome="rejected",
            reason=rejection.reason,
            archived=archived,
            ts=self._now(),
        )
        self.log.event(
            "rejected",
            package=package.name,
            corte=iso(package.corte),
            sha256=package.sha256,
            reason=rejection.reason,
            detail=rejection.detail,
            quarantine=os.path.relpath(quarantined, self.cfg.quarantine_dir),
            archived=archived,
            sidecar=_name(package.sidecar),
        )

    def refused(self, arrival: Arrival, file_stat: os.stat_result, rejection: Rejection) -> None:
        """Reject what is not processed as a package at all (a bad name, a symlink, a fifo...);
        its sidecar goes with it."""
        regular = stat.S_ISREG(file_stat.st_mode)
        sha256 = sha256_file(arrival.path) if regular else None
        quarantined, exists = archive.place(self.cfg.quarantine_dir, arrival.name, sha256)
        reason_doc = {
            "package": arrival.name,
            "reason": rejection.reason,
            "detail": rejection.detail,
            "sha256": sha256,
            "size": file_stat.st_size,
            "received": iso(from_ts(file_stat.st_ctime, self.cfg.zone)),
            "rejected": self._now(),
        }
        write_json(quarantined + ".reason.json", reason_doc)
        if regular:
            received_day = self.archive.day_dir(from_ts(file_stat.st_ctime, self.cfg.zone))
            filed = self._archive_refused(arrival, sha256, quarantined, exists, received_day)
        else:
            if exists:
                os.unlink(arrival.path)
            else:
                os.rename(arrival.path, quarantined)  # the link/fifo itself, never its target
            filed = quarantined
        if arrival.sidecar and os.path.lexists(arrival.sidecar):
            archive.file_sidecar(arrival.sidecar, filed)
        self.log.event(
            "rejected",
            package=arrival.name,
            sha256=sha256,
            reason=rejection.reason,
            detail=rejection.detail,
            quarantine=os.path.relpath(quarantined, self.cfg.quarantine_dir),
            archived=self.archive.relative(filed) if regular else None,
            sidecar=_name(arrival.sidecar),
        )

    def _archive_refused(
        self, arrival: Arrival, sha256: str | None, quarantined: str, exists: bool, day: str
    ) -> str:
        """A copy in quarantine (unless one is there), the file itself moved to the day's
        ``rejected/``; returns where it went."""
        if not exists:
            _quarantine_copy(arrival.path, arrival.sidecar, quarantined)
        target, same = archive.place(os.path.join(day, "rejected"), arrival.name, sha256)
        if same:
            os.unlink(arrival.path)
        else:
            move(arrival.path, target)
        return target

    # ------------------------------------------------------------------ waiting
    def incident(self, package: Package, exc: BaseException, published: bool) -> None:
        """The package could not be processed (disk full, I/O error, a bug): it stays in
        incoming for the next run, and the live release is what ``published`` says."""
        reason = incident_reason(exc)
        detail = f"{type(exc).__name__}: {exc}"
        if reason == "internal-error":
            lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            detail += " | " + " / ".join(lines.strip().splitlines()[-3:])
        self.log.event(
            "incident",
            package=package.name,
            corte=iso(package.corte),
            sha256=package.sha256,
            reason=reason,
            detail=detail,
            kept=True,
            live=("this package" if published else "unchanged"),
        )
        with contextlib.suppress(OSError):  # the disk that is full may hold the state too
            write_json(
                self.cfg.state_file(INCIDENT_FILE),
                {"package": package.name, "reason": reason, "detail": detail, "ts": self._now()},
            )

    # ------------------------------------------------------------------ late sidecar
    def late_sidecar(self, name: str) -> None:
        """A sidecar whose zip was processed already: check it, file it beside the archived zip."""
        zip_name = name[: -len(SIDECAR_SUFFIX)]
        path = os.path.join(self.cfg.incoming_dir, name)
        if corte_from_name(zip_name, self.cfg.zone) is None:
            # no package of that name is ever taken: refused as its package is
            with contextlib.suppress(FileNotFoundError):
                detail = f"the sidecar of {zip_name!r}, which is not a package name"
                arrival = Arrival.at(self.cfg.incoming_dir, name, self.cfg.zone)
                self.refused(arrival, os.lstat(path), Rejection("bad-name", detail))
            return
        entries = self.state.entries(zip_name)
        if not entries:
            return  # its zip may still be on its way
        entry = entries[-1]
        try:
            matches = read_sidecar(path, zip_name) == entry.get("sha256")
        except Rejection:
            matches = False
        dest = os.path.join(self.archive.root, (entry.get("archived") or zip_name) + SIDECAR_SUFFIX)
        if os.path.lexists(dest):
            dest = f"{dest}.{int(time.time())}"
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        move(path, dest)
        self.log.event(
            "sidecar-late",
            package=zip_name,
            sha256=entry.get("sha256"),
            matches=matches,
            detail="sidecar arrived after its package was processed",
            archived=self.archive.relative(dest),
        )


def _quarantine_copy(path: str, sidecar: str | None, quarantined: str) -> None:
    """A copy of the package (a hard link) in quarantine, and of its sidecar beside it."""
    link_or_copy(path, quarantined)
    if sidecar and os.path.isfile(sidecar):
        link_or_copy(sidecar, quarantined + SIDECAR_SUFFIX)


def _name(path: str | None) -> str | None:
    return os.path.basename(path) if path else None
