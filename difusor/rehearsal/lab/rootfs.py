"""The lab machine's root file system: a debootstrap tarball cached by content,
extracted fresh for every `up`, then made into the `difusor-lab` host.

Defaults build Debian 12 (bookworm). An operator with an Ubuntu mirror can build an
Ubuntu rootfs instead by changing the spec (``RootfsSpec.ubuntu(...)`` or the
``DIFUSOR_LAB_*`` environment variables read by ``RootfsSpec.from_env()``)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..system import (
    LabError,
    alive,
    log,
    pids_with_root,
    remove_tree,
    run,
    sigterm_unwinds,
    terminate,
    write_file,
)
from . import network as net

# Everything the lab machine needs beyond debootstrap's minbase, in one place:
# a systemd boot (systemd-networkd comes with systemd), SSH, and what pyinfra needs.
PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "openssh-server",
    "python3",
    "iproute2",
    "netbase",
    "ca-certificates",
    "sudo",
    "procps",
)

# bump when the cache-time preparation below changes, so old tarballs are not reused
CACHE_FORMAT = 1


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.replace(",", " ").split() if v)


@dataclass(frozen=True)
class RootfsSpec:
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    components: tuple[str, ...] = ("main",)
    packages: tuple[str, ...] = PACKAGES
    # apt sources written into every fresh copy (the bootstrap itself uses suite only)
    updates_suites: tuple[str, ...] = ("bookworm-updates",)
    security_mirror: str | None = "http://deb.debian.org/debian-security"
    security_suites: tuple[str, ...] = ("bookworm-security",)
    variant: str = "minbase"
    keyring: str | None = None  # e.g. /usr/share/keyrings/ubuntu-archive-keyring.gpg
    extra_packages: tuple[str, ...] = field(default=())

    @classmethod
    def debian(
        cls,
        suite: str = "bookworm",
        mirror: str = "http://deb.debian.org/debian",
        security_mirror: str = "http://deb.debian.org/debian-security",
        components: tuple[str, ...] = ("main",),
        **kw,
    ) -> RootfsSpec:
        return cls(
            suite=suite,
            mirror=mirror,
            components=tuple(components),
            updates_suites=(f"{suite}-updates",),
            security_mirror=security_mirror,
            security_suites=(f"{suite}-security",),
            **kw,
        )

    @classmethod
    def ubuntu(
        cls,
        suite: str = "noble",
        mirror: str = "http://archive.ubuntu.com/ubuntu",
        security_mirror: str = "http://security.ubuntu.com/ubuntu",
        components: tuple[str, ...] = ("main", "universe"),
        keyring: str | None = "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
        **kw,
    ) -> RootfsSpec:
        return cls(
            suite=suite,
            mirror=mirror,
            components=tuple(components),
            updates_suites=(f"{suite}-updates",),
            security_mirror=security_mirror,
            security_suites=(f"{suite}-security",),
            keyring=keyring,
            **kw,
        )

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None) -> RootfsSpec:
        """Defaults, overridable by DIFUSOR_LAB_DISTRO (debian|ubuntu), _SUITE, _MIRROR,
        _SECURITY_MIRROR, _COMPONENTS, _KEYRING, _EXTRA_PACKAGES."""
        env = os.environ if env is None else env
        distro = env.get("DIFUSOR_LAB_DISTRO", "debian").lower()
        kw: dict[str, Any] = {}
        for var, key in (
            ("DIFUSOR_LAB_SUITE", "suite"),
            ("DIFUSOR_LAB_MIRROR", "mirror"),
            ("DIFUSOR_LAB_SECURITY_MIRROR", "security_mirror"),
        ):
            if env.get(var):
                kw[key] = env[var]
        if env.get("DIFUSOR_LAB_COMPONENTS"):
            kw["components"] = _split(env["DIFUSOR_LAB_COMPONENTS"])
        if distro == "ubuntu":
            if env.get("DIFUSOR_LAB_KEYRING"):
                kw["keyring"] = env["DIFUSOR_LAB_KEYRING"]
            spec = cls.ubuntu(**kw)
        elif distro == "debian":
            spec = cls.debian(**kw)
            if env.get("DIFUSOR_LAB_KEYRING"):
                spec = replace(spec, keyring=env["DIFUSOR_LAB_KEYRING"])
        else:
            raise LabError(f"DIFUSOR_LAB_DISTRO must be debian or ubuntu, not {distro!r}")
        if env.get("DIFUSOR_LAB_EXTRA_PACKAGES"):
            spec = replace(spec, extra_packages=_split(env["DIFUSOR_LAB_EXTRA_PACKAGES"]))
        return spec

    @property
    def all_packages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.packages) | set(self.extra_packages)))

    def cache_key(self) -> str:
        material = {
            "format": CACHE_FORMAT,
            "suite": self.suite,
            "mirror": self.mirror.rstrip("/"),
            "components": list(self.components),
            "packages": list(self.all_packages),
            "variant": self.variant,
            "arch": os.uname().machine,
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]

    def sources_list(self) -> str:
        comps = " ".join(self.components)
        lines = ["# difusor lab: same mirror and suites as the rootfs was built from"]
        for suite in (self.suite, *self.updates_suites):
            lines.append(f"deb {self.mirror} {suite} {comps}")
        if self.security_mirror:
            for suite in self.security_suites:
                lines.append(f"deb {self.security_mirror} {suite} {comps}")
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["cache_key"] = self.cache_key()
        return d


def default_cache_dir() -> Path:
    return Path(os.environ.get("DIFUSOR_CACHE_DIR") or Path.home() / ".cache" / "difusor")


def _compression() -> tuple[str, list[str]]:
    """File suffix and tar flag: zstd when the host has it, gzip otherwise."""
    if shutil.which("zstd"):
        return ".tar.zst", ["-I", "zstd -T0 -3"]
    return ".tar.gz", ["-z"]


TAR_FLAGS = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"]


class RootfsCache:
    def __init__(self, cache_dir: Path, spec: RootfsSpec):
        self.cache_dir = cache_dir
        self.spec = spec

    def tarball(self) -> Path:
        suffix, _ = _compression()
        return self.cache_dir / f"rootfs-{self.spec.suite}-{self.spec.cache_key()}{suffix}"

    def ensure(self) -> Path:
        """Return the cached tarball, building it first if it is not there."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        target = self.tarball()
        if target.exists():
            log.info("reusing cached rootfs %s", target.name)
            return target
        with sigterm_unwinds(), open(self.cache_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time
            if target.exists():
                return target
            self._build(target)
        return target

    def _build(self, target: Path) -> None:
        spec = self.spec
        if not shutil.which("debootstrap"):
            raise LabError("debootstrap not found: install the host package debootstrap")
        build = self.cache_dir / f"build-{spec.cache_key()}-{os.getpid()}"
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        self._remove_stale()
        started = time.monotonic()
        log.info(
            "building rootfs: debootstrap %s from %s (a few minutes, cached afterwards)",
            spec.suite,
            spec.mirror,
        )
        try:
            remove_tree(build)
            build.mkdir(parents=True)
            argv = [
                "debootstrap",
                f"--variant={spec.variant}",
                f"--components={','.join(spec.components)}",
                f"--include={','.join(spec.all_packages)}",
            ]
            if spec.keyring:
                argv.append(f"--keyring={spec.keyring}")
            argv += [spec.suite, str(build), spec.mirror]
            logfile = self.cache_dir / f"debootstrap-{spec.cache_key()}.log"
            with open(logfile, "w") as out:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                rc = proc.wait(timeout=3600)
            except BaseException:
                _kill_group(proc)
                raise
            if rc != 0:
                tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-25:])
                raise LabError(f"debootstrap failed ({rc}), see {logfile}:\n{tail}")
            _prepare_for_cache(build)
            _, flag = _compression()
            run(["tar", *TAR_FLAGS, *flag, "-C", str(build), "-cf", str(tmp), "."], timeout=1800)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            log.info(
                "rootfs built and cached in %.0fs: %s (%d MiB)",
                time.monotonic() - started,
                target,
                target.stat().st_size // 2**20,
            )
        finally:
            tmp.unlink(missing_ok=True)
            _kill_chrooted(build)
            remove_tree(build)

    def _remove_stale(self) -> None:
        """Leftovers of builds that were killed (their pid is in the name)."""
        for entry in self.cache_dir.iterdir():
            name = entry.name
            pid = name.rsplit("-", 1)[-1]
            if not (name.startswith("build-") or ".tmp-" in name) or not pid.isdigit():
                continue
            if int(pid) != os.getpid() and alive(int(pid)):
                continue
            log.info("removing stale build leftover %s", name)
            if entry.is_dir() and not entry.is_symlink():
                _kill_chrooted(entry)
                remove_tree(entry)
            else:
                entry.unlink(missing_ok=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a build command and everything it started (its own session/process group)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_chrooted(root: Path) -> None:
    pids = pids_with_root(root)
    if pids:
        terminate(pids, f"processes chrooted in {root.name}", timeout=5)


def _chroot(root: Path, *argv: str, check: bool = True):
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL": "C",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    return run(["chroot", str(root), *argv], env=env, check=check)


def _prepare_for_cache(root: Path) -> None:
    """One-time preparation that is the same for every lab machine."""
    # static networking with systemd-networkd (files are written per copy)
    _chroot(root, "systemctl", "enable", "systemd-networkd.service")
    # sshd at boot (Debian's postinst normally did this already)
    unit = "ssh.service"
    if (
        not (root / "lib/systemd/system/ssh.service").exists()
        and not (root / "usr/lib/systemd/system/ssh.service").exists()
    ):
        unit = "sshd.service"
    _chroot(root, "systemctl", "enable", unit)
    # per-machine identity is created per copy: never cache host keys or a machine id
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    write_file(root / "etc/machine-id", "")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() and not dbus_id.is_symlink():
        dbus_id.unlink()
    _chroot(root, "apt-get", "clean")
    lists = root / "var/lib/apt/lists"
    for entry in lists.glob("*"):
        if entry.is_file() and entry.name != "lock":
            entry.unlink()


def extract(tarball: Path, rootfs: Path) -> None:
    """Fresh copy of the cached rootfs at rootfs (which must not exist)."""
    if rootfs.exists():
        raise LabError(f"{rootfs} exists; tear the lab down first")
    rootfs.mkdir(parents=True, mode=0o755)
    flag = ["-I", "zstd"] if tarball.name.endswith(".zst") else ["-z"]
    started = time.monotonic()
    run(["tar", *TAR_FLAGS, *flag, "-C", str(rootfs), "-xpf", str(tarball)], timeout=900)
    log.info("extracted fresh rootfs in %.1fs", time.monotonic() - started)


def network_unit() -> str:
    return "\n".join(
        [
            "# difusor lab: static addresses on the lab bridge (generated)",
            "[Match]",
            f"Name={net.MACHINE_IFACE}",
            "",
            "[Network]",
            "DHCP=no",
            "IPv6AcceptRA=no",
            "LinkLocalAddressing=ipv6",
            "",
            "[Address]",
            f"Address={net.LAB_IPV4}/{net.IPV4_PREFIXLEN}",
            "",
            "[Address]",
            f"Address={net.LAB_IPV6}/{net.IPV6_PREFIXLEN}",
            "DuplicateAddressDetection=none",
            "",
        ]
    )


def customize(rootfs: Path, spec: RootfsSpec, public_key: str) -> None:
    """Turn a fresh copy into the difusor-lab host."""
    if not (rootfs / "etc").is_dir():
        raise LabError(f"{rootfs} is not a root file system")
    hostname = net.MACHINE
    write_file(rootfs / "etc/hostname", hostname + "\n")
    write_file(
        rootfs / "etc/hosts",
        "\n".join(
            [
                "127.0.0.1\tlocalhost",
                f"127.0.1.1\t{hostname}",
                "::1\tlocalhost ip6-localhost ip6-loopback",
                "ff02::1\tip6-allnodes",
                "ff02::2\tip6-allrouters",
                "",
            ]
        ),
    )
    write_file(rootfs / "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    write_file(rootfs / "etc/systemd/network/10-difusor-host0.network", network_unit())
    # no DNS on the lab link: apt goes through the host's proxy, which resolves names
    write_file(rootfs / "etc/resolv.conf", "# difusor lab: no resolver on the lab network\n")
    write_file(rootfs / "etc/apt/sources.list", spec.sources_list())
    deb822 = rootfs / "etc/apt/sources.list.d/debian.sources"
    if deb822.exists():
        deb822.unlink()
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    write_file(ssh_dir / "authorized_keys", public_key.strip() + "\n", 0o600)
    os.chown(ssh_dir, 0, 0)
    os.chown(ssh_dir / "authorized_keys", 0, 0)
    # fresh host keys for this copy
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    run(["ssh-keygen", "-A", "-f", str(rootfs)])
