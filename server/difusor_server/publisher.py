"""``publish``: process every package waiting in the incoming directory, in corte order."""

import errno
import fcntl
import os
import shutil
import stat
import time
import traceback
import zipfile
from datetime import timezone

from . import hooks, purge, release
from .fsutil import fd_chunks, link_or_copy, move, read_json, sha256_fd, sha256_file, write_json
from .package import (
    Budget,
    Rejection,
    check_layout,
    classify_unreadable,
    csv_corte,
    inspect_zip,
    read_sidecar,
    same_corte,
)
from .timeutil import corte_from_name, from_ts, iso, now, parse_iso

IGNORED_SUFFIXES = ("~", ".tmp", ".part", ".partial", ".swp", ".sha256")
STATE = "state.json"
LOCK = "publish.lock"


class Stop(Exception):
    """Stop this run, leaving the package where it is (an incident was logged)."""


class Defer(Exception):
    """Not ready yet (a sidecar or the file itself may still be arriving)."""

    def __init__(self, until):
        super().__init__(until)
        self.until = until


class Candidate:
    def __init__(self, cfg, name):
        self.name = name
        self.path = os.path.join(cfg.incoming_dir, name)
        self.corte = corte_from_name(name, cfg.zone)
        side = self.path + ".sha256"
        self.sidecar = side if os.path.lexists(side) else None

    @property
    def sort_key(self):
        return (
            0 if self.corte is None else 1,
            self.corte.timestamp() if self.corte else 0,
            self.name,
        )


class State:
    """``state_dir/state.json``: what happened to every package name."""

    def __init__(self, cfg):
        self.path = cfg.state_file(STATE)
        self.data = read_json(self.path) or {}
        self.data.setdefault("version", 1)
        self.data.setdefault("packages", {})

    def entries(self, name):
        return self.data["packages"].get(name, [])

    def record(self, name, **entry):
        entries = self.data["packages"].setdefault(name, [])
        entries[:] = [e for e in entries if e.get("sha256") != entry.get("sha256")]
        entries.append(entry)
        write_json(self.path, self.data)


class Publisher:
    def __init__(self, cfg, log):
        self.cfg = cfg
        self.log = log
        self.state = None
        self.published = []
        self.exit_code = 0

    # ------------------------------------------------------------------ run
    def run(self):
        cfg = self.cfg
        for d in (
            cfg.incoming_dir,
            cfg.archive_dir,
            cfg.releases_dir,
            cfg.quarantine_dir,
            cfg.state_dir,
            os.path.dirname(cfg.current_link),
        ):
            os.makedirs(d, mode=0o755, exist_ok=True)
        lock_fd = os.open(cfg.state_file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)  # concurrent triggers wait their turn
            self.state = State(cfg)
            removed = release.cleanup_temp(cfg.releases_dir, cfg.current_link)
            if removed:
                self.log.event(
                    "cleanup", detail="removed leftovers of an interrupted run", removed=removed
                )
            try:
                self._loop()
            finally:
                self._after()
        finally:
            os.close(lock_fd)
        return self.exit_code

    def _loop(self):
        done = set()
        while True:
            cands = sorted(
                (c for c in self._scan() if c.name not in done), key=lambda c: c.sort_key
            )
            if not cands:
                return
            cand = cands[0]
            try:
                self._process(cand)
            except Defer as d:
                time.sleep(max(0.05, min(0.25, d.until - time.time())))
                continue
            except Stop:
                self.exit_code = 1
                return
            done.add(cand.name)

    def _scan(self):
        cfg = self.cfg
        out = []
        try:
            entries = list(os.scandir(cfg.incoming_dir))
        except FileNotFoundError:
            return out
        names = {e.name for e in entries}
        for e in entries:
            name = e.name
            if name.startswith("."):
                continue  # rsync temp files (.NAME.zip.XXXXXX) and other dotfiles
            if name.endswith(".sha256"):
                if name[:-7] not in names:
                    self._orphan_sidecar(name)
                continue
            if name.endswith(IGNORED_SUFFIXES):
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            out.append(Candidate(cfg, name))
        return out

    def _after(self):
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

    # ------------------------------------------------------------------ one package
    def _process(self, c):
        cfg = self.cfg
        received = None
        try:
            st = os.lstat(c.path)
        except FileNotFoundError:
            return
        received = st.st_ctime
        if c.corte is None:
            return self._reject_file(
                c,
                st,
                "bad-name",
                "not a package name YYYYMMDD_HHMM_..._STATE.zip (local corte time)",
            )
        if not stat.S_ISREG(st.st_mode):
            return self._reject_file(
                c, st, "not-regular-file", f"{stat.filemode(st.st_mode)} entry in incoming"
            )
        # its sidecar may be right behind it (under if-present, only once the sender has used sidecars)
        expect = cfg.sidecar == "require" or (
            cfg.sidecar == "if-present" and self.state.data.get("sidecars_seen")
        )
        if c.sidecar is None and expect and time.time() - received < cfg.sidecar_wait_seconds:
            raise Defer(received + cfg.sidecar_wait_seconds)
        try:
            fd = os.open(c.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        try:
            return self._process_fd(c, fd, received)
        finally:
            os.close(fd)

    def _process_fd(self, c, fd, received):
        cfg = self.cfg
        started = time.monotonic()
        fst = os.fstat(fd)
        sha = sha256_fd(fd)
        live_dir, live = release.live_release(cfg.current_link)
        entries = self.state.entries(c.name) or self._archive_entries(c)

        # -- identity: re-push, recovery, reuse of a name, order
        if live and live.get("package") == c.name and live.get("sha256") == sha:
            published = [
                e for e in entries if e.get("sha256") == sha and e.get("outcome") == "published"
            ]
            if not published or not self._archived_ok(published[-1], fst.st_size):
                return self._recover(c, fd, sha, live, received)
        same = [e for e in entries if e.get("sha256") == sha]
        if same:
            return self._duplicate(c, fd, sha, same[-1], received)
        if any(e.get("outcome") == "published" for e in entries):
            return self._reject(
                c,
                fd,
                sha,
                received,
                Rejection(
                    "name-reused", "a different package was already published under this name"
                ),
            )
        try:
            if live and live.get("corte"):
                live_corte = parse_iso(live["corte"])
                if c.corte < live_corte:
                    raise Rejection(
                        "older-corte",
                        f"corte {iso(c.corte)} is older than the live "
                        f"{live['corte']} ({live.get('package')})",
                    )
            if fst.st_size > cfg.limits.max_total_bytes:
                raise Rejection(
                    "too-big", f"{fst.st_size} bytes (limit {cfg.limits.max_total_bytes})"
                )
            sidecar_state = self._check_sidecar(c, sha, received)
            zf = self._open_zip(c, fd, fst)
        except Rejection as rej:
            return self._reject(c, fd, sha, received, rej)

        # -- safety, extraction, corte cross-check
        rid = release.release_id(c.corte, sha)
        tmp = os.path.join(cfg.releases_dir, f"{release.TMP_PREFIX}{rid}-{os.getpid()}")
        try:
            with zf:
                budget = Budget(cfg.limits)
                members = inspect_zip(zf, budget, 0)
                if not any(not m.is_dir for m in members):
                    raise Rejection("empty-zip", "the zip holds no files")
                os.makedirs(os.path.join(tmp, "site"), mode=0o755)
                previous = release.live_release(cfg.current_link)[0]
                manifest = read_json(os.path.join(previous, "manifest.json")) if previous else None
                ex = release.Extraction(tmp, budget, previous, manifest)
                ex.extract(zf, members, "site", 0)
            csv_line = self._check_csv_corte(c, tmp, ex.files)
        except Rejection as rej:
            shutil.rmtree(tmp, ignore_errors=True)
            return self._reject(c, fd, sha, received, rej)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            return self._incident(c, sha, exc)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            return self._incident(c, sha, exc)

        # -- stamp, switch
        try:
            published_at = now(cfg.zone)
            stamp = {
                "format": 1,
                "package": c.name,
                "corte": iso(c.corte),
                "corte_utc": c.corte.astimezone(timezone.utc)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z"),
                "sha256": sha,
                "size": fst.st_size,
                "received": iso(from_ts(received, cfg.zone)),
                "published": iso(published_at, ms=True),
                "release": rid,
                "files": len(ex.files),
                "bytes": ex.total_bytes,
                "csv_corte": csv_line,
                "sidecar": sidecar_state,
            }
            manifest = {"package": c.name, "sha256": sha, "files": ex.files}
            final = release.finalize(cfg.releases_dir, tmp, rid, stamp, manifest)
            release.switch(cfg.current_link, final)
            switched = time.time()
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            return self._incident(c, sha, exc)
        hooks.pause("after-switch")

        # -- bookkeeping: state, archive, log
        try:
            archived = self._archive(c, fd, sha, fst, os.path.join(self._day_dir(c)))
            self.state.record(
                c.name,
                sha256=sha,
                outcome="published",
                archived=archived,
                corte=stamp["corte"],
                ts=iso(now(cfg.zone)),
            )
        except OSError as exc:
            return self._incident(c, sha, exc, published=True)
        self.published.append(stamp)
        self.log.event(
            "published",
            package=c.name,
            corte=stamp["corte"],
            sha256=sha,
            size=fst.st_size,
            release=rid,
            previous=(live or {}).get("package"),
            files=len(ex.files),
            linked=ex.linked,
            written_bytes=ex.written_bytes,
            csv_corte=csv_line,
            sidecar=sidecar_state,
            latency_s=round(switched - received, 3),
            duration_s=round(time.monotonic() - started, 3),
            archived=archived,
        )

    # ------------------------------------------------------------------ checks
    def _check_sidecar(self, c, sha, received):
        mode = self.cfg.sidecar
        if mode == "off":
            return "off"
        if c.sidecar is None:
            if mode == "require":
                raise Rejection(
                    "sidecar-missing",
                    f"no {c.name}.sha256 within "
                    f"{self.cfg.sidecar_wait_seconds:g} s and sidecar is 'require'",
                )
            return "absent"
        if not self.state.data.get("sidecars_seen"):
            self.state.data["sidecars_seen"] = True  # saved with this package's outcome
        announced = read_sidecar(c.sidecar, c.name)
        if announced != sha:
            raise Rejection("sidecar-mismatch", f"sidecar says {announced}, the file is {sha}")
        return "verified"

    def _open_zip(self, c, fd, fst):
        f = os.fdopen(os.dup(fd), "rb")
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            f.close()
            changed = max(fst.st_mtime, fst.st_ctime)
            if time.time() - changed < self.cfg.settle_seconds:
                raise Defer(
                    changed + self.cfg.settle_seconds
                )  # a slow uploader may still be writing
            os.lseek(fd, 0, os.SEEK_SET)
            head = os.read(fd, 8)
            os.lseek(fd, 0, os.SEEK_SET)
            reason = classify_unreadable(head, fst.st_size)
            raise Rejection(reason, f"{type(exc).__name__}: {exc}") from None
        try:
            check_layout(f, fst.st_size, zf)
        except Rejection:
            zf.close()
            raise
        return zf

    def _check_csv_corte(self, c, tmp, files):
        seen_line = None
        checked = 0
        for entry in files:
            if not entry["path"].lower().endswith(".csv") or checked >= 500:
                continue
            checked += 1
            with open(os.path.join(tmp, entry["path"]), "rb") as f:
                head = f.read(4096)
            dt, line = csv_corte(head)
            if dt is None:
                continue
            if not same_corte(c.corte, dt):
                raise Rejection(
                    "corte-mismatch",
                    f"{entry['path'][len('site/') :]!r} says {line!r}, "
                    f"the name says {iso(c.corte)}",
                )
            seen_line = seen_line or line
        return seen_line

    # ------------------------------------------------------------------ outcomes
    def _day_dir(self, c):
        return os.path.join(self.cfg.archive_dir, c.corte.strftime("%Y%m%d"))

    def _archive_entries(self, c):
        """State lost? A package archived under its plain name was published."""
        if c.corte is None:
            return []
        path = os.path.join(self._day_dir(c), c.name)
        if os.path.isfile(path):
            return [
                {
                    "sha256": sha256_file(path),
                    "outcome": "published",
                    "archived": os.path.relpath(path, self.cfg.archive_dir),
                }
            ]
        return []

    def _archived_ok(self, entry, size):
        rel = entry.get("archived")
        if not rel:
            return False
        try:
            return os.path.getsize(os.path.join(self.cfg.archive_dir, rel)) == size
        except OSError:
            return False

    def _place(self, directory, name, sha):
        """A free path for ``name`` in ``directory``; (path, True) if an identical file is there."""
        os.makedirs(directory, mode=0o755, exist_ok=True)
        target = os.path.join(directory, name)
        for candidate in (target, f"{target}.{(sha or 'nohash')[:12]}"):
            if not os.path.lexists(candidate):
                return candidate, False
            if (
                sha
                and os.path.isfile(candidate)
                and not os.path.islink(candidate)
                and sha256_file(candidate) == sha
            ):
                return candidate, True
        return f"{target}.{int(time.time() * 1000)}", False

    def _archive(self, c, fd, sha, fst, directory):
        """Move the incoming file (and its sidecar) into ``directory``; returns the path relative to
        archive_dir. If the name was replaced while we worked, the bytes we processed are copied
        from the open descriptor and the newer file stays for the next run."""
        target, exists = self._place(directory, c.name, sha)
        try:
            cur = os.lstat(c.path)
            same_file = (cur.st_ino, cur.st_dev) == (fst.st_ino, fst.st_dev)
        except FileNotFoundError:
            same_file = False
        if exists:
            if same_file:
                os.unlink(c.path)
        elif same_file:
            move(c.path, target)
        else:
            tmp = target + f".tmp-{os.getpid()}"
            with open(tmp, "wb") as out:
                for chunk in fd_chunks(fd):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        if c.sidecar and os.path.lexists(c.sidecar) and same_file:
            side = target + ".sha256"
            if os.path.lexists(side):
                os.unlink(c.sidecar)
            else:
                move(c.sidecar, side)
        return os.path.relpath(target, self.cfg.archive_dir)

    def _duplicate(self, c, fd, sha, entry, received):
        fst = os.fstat(fd)
        if self._archived_ok(entry, fst.st_size):
            try:
                cur = os.lstat(c.path)
                if (cur.st_ino, cur.st_dev) == (fst.st_ino, fst.st_dev):
                    os.unlink(c.path)
                if c.sidecar:
                    os.unlink(c.sidecar)
            except FileNotFoundError:
                pass
            archived = entry.get("archived")
        else:
            sub = (
                self._day_dir(c)
                if entry.get("outcome") == "published"
                else os.path.join(self._day_dir(c), "rejected")
            )
            archived = self._archive(c, fd, sha, fst, sub)
            self.state.record(c.name, **dict(entry, archived=archived))
        self.log.event(
            "duplicate",
            package=c.name,
            corte=iso(c.corte),
            sha256=sha,
            previous_outcome=entry.get("outcome"),
            detail="identical re-push; nothing to do",
            archived=archived,
        )

    def _recover(self, c, fd, sha, live, received):
        """Live already (we were killed after the switch): finish archiving, no new publication."""
        fst = os.fstat(fd)
        archived = self._archive(c, fd, sha, fst, self._day_dir(c))
        self.state.record(
            c.name,
            sha256=sha,
            outcome="published",
            archived=archived,
            corte=live.get("corte"),
            ts=iso(now(self.cfg.zone)),
        )
        self.published.append(live)  # its CDN purge may not have happened
        self.log.event(
            "recovered",
            package=c.name,
            corte=live.get("corte"),
            sha256=sha,
            release=live.get("release"),
            detail="already live (interrupted after the switch); archiving completed",
            archived=archived,
        )

    def _reject(self, c, fd, sha, received, rej):
        cfg = self.cfg
        fst = os.fstat(fd)
        qpath, exists = self._place(cfg.quarantine_dir, c.name, sha)
        reason_doc = {
            "package": c.name,
            "reason": rej.reason,
            "detail": rej.detail,
            "sha256": sha,
            "size": fst.st_size,
            "corte": iso(c.corte) if c.corte else None,
            "received": iso(from_ts(received, cfg.zone)),
            "rejected": iso(now(cfg.zone)),
        }
        write_json(qpath + ".reason.json", reason_doc)
        if not exists:
            link_or_copy(c.path, qpath)
            if c.sidecar and os.path.isfile(c.sidecar):
                link_or_copy(c.sidecar, qpath + ".sha256")
        day = (
            self._day_dir(c)
            if c.corte
            else os.path.join(cfg.archive_dir, from_ts(received, cfg.zone).strftime("%Y%m%d"))
        )
        archived = self._archive(c, fd, sha, fst, os.path.join(day, "rejected"))
        self.state.record(
            c.name,
            sha256=sha,
            outcome="rejected",
            reason=rej.reason,
            archived=archived,
            ts=iso(now(cfg.zone)),
        )
        self.log.event(
            "rejected",
            package=c.name,
            corte=iso(c.corte) if c.corte else None,
            sha256=sha,
            reason=rej.reason,
            detail=rej.detail,
            quarantine=os.path.relpath(qpath, cfg.quarantine_dir),
            archived=archived,
        )

    def _reject_file(self, c, st, reason, detail):
        """Reject something that is not processed as a package (bad name, symlink, fifo...)."""
        cfg = self.cfg
        regular = stat.S_ISREG(st.st_mode)
        sha = sha256_file(c.path) if regular else None
        qpath, exists = self._place(cfg.quarantine_dir, c.name, sha)
        doc = {
            "package": c.name,
            "reason": reason,
            "detail": detail,
            "sha256": sha,
            "size": st.st_size,
            "received": iso(from_ts(st.st_ctime, cfg.zone)),
            "rejected": iso(now(cfg.zone)),
        }
        write_json(qpath + ".reason.json", doc)
        archived = None
        if regular:
            if not exists:
                link_or_copy(c.path, qpath)
            day = os.path.join(
                cfg.archive_dir, from_ts(st.st_ctime, cfg.zone).strftime("%Y%m%d"), "rejected"
            )
            target, same = self._place(day, c.name, sha)
            if same:
                os.unlink(c.path)
            else:
                move(c.path, target)
            archived = os.path.relpath(target, cfg.archive_dir)
        elif not exists:
            os.rename(c.path, qpath)  # moves the link/fifo itself, never what it points at
        else:
            os.unlink(c.path)
        self.log.event(
            "rejected",
            package=c.name,
            sha256=sha,
            reason=reason,
            detail=detail,
            quarantine=os.path.relpath(qpath, cfg.quarantine_dir),
            archived=archived,
        )

    def _incident(self, c, sha, exc, published=False):
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            reason = "disk-full"
        elif isinstance(exc, OSError):
            reason = "io-error"
        else:
            reason = "internal-error"
        detail = f"{type(exc).__name__}: {exc}"
        if reason == "internal-error":
            detail += " | " + " / ".join(traceback.format_exc().strip().splitlines()[-3:])
        self.log.event(
            "incident",
            package=c.name,
            corte=iso(c.corte) if c.corte else None,
            sha256=sha,
            reason=reason,
            detail=detail,
            kept=True,
            live=("this package" if published else "unchanged"),
        )
        raise Stop()

    def _orphan_sidecar(self, name):
        """A sidecar whose zip was already processed: check it against the archive, file it there."""
        cfg = self.cfg
        zip_name = name[:-7]
        corte = corte_from_name(zip_name, cfg.zone)
        if corte is None or self.state is None:
            return
        entries = self.state.entries(zip_name)
        if not entries:
            return  # its zip may still be on its way
        entry = entries[-1]
        path = os.path.join(cfg.incoming_dir, name)
        try:
            announced = read_sidecar(path, zip_name)
            ok = announced == entry.get("sha256")
        except Rejection:
            ok = False
        dest = os.path.join(cfg.archive_dir, (entry.get("archived") or zip_name) + ".sha256")
        if os.path.lexists(dest):
            dest = f"{dest}.{int(time.time())}"
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        move(path, dest)
        self.log.event(
            "sidecar-late",
            package=zip_name,
            sha256=entry.get("sha256"),
            matches=ok,
            detail="sidecar arrived after its package was processed",
            archived=os.path.relpath(dest, cfg.archive_dir),
        )


def incoming_snapshot(incoming_dir):
    """What identifies the incoming directory's content: its names and its mtime."""
    try:
        return os.stat(incoming_dir).st_mtime_ns, frozenset(os.listdir(incoming_dir))
    except OSError:
        return None


def watch(cfg, log, poll_seconds=0.2, sweep_seconds=60.0, should_stop=lambda: False):
    """Publish as packages arrive. The incoming directory is looked at every ``poll_seconds``
    and a run starts whenever its names or mtime changed since the snapshot taken *before*
    the previous run, so a package that lands during a run starts the next one at once (a
    systemd path unit triggering a oneshot service drops such an event and leaves the package
    for the sweep). A run also happens every ``sweep_seconds`` for owed purges and files that
    were still settling."""
    seen = object()
    last_run = float("-inf")
    while not should_stop():
        snapshot = incoming_snapshot(cfg.incoming_dir)
        if snapshot != seen or time.monotonic() - last_run >= sweep_seconds:
            seen = snapshot
            last_run = time.monotonic()
            Publisher(cfg, log).run()
        time.sleep(poll_seconds)
    return 0
