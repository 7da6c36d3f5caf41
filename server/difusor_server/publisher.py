"""``publish``: process every package waiting in the incoming directory, in corte order.

Each package goes through five steps (server/README.md, "What publish does"):

1. identify: its sha256 against what happened to its name before and against the live
   corte (``duplicate``, ``recovered``, ``name-reused``, ``older-corte``);
2. pre-check: size, sidecar, a zip that opens with its end record at the very end;
3. build release: every entry checked, then extracted into a temp release, the CSV cortes
   cross-checked;
4. switch: the stamp written, the release renamed into place, ``current`` switched;
5. record: the package archived, recorded in ``state.json``, ``published`` logged.

What arrives and when it is ready is ``intake``; what becomes of a package (published,
rejected, or waiting after an incident) is ``outcomes``.
"""

import fcntl
import os
import shutil
import stat
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from typing import Any, NoReturn

from . import hooks, intake, purge, release, ziplayout
from .config import Config
from .fsutil import read_json, unlink_if_present
from .intake import Arrival, NotReady, Package
from .log import Logger
from .outcomes import INCIDENT_FILE, STATE_FILE, Outcomes, State
from .package import Budget, Rejection, cross_check_corte, inspect_zip, read_sidecar
from .release import Build
from .timeutil import from_ts, iso, now, parse_iso

LOCK_FILE = "publish.lock"


class Stop(Exception):
    """Stop this run, leaving the package where it is (an incident was logged)."""


@dataclass
class Checked:
    """What passed the pre-check: the open zip, the limits it started to use, the sidecar."""

    zip_file: zipfile.ZipFile
    budget: Budget
    sidecar: str  # verified, absent or off


def make_directories(cfg: Config) -> None:
    for directory in (
        cfg.incoming_dir,
        cfg.archive_dir,
        cfg.releases_dir,
        cfg.quarantine_dir,
        cfg.state_dir,
        os.path.dirname(cfg.current_link),
    ):
        os.makedirs(directory, mode=0o755, exist_ok=True)


class Publisher:
    state: State
    outcomes: Outcomes

    def __init__(self, cfg: Config, log: Logger) -> None:
        self.cfg = cfg
        self.log = log
        self.published: list[dict[str, Any]] = []  # stamps of what this run made live
        self.exit_code = 0

    # ------------------------------------------------------------------ the run
    def run(self) -> int:
        cfg = self.cfg
        make_directories(cfg)
        lock_fd = os.open(cfg.state_file(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)  # concurrent triggers wait their turn
            self.state = State(cfg.state_file(STATE_FILE))
            self.outcomes = Outcomes(cfg, self.log, self.state)
            removed = release.cleanup_temp(cfg.releases_dir, cfg.current_link)
            if removed:
                self.log.event(
                    "cleanup", detail="removed leftovers of an interrupted run", removed=removed
                )
            try:
                self._process_incoming()
            finally:
                self._after()
            if self.exit_code == 0:  # nothing waits after an incident any more
                unlink_if_present(cfg.state_file(INCIDENT_FILE))
        finally:
            os.close(lock_fd)
        return self.exit_code

    def _process_incoming(self) -> None:
        """Every package in corte order, looking again after each (more may have arrived)."""
        done: set[str] = set()
        while True:
            found = intake.scan(self.cfg.incoming_dir, self.cfg.zone)
            for sidecar_name in found.lone_sidecars:
                self.outcomes.late_sidecar(sidecar_name)
            pending = sorted(
                (arrival for arrival in found.arrivals if arrival.name not in done),
                key=lambda arrival: arrival.sort_key,
            )
            if not pending:
                return
            arrival = pending[0]
            try:
                self._take(arrival)
            except NotReady as not_ready:
                time.sleep(max(0.05, min(0.25, not_ready.until - time.time())))
                continue
            except Stop:
                self.exit_code = 1
                return
            done.add(arrival.name)

    def _after(self) -> None:
        """Prune old releases and purge the CDN, once per run."""
        cfg = self.cfg
        live_dir, stamp = release.live_release(cfg.current_link)
        if self.published and live_dir:
            removed = release.prune(cfg.releases_dir, cfg.keep_releases, live_dir)
            if removed:
                self.log.event("pruned", removed=removed, kept=cfg.keep_releases)
        try:
            purge.run(cfg, self.log, stamp, bool(self.published))
        except Exception as exc:  # never let the purge break a run
            self.log.event("incident", reason="purge-error", detail=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ intake
    def _take(self, arrival: Arrival) -> None:
        """Refuse what is no package, wait for what is not ready, then publish it."""
        try:
            file_stat = os.lstat(arrival.path)
        except FileNotFoundError:
            return
        corte = arrival.corte
        if corte is None:
            detail = "not a package name YYYYMMDD_HHMM_..._STATE.zip (local corte time)"
            self.outcomes.refused(arrival, file_stat, Rejection("bad-name", detail))
            return
        if not stat.S_ISREG(file_stat.st_mode):
            detail = f"{stat.filemode(file_stat.st_mode)} entry in incoming"
            self.outcomes.refused(arrival, file_stat, Rejection("not-regular-file", detail))
            return
        received = file_stat.st_ctime
        intake.wait_for_sidecar(self.cfg, arrival, received, self.state.sidecars_seen)
        try:
            fd = os.open(arrival.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        try:
            self._publish(Package.read(arrival, corte, fd, received))
        finally:
            os.close(fd)

    def _publish(self, package: Package) -> None:
        """The five steps. A rejection in the first three leaves the live site as it was."""
        live_dir, live = release.live_release(self.cfg.current_link)
        try:
            if self._identify(package, live):
                return
            checked = self._pre_check(package)
            build = self._build_release(package, checked, live_dir)
        except Rejection as rejection:
            self.outcomes.rejected(package, rejection)
            return
        stamp = self._switch(package, build)
        hooks.pause("after-switch")
        self._record(package, build, stamp, previous=(live or {}).get("package"))

    # ------------------------------------------------------------------ 1. identify
    def _identify(self, package: Package, live: dict[str, Any] | None) -> bool:
        """True when the package was seen before and that settles it (``recovered``,
        ``duplicate``); raises Rejection ``name-reused`` or ``older-corte``."""
        history = self.state.entries(package.name) or self.outcomes.archive.history(
            package.name, package.corte
        )
        same_bytes = [entry for entry in history if entry.get("sha256") == package.sha256]
        if live and live.get("package") == package.name and live.get("sha256") == package.sha256:
            published = [entry for entry in same_bytes if entry.get("outcome") == "published"]
            if not published or not self.outcomes.archive.holds(
                published[-1], package.stat.st_size
            ):
                self.outcomes.recovered(package, live)
                return True
        if same_bytes:
            self.outcomes.duplicate(package, same_bytes[-1])
            return True
        if any(entry.get("outcome") == "published" for entry in history):
            raise Rejection(
                "name-reused", "a different package was already published under this name"
            )
        if live and live.get("corte") and package.corte < parse_iso(live["corte"]):
            raise Rejection(
                "older-corte",
                f"corte {iso(package.corte)} is older than the live "
                f"{live['corte']} ({live.get('package')})",
            )
        return False

    # ------------------------------------------------------------------ 2. pre-check
    def _pre_check(self, package: Package) -> Checked:
        """Size, sidecar and zip structure (end record, entry count), before anything is
        written or parsed."""
        limit = self.cfg.limits.max_total_bytes
        if package.stat.st_size > limit:
            raise Rejection(
                "too-big", f"the package file is {package.stat.st_size} bytes (limit {limit})"
            )
        sidecar = self._verify_sidecar(package)
        budget = Budget(self.cfg.limits)
        return Checked(self._open_zip(package, budget), budget, sidecar)

    def _verify_sidecar(self, package: Package) -> str:
        mode = self.cfg.sidecar
        if mode == "off":
            return "off"
        if package.sidecar is None:
            if mode == "require":
                raise Rejection(
                    "sidecar-missing",
                    f"no {package.name}.sha256 within "
                    f"{self.cfg.sidecar_wait_seconds:g} s and sidecar is 'require'",
                )
            return "absent"
        if not self.state.sidecars_seen:
            self.state.note_sidecars_seen()
        announced = read_sidecar(package.sidecar, package.name)
        if announced != package.sha256:
            raise Rejection(
                "sidecar-mismatch", f"sidecar says {announced}, the file is {package.sha256}"
            )
        return "verified"

    def _open_zip(self, package: Package, budget: Budget) -> zipfile.ZipFile:
        file = os.fdopen(os.dup(package.fd), "rb")
        try:
            return ziplayout.open_zip(file, package.stat.st_size, budget)
        except Rejection as rejection:
            file.close()
            if rejection.reason in ziplayout.UNREADABLE:
                intake.wait_until_settled(package.stat, self.cfg.settle_seconds)
            raise

    # ------------------------------------------------------------------ 3. build release
    def _build_release(self, package: Package, checked: Checked, live_dir: str | None) -> Build:
        """Check every entry against the limits, extract into a temp release (hard links to
        the live release's identical files), cross-check the CSV cortes."""
        release_id = release.release_id(package.corte, package.sha256)
        temp_dir = os.path.join(
            self.cfg.releases_dir, f"{release.TMP_PREFIX}{release_id}-{os.getpid()}"
        )
        try:
            with checked.zip_file as zip_file:
                budget = checked.budget
                members = inspect_zip(zip_file, budget, 0)
                if all(member.is_dir for member in members):
                    raise Rejection("empty-zip", "the zip holds no files")
                os.makedirs(os.path.join(temp_dir, "site"), mode=0o755)
                manifest = read_json(os.path.join(live_dir, "manifest.json")) if live_dir else None
                extraction = release.Extraction(temp_dir, budget, live_dir, manifest)
                extraction.extract(zip_file, members, "site", 0)
            csv_corte = cross_check_corte(package.corte, temp_dir, extraction.files)
        except Exception as exc:
            shutil.rmtree(temp_dir, ignore_errors=True)
            if isinstance(exc, Rejection):
                raise
            self._incident(package, exc)
        return Build(release_id, temp_dir, extraction, csv_corte, checked.sidecar)

    # ------------------------------------------------------------------ 4. switch
    def _switch(self, package: Package, build: Build) -> dict[str, Any]:
        """Write the stamp and manifest, rename the release into place, switch ``current``."""
        try:
            stamp = self._stamp(package, build)
            manifest = {
                "package": package.name,
                "sha256": package.sha256,
                "files": build.extraction.files,
            }
            final = release.finalize(
                self.cfg.releases_dir, build.temp_dir, build.release_id, stamp, manifest
            )
            release.switch(self.cfg.current_link, final)
        except OSError as exc:
            shutil.rmtree(build.temp_dir, ignore_errors=True)
            self._incident(package, exc)
        build.switched_at = time.time()
        return stamp

    def _stamp(self, package: Package, build: Build) -> dict[str, Any]:
        """``corte.json`` (server/README.md, "The stamp")."""
        corte_utc = package.corte.astimezone(timezone.utc).isoformat(timespec="seconds")
        return {
            "format": 1,
            "package": package.name,
            "corte": iso(package.corte),
            "corte_utc": corte_utc.replace("+00:00", "Z"),
            "sha256": package.sha256,
            "size": package.stat.st_size,
            "received": iso(from_ts(package.received, self.cfg.zone)),
            "published": iso(now(self.cfg.zone), ms=True),
            "release": build.release_id,
            "files": len(build.extraction.files),
            "bytes": build.extraction.total_bytes,
            "csv_corte": build.csv_corte,
            "sidecar": build.sidecar,
        }

    # ------------------------------------------------------------------ 5. record
    def _record(
        self, package: Package, build: Build, stamp: dict[str, Any], previous: str | None
    ) -> None:
        """Archive the package, record it in state.json, log ``published``."""
        try:
            self.outcomes.published(package, build, stamp, previous)
        except OSError as exc:
            self._incident(package, exc, published=True)
        self.published.append(stamp)

    def republish(self, package: Package) -> dict[str, Any]:
        """Make an archived package live again (``restore``): checked, built and switched as
        on arrival, but neither archived nor recorded (it is both already). Raises Rejection,
        or Stop after an incident. Call with the publish lock held."""
        self.state = State(self.cfg.state_file(STATE_FILE))
        self.outcomes = Outcomes(self.cfg, self.log, self.state)
        live_dir, _ = release.live_release(self.cfg.current_link)
        build = self._build_release(package, self._pre_check(package), live_dir)
        stamp = self._switch(package, build)
        self.published.append(stamp)
        self._after()
        return stamp

    def _incident(self, package: Package, exc: BaseException, published: bool = False) -> NoReturn:
        self.outcomes.incident(package, exc, published)
        raise Stop from exc


def watch(
    cfg: Config,
    log: Logger,
    poll_seconds: float = 0.2,
    sweep_seconds: float = 60.0,
    retry_seconds: float = 10.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Publish as packages arrive. The incoming directory is looked at every ``poll_seconds``
    and a run starts whenever its names or mtime changed since the snapshot taken *before*
    the previous run, so a package that lands during a run starts the next one at once (a
    systemd path unit triggering a oneshot service drops such an event and leaves the package
    for the sweep). A run also happens every ``sweep_seconds`` for owed purges and files that
    were still settling, and every ``retry_seconds`` while an incident (a full disk) keeps a
    package waiting, so publishing resumes by itself soon after space is freed."""
    seen: object = object()
    last_run = float("-inf")
    interval = sweep_seconds
    while not should_stop():
        snapshot = intake.snapshot(cfg.incoming_dir)
        if snapshot != seen or time.monotonic() - last_run >= interval:
            seen = snapshot
            last_run = time.monotonic()
            interval = retry_seconds if Publisher(cfg, log).run() else sweep_seconds
        time.sleep(poll_seconds)
    return 0
