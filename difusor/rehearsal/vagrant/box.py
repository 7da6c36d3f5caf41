"""
A local Vagrant box (libvirt provider) made from the nspawn lab's cached Debian 12 rootfs,
so that no box is ever downloaded:

    python -m difusor.rehearsal.vagrant box            # build once, then reuse; add it to Vagrant
    DIFUSOR_BOX=difusor/debian-12 DIFUSOR_LIBVIRT_DRIVER=qemu vagrant up --provider=libvirt

What goes into the box, on a copy of the cached rootfs (chroot + apt from the same mirror):
a kernel and initrd (``linux-image-amd64``), udev, ifupdown with isc-dhcp-client
(``eth0 inet dhcp``; Vagrant configures further networks through ifupdown), ``/dev/vda``
as root in fstab, SSH host keys created at first boot, and a ``vagrant`` user with
passwordless sudo. The box has its own SSH key pair, made at build time: the public key is
the vagrant user's only authorized key, the private key travels in the box and the box's
Vagrantfile points ``config.ssh.private_key_path`` at it (what ``vagrant package`` does), so
Vagrant's publicly known insecure key is never authorized and the project's Vagrantfile
needs no key setting.

The root file system is an ext4 image (``mkfs.ext4 -d``) converted to compressed qcow2.
The box archive holds box.img, metadata.json, info.json, vmlinuz, initrd.img, the private
key and a Vagrantfile that boots the kernel directly (``root=/dev/vda``). A catalog file
(Vagrant's box metadata format) next to it gives the box a version, and ``vagrant box add``
reads that catalog: the box is "downloaded" from a ``file://`` URL only.

Cache: ``$DIFUSOR_CACHE_DIR`` or ``~/.cache/difusor``, ``difusor-debian-12-<key>.box``
where the key covers the rootfs tarball (name, size, time), the builder version and the
box's package list; a new rootfs or builder makes a new box, and older ones are removed.

qemu runs as ``libvirt-qemu`` with Debian's libvirt, and cannot read a kernel under root's
home (where Vagrant keeps boxes); ``add`` therefore also copies the kernel and initrd to
``/var/lib/libvirt/boot/difusor-debian-12-<key>/``, which the box's Vagrantfile prefers.
No libvirt configuration (qemu.conf) is changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from difusor.rehearsal.lab.rootfs import RootfsCache, RootfsSpec, default_cache_dir, extract
from difusor.rehearsal.system import LabError, alive, remove_tree, run, sigterm_unwinds, write_file

log = logging.getLogger("difusor.rehearsal.vagrant")
if not log.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("vagrant: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False

# bump when anything the builder puts into the box changes
BUILDER_VERSION = 1

BOX_NAME = "difusor/debian-12"
BOX_STEM = "difusor-debian-12"
PROVIDER = "libvirt"

# What a VM boot needs beyond the lab rootfs (which has systemd, sshd, sudo, python3).
BOX_PACKAGES: tuple[str, ...] = (
    "linux-image-amd64",
    "initramfs-tools",
    "udev",
    "kmod",
    "ifupdown",
    "isc-dhcp-client",
    "e2fsprogs",
)

KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
DISK_GIB = 12
VAGRANT_USER = "vagrant"
LIBVIRT_BOOT_DIR = Path("/var/lib/libvirt/boot")


@dataclass(frozen=True)
class BoxSpec:
    name: str = BOX_NAME
    stem: str = BOX_STEM
    packages: tuple[str, ...] = BOX_PACKAGES
    disk_gib: int = DISK_GIB
    cmdline: str = KERNEL_CMDLINE
    builder_version: int = BUILDER_VERSION
    boot_dir: Path = field(default=LIBVIRT_BOOT_DIR)


# ---------------------------------------------------------------- pure logic (unit tested)


def box_key(
    rootfs_name: str, rootfs_size: int, rootfs_mtime: float, spec: BoxSpec = BoxSpec()
) -> str:
    """Cache key of a box: the rootfs tarball it is made from, the builder and its inputs."""
    material = {
        "rootfs": rootfs_name,
        "rootfs_size": rootfs_size,
        "rootfs_mtime": int(rootfs_mtime),
        "builder": spec.builder_version,
        "packages": sorted(spec.packages),
        "disk_gib": spec.disk_gib,
        "cmdline": spec.cmdline,
        "name": spec.name,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def box_version(built_at: datetime, builder_version: int = BUILDER_VERSION) -> str:
    """A Vagrant box version, unique per build: BUILDER.YYYYMMDD.SECONDS_OF_DAY."""
    seconds = built_at.hour * 3600 + built_at.minute * 60 + built_at.second
    return f"{builder_version}.{built_at:%Y%m%d}.{seconds}"


def box_metadata(disk_gib: int = DISK_GIB) -> dict:
    """metadata.json of a vagrant-libvirt box (format v1: one qcow2 disk, box.img)."""
    return {"provider": PROVIDER, "format": "qcow2", "virtual_size": disk_gib}


def box_catalog(name: str, version: str, box_file: Path, sha256: str, description: str) -> dict:
    """Vagrant's box metadata ("catalog") for one local version of the box."""
    return {
        "name": name,
        "description": description,
        "versions": [
            {
                "version": version,
                "providers": [
                    {
                        "name": PROVIDER,
                        "url": Path(box_file).absolute().as_uri(),
                        "checksum_type": "sha256",
                        "checksum": sha256,
                    }
                ],
            }
        ],
    }


def boot_dir_for(key: str, spec: BoxSpec = BoxSpec()) -> Path:
    return spec.boot_dir / f"{spec.stem}-{key}"


def box_vagrantfile(staged_boot_dir: Path, cmdline: str = KERNEL_CMDLINE) -> str:
    """The Vagrantfile inside the box: its own SSH key, and a direct kernel boot."""
    return f"""# -*- mode: ruby -*-
# Box Vagrantfile of difusor/debian-12, made by `python -m difusor.rehearsal.vagrant box`.
Vagrant.configure("2") do |config|
  here = File.dirname(__FILE__)
  # The box's own key pair, made when the box was built (never Vagrant's insecure key).
  config.ssh.private_key_path = File.join(here, "vagrant_private_key")

  config.vm.provider :libvirt do |lv|
    # Direct kernel boot. qemu runs as libvirt-qemu and cannot read boxes kept under
    # root's home: the box builder also copies the kernel to libvirt's boot directory.
    staged = "{staged_boot_dir}"
    boot = File.readable?(File.join(staged, "vmlinuz")) ? staged : here
    lv.kernel = File.join(boot, "vmlinuz")
    lv.initrd = File.join(boot, "initrd.img")
    lv.cmd_line = "{cmdline}"
    lv.disk_bus = "virtio"
  end
end
"""


def interfaces_file() -> str:
    return "\n".join(
        [
            "# difusor box: the first interface (Vagrant's management network) by DHCP;",
            "# Vagrant adds its private networks below.",
            "source /etc/network/interfaces.d/*",
            "",
            "auto lo",
            "iface lo inet loopback",
            "",
            "allow-hotplug eth0",
            "iface eth0 inet dhcp",
            "",
        ]
    )


def fstab() -> str:
    return "# difusor box\n/dev/vda\t/\text4\terrors=remount-ro\t0\t1\n"


def sudoers(user: str = VAGRANT_USER) -> str:
    return f"# difusor box: Vagrant's user\n{user} ALL=(ALL) NOPASSWD: ALL\n"


HOST_KEYS_UNIT = """\
[Unit]
Description=SSH host keys for this VM (the box ships none)
Before=ssh.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


def stale_box_volumes(
    volume_names: list[str], current_version: str, name: str = BOX_NAME
) -> list[str]:
    """Base-image volumes vagrant-libvirt uploaded for other versions of this box."""
    prefix = name.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"
    return [
        volume
        for volume in volume_names
        if volume.startswith(prefix) and not volume.startswith(f"{prefix}{current_version}_")
    ]


def parse_box_list(output: str) -> dict[str, list[tuple[str, str]]]:
    """`vagrant box list --machine-readable`: {box name: [(provider, version), ...]}."""
    boxes: dict[str, list[tuple[str, str]]] = {}
    name = provider = None
    for line in output.splitlines():
        parts = line.split(",", 3)
        if len(parts) < 4:
            continue
        kind, value = parts[2], parts[3]
        if kind == "box-name":
            name, provider = value, None
        elif kind == "box-provider":
            provider = value
        elif kind == "box-version" and name is not None:
            boxes.setdefault(name, []).append((provider or "", value))
    return boxes


# ---------------------------------------------------------------- the builder


@dataclass
class Box:
    name: str
    version: str
    key: str
    file: Path
    catalog: Path
    built_seconds: float | None = None  # None: reused from the cache


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _chroot(root: Path, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL": "C",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    return run(["chroot", str(root), *argv], env=env, timeout=timeout)


class BoxBuilder:
    def __init__(
        self,
        cache_dir: str | os.PathLike | None = None,
        rootfs_spec: RootfsSpec | None = None,
        spec: BoxSpec | None = None,
    ):
        self.cache_dir = Path(cache_dir or default_cache_dir()).absolute()
        self.rootfs_spec = rootfs_spec or RootfsSpec.from_env()
        self.spec = spec or BoxSpec()

    # -- paths
    def key(self, tarball: Path) -> str:
        st = tarball.stat()
        return box_key(tarball.name, st.st_size, st.st_mtime, self.spec)

    def box_file(self, key: str) -> Path:
        return self.cache_dir / f"{self.spec.stem}-{key}.box"

    def catalog_file(self, key: str) -> Path:
        return self.cache_dir / f"{self.spec.stem}-{key}.json"

    # -- build
    def ensure(self, rebuild: bool = False) -> Box:
        """The cached box for the current rootfs, built first when there is none."""
        tarball = RootfsCache(self.cache_dir, self.rootfs_spec).ensure()
        key = self.key(tarball)
        box_file, catalog = self.box_file(key), self.catalog_file(key)
        with sigterm_unwinds(), open(self.cache_dir / ".box-lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time
            built = None
            if rebuild or not (box_file.is_file() and catalog.is_file()):
                started = time.monotonic()
                self._build(tarball, key)
                built = time.monotonic() - started
            else:
                log.info("reusing cached box %s", box_file.name)
            self._remove_stale(key)
        version = json.loads(catalog.read_text())["versions"][0]["version"]
        return Box(self.spec.name, version, key, box_file, catalog, built)

    def _build(self, tarball: Path, key: str) -> None:
        spec = self.spec
        for tool in ("mkfs.ext4", "qemu-img", "ssh-keygen", "chroot", "tar"):
            if not shutil.which(tool):
                raise LabError(
                    f"{tool} not found: install e2fsprogs, qemu-utils and openssh-client"
                )
        build = self.cache_dir / f"box-build-{key}-{os.getpid()}"
        remove_tree(build)
        root, stage = build / "rootfs", build / "box"
        stage.mkdir(parents=True)
        log.info(
            "building box %s from %s (a few minutes, cached afterwards)", spec.name, tarball.name
        )
        started = time.monotonic()
        try:
            extract(tarball, root)
            run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"{spec.name} box key",
                    "-f",
                    str(stage / "vagrant_private_key"),
                ]
            )
            public_key = (stage / "vagrant_private_key.pub").read_text()
            (stage / "vagrant_private_key.pub").unlink()
            kernel_version = self._customize(root, public_key)
            shutil.copyfile(root / f"boot/vmlinuz-{kernel_version}", stage / "vmlinuz")
            shutil.copyfile(root / f"boot/initrd.img-{kernel_version}", stage / "initrd.img")
            raw = build / "root.ext4"
            run(
                [
                    "mkfs.ext4",
                    "-q",
                    "-F",
                    "-L",
                    "difusor-root",
                    "-E",
                    "root_owner=0:0",
                    "-d",
                    str(root),
                    str(raw),
                    f"{spec.disk_gib}G",
                ],
                timeout=1800,
            )
            remove_tree(root)  # the rootfs copy is in the image now; free the space early
            run(
                [
                    "qemu-img",
                    "convert",
                    "-c",
                    "-f",
                    "raw",
                    "-O",
                    "qcow2",
                    str(raw),
                    str(stage / "box.img"),
                ],
                timeout=1800,
            )
            raw.unlink()
            built_at = datetime.now()
            version = box_version(built_at, spec.builder_version)
            write_file(stage / "metadata.json", json.dumps(box_metadata(spec.disk_gib)) + "\n")
            write_file(
                stage / "Vagrantfile", box_vagrantfile(boot_dir_for(key, spec), spec.cmdline)
            )
            write_file(
                stage / "info.json",
                json.dumps(
                    {
                        "author": "difusor box builder",
                        "description": (
                            "Debian 12 from difusor's cached rootfs, for the Vagrant rehearsal"
                        ),
                        "rootfs": tarball.name,
                        "cache_key": key,
                        "builder_version": spec.builder_version,
                        "kernel": kernel_version,
                        "built": built_at.isoformat(timespec="seconds"),
                    },
                    indent=2,
                )
                + "\n",
            )
            box_file = self.box_file(key)
            tmp = box_file.with_name(f".{box_file.name}.tmp-{os.getpid()}")
            run(
                [
                    "tar",
                    "-C",
                    str(stage),
                    "-cf",
                    str(tmp),
                    "metadata.json",
                    "info.json",
                    "Vagrantfile",
                    "vagrant_private_key",
                    "vmlinuz",
                    "initrd.img",
                    "box.img",
                ],
                timeout=900,
            )
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, box_file)
            catalog = box_catalog(
                spec.name,
                version,
                box_file,
                _sha256(box_file),
                f"Debian 12 ({tarball.name}), kernel {kernel_version}",
            )
            write_file(self.catalog_file(key), json.dumps(catalog, indent=2) + "\n")
            log.info(
                "box %s %s built in %.0f s: %s (%d MiB)",
                spec.name,
                version,
                time.monotonic() - started,
                box_file,
                box_file.stat().st_size // 2**20,
            )
        finally:
            for leftover in self.cache_dir.glob(f".{self.spec.stem}-*.tmp-{os.getpid()}"):
                leftover.unlink(missing_ok=True)
            remove_tree(build)

    def _customize(self, root: Path, public_key: str) -> str:
        """Make the rootfs copy bootable as a Vagrant VM; return the kernel version."""
        # no service starts inside the chroot; name resolution for apt from this machine
        write_file(root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
        resolv = root / "etc/resolv.conf"
        if resolv.is_symlink():
            resolv.unlink()
        write_file(resolv, Path("/etc/resolv.conf").read_text())
        write_file(root / "etc/apt/sources.list", self.rootfs_spec.sources_list())
        (root / "etc/apt/sources.list.d/debian.sources").unlink(missing_ok=True)
        mounts = [("proc", root / "proc"), ("sysfs", root / "sys")]
        try:
            for fstype, where in mounts:
                run(["mount", "-t", fstype, fstype, str(where)])
            _chroot(root, "apt-get", "update", "-q", timeout=600)
            _chroot(
                root,
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                *self.spec.packages,
                timeout=1800,
            )
            _chroot(root, "apt-get", "clean")
        finally:
            for _, where in reversed(mounts):
                run(["umount", str(where)], check=False)
        kernels = sorted(p.name.removeprefix("vmlinuz-") for p in (root / "boot").glob("vmlinuz-*"))
        if not kernels or not (root / f"boot/initrd.img-{kernels[-1]}").is_file():
            raise LabError("the kernel package left no vmlinuz/initrd.img in /boot")

        # the vagrant user: passwordless sudo, the box key
        _chroot(
            root, "useradd", "--create-home", "--shell", "/bin/bash", "--user-group", VAGRANT_USER
        )
        write_file(root / f"etc/sudoers.d/{VAGRANT_USER}", sudoers(), 0o440)
        home = root / "home" / VAGRANT_USER
        write_file(home / ".ssh/authorized_keys", public_key.strip() + "\n", 0o600)
        os.chmod(home / ".ssh", 0o700)
        _chroot(root, "chown", "-R", f"{VAGRANT_USER}:{VAGRANT_USER}", f"/home/{VAGRANT_USER}/.ssh")

        # network: ifupdown + dhclient on eth0 (not systemd-networkd, which the lab uses)
        for unit in (
            "systemd-networkd.service",
            "systemd-networkd.socket",
            "systemd-networkd-wait-online.service",
        ):
            _chroot(root, "systemctl", "disable", unit)
        for stale in (root / "etc/systemd/network").glob("*.network"):
            stale.unlink()
        write_file(root / "etc/network/interfaces", interfaces_file())
        _chroot(root, "systemctl", "enable", "networking.service")

        # identity: host name set by Vagrant, machine id and host keys made at first boot
        write_file(root / "etc/hostname", "difusor-box\n")
        write_file(
            root / "etc/hosts",
            "127.0.0.1\tlocalhost\n127.0.1.1\tdifusor-box\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n",
        )
        write_file(root / "etc/machine-id", "")
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        write_file(root / "etc/systemd/system/difusor-ssh-host-keys.service", HOST_KEYS_UNIT)
        _chroot(root, "systemctl", "enable", "difusor-ssh-host-keys.service")
        write_file(root / "etc/fstab", fstab())

        # leave no build traces: apt lists, the chroot policy, this machine's resolver
        for entry in (root / "var/lib/apt/lists").glob("*"):
            if entry.is_file() and entry.name != "lock":
                entry.unlink()
        (root / "usr/sbin/policy-rc.d").unlink()
        write_file(resolv, "# written by dhclient at boot\n")
        return kernels[-1]

    def _remove_stale(self, key: str) -> None:
        """Boxes of earlier rootfs/builders, and leftovers of killed builds."""
        for entry in self.cache_dir.glob(f"{self.spec.stem}-*"):
            if key not in entry.name and entry.suffix in (".box", ".json"):
                log.info("removing stale box %s", entry.name)
                entry.unlink(missing_ok=True)
        for entry in self.cache_dir.glob("box-build-*"):
            pid = entry.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
                log.info("removing stale build leftover %s", entry.name)
                remove_tree(entry)

    # -- install into Vagrant
    def add(self, box: Box, env: dict | None = None) -> bool:
        """Add this version of the box to Vagrant (once) and stage its kernel for qemu;
        remove the box's other versions. True if it was added now."""
        env = env or dict(os.environ)
        self.stage_kernel(box)
        listed = parse_box_list(
            run(["vagrant", "box", "list", "--machine-readable"], env=env, timeout=120).stdout
        )
        versions = {
            version for provider, version in listed.get(box.name, []) if provider == PROVIDER
        }
        added = False
        if box.version not in versions:
            log.info("vagrant box add %s %s (from %s)", box.name, box.version, box.catalog.name)
            run(
                ["vagrant", "box", "add", "--force", "--provider", PROVIDER, str(box.catalog)],
                env=env,
                timeout=900,
            )
            added = True
        for version in sorted(versions - {box.version}):
            log.info("vagrant box remove %s %s (an older build)", box.name, version)
            run(
                [
                    "vagrant",
                    "box",
                    "remove",
                    box.name,
                    "--provider",
                    PROVIDER,
                    "--box-version",
                    version,
                    "--force",
                ],
                env=env,
                timeout=300,
                check=False,
            )
        for stale in self.spec.boot_dir.glob(f"{self.spec.stem}-*"):
            if stale.name != f"{self.spec.stem}-{box.key}":
                remove_tree(stale)
        return added

    def stage_kernel(self, box: Box) -> Path:
        """Kernel and initrd where qemu can read them (libvirt's boot directory)."""
        target = boot_dir_for(box.key, self.spec)
        if (target / "vmlinuz").is_file() and (target / "initrd.img").is_file():
            return target
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        remove_tree(tmp)
        tmp.mkdir(parents=True, mode=0o755)
        run(["tar", "-C", str(tmp), "-xf", str(box.file), "vmlinuz", "initrd.img"], timeout=300)
        for name in ("vmlinuz", "initrd.img"):
            os.chmod(tmp / name, 0o644)
        os.chmod(tmp, 0o755)
        remove_tree(target)
        os.replace(tmp, target)
        return target


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m difusor.rehearsal.vagrant box",
        description="Build (or reuse) the local box and add it to Vagrant.",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build again even if a cached box exists"
    )
    parser.add_argument(
        "--no-add", action="store_true", help="only build the .box file, do not add it to Vagrant"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("the box builder needs root (chroot, device nodes in the image)")
    builder = BoxBuilder()
    box = builder.ensure(rebuild=args.rebuild)
    if not args.no_add:
        builder.add(box)
    print(f"box {box.name} {box.version}: {box.file}")
    print(
        f"use it: DIFUSOR_BOX={box.name} DIFUSOR_LIBVIRT_DRIVER=qemu vagrant up --provider=libvirt"
    )
    return 0
