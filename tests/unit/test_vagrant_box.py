"""The Vagrant box builder and rehearsal: cache key, version, metadata, catalog, cleanup choices."""

import json
from datetime import datetime
from pathlib import Path

from difusor.rehearsal.vagrant.box import (
    BoxSpec,
    box_catalog,
    box_key,
    box_metadata,
    box_vagrantfile,
    box_version,
    parse_box_list,
    stale_box_volumes,
)
from difusor.rehearsal.vagrant.rehearse import (
    MGMT_HOST,
    MGMT_PREFIX,
    helpers,
    leftovers,
    rehearsal_box,
    rehearsal_env,
)

ROOTFS = ("rootfs-bookworm-a5bc802410ed7589.tar.zst", 76703542, 1763792160.5)


def test_box_key_is_stable_and_follows_its_inputs():
    key = box_key(*ROOTFS)
    assert key == box_key(*ROOTFS) and len(key) == 16
    assert box_key("rootfs-bookworm-0000000000000000.tar.zst", *ROOTFS[1:]) != key  # another rootfs
    assert box_key(ROOTFS[0], ROOTFS[1] + 1, ROOTFS[2]) != key  # same name, rebuilt
    assert box_key(*ROOTFS, BoxSpec(builder_version=99)) != key  # another builder
    assert box_key(*ROOTFS, BoxSpec(packages=("linux-image-amd64",))) != key
    # package order does not matter
    assert box_key(*ROOTFS, BoxSpec(packages=tuple(reversed(BoxSpec().packages)))) == key


def test_box_version_is_numeric_and_unique_per_second():
    version = box_version(datetime(2025, 5, 20, 7, 3, 9), builder_version=3)
    assert version == "3.20250520.25389"
    assert all(
        part.isdigit() and not (len(part) > 1 and part.startswith("0"))
        for part in version.split(".")
    )
    assert box_version(datetime(2025, 5, 20, 7, 3, 10)) != box_version(
        datetime(2025, 5, 20, 7, 3, 9)
    )


def test_box_metadata_is_vagrant_libvirt_v1():
    assert box_metadata(12) == {"provider": "libvirt", "format": "qcow2", "virtual_size": 12}


def test_catalog_points_at_the_local_file(tmp_path):
    box = tmp_path / "difusor-debian-12-abc.box"
    catalog = box_catalog("difusor/debian-12", "1.20250520.1", box, "f" * 64, "Debian 12")
    assert catalog["name"] == "difusor/debian-12"
    (version,) = catalog["versions"]
    assert version["version"] == "1.20250520.1"
    (provider,) = version["providers"]
    assert provider == {
        "name": "libvirt",
        "url": box.as_uri(),
        "checksum_type": "sha256",
        "checksum": "f" * 64,
    }
    assert provider["url"].startswith("file:///")  # never a download
    json.dumps(catalog)


def test_box_vagrantfile_boots_the_kernel_with_its_own_key():
    text = box_vagrantfile(Path("/var/lib/libvirt/boot/difusor-debian-12-abc"))
    assert 'config.ssh.private_key_path = File.join(here, "vagrant_private_key")' in text
    assert 'staged = "/var/lib/libvirt/boot/difusor-debian-12-abc"' in text
    assert 'lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0"' in text
    assert "lv.kernel" in text and "lv.initrd" in text


def test_only_other_versions_of_the_box_are_stale():
    volumes = [
        "difusor-VAGRANTSLASH-debian-12_vagrant_box_image_1.20250520.1_box.img",
        "difusor-VAGRANTSLASH-debian-12_vagrant_box_image_1.20250521.7_box.img",
        "generic-VAGRANTSLASH-ubuntu2204_vagrant_box_image_4.3.12_box.img",
        "difusor_default.img",
    ]
    assert stale_box_volumes(volumes, "1.20250521.7") == [volumes[0]]


def test_parse_box_list():
    output = "\n".join(
        [
            "1700000000,,ui,info,difusor/debian-12 (libvirt%!(VAGRANT_COMMA) 1.20250520.1)",
            "1700000000,,box-name,difusor/debian-12",
            "1700000000,,box-provider,libvirt",
            "1700000000,,box-version,1.20250520.1",
            "1700000000,,box-name,difusor/debian-12",
            "1700000000,,box-provider,libvirt",
            "1700000000,,box-version,1.20250521.7",
            "1700000000,,box-name,generic/ubuntu2204",
            "1700000000,,box-provider,virtualbox",
            "1700000000,,box-version,4.3.12",
        ]
    )
    assert parse_box_list(output) == {
        "difusor/debian-12": [("libvirt", "1.20250520.1"), ("libvirt", "1.20250521.7")],
        "generic/ubuntu2204": [("virtualbox", "4.3.12")],
    }


def test_leftovers_are_only_this_projects_new_objects():
    before = {
        "domains": {"other_default"},
        "networks": {"default", "vagrant-libvirt"},
        "volumes": set(),
    }
    after = {
        "domains": {"other_default", "difusor_default", "someone-else"},
        "networks": {"default", "vagrant-libvirt", "difusor0", "difusor1", "mynet"},
        "volumes": {
            "difusor_default.img",
            "difusor-VAGRANTSLASH-debian-12_vagrant_box_image_1.2.3_box.img",
        },
    }
    assert leftovers(before, after, "difusor") == [
        ("domains", "difusor_default"),
        ("volumes", "difusor_default.img"),
        ("networks", "difusor0"),
        ("networks", "difusor1"),
    ]
    # a management network that existed before the run is someone else's
    assert ("networks", "vagrant-libvirt") not in leftovers(before, after, "difusor")


def test_rehearsal_env_selects_the_local_box_without_editing_the_vagrantfile(tmp_path):
    env = rehearsal_env(tmp_path, tmp_path / "rehearsal.env")
    assert env["DIFUSOR_BOX"] == "difusor/debian-12"
    assert env["DIFUSOR_LIBVIRT_DRIVER"] == "qemu"
    assert env["DIFUSOR_LIBVIRT_NETWORK_MODE"] == "none"
    assert env["DIFUSOR_ENV_FILE"] == str(tmp_path / "rehearsal.env")
    assert env["DIFUSOR_VAGRANT_APT_PROXY"].startswith("http://192.168.121.1:")


def test_vagrant_helpers_serve_only_the_management_network(tmp_path):
    proxy, ntp = helpers(tmp_path)
    proxy_lines = proxy.config().splitlines()
    assert f"Listen {MGMT_HOST}" in proxy_lines
    assert [line for line in proxy_lines if line.startswith("Allow ")] == [f"Allow {MGMT_PREFIX}"]
    ntp_lines = ntp.config().splitlines()
    assert f"bindaddress {MGMT_HOST}" in ntp_lines
    assert [line for line in ntp_lines if line.startswith("allow ")] == [f"allow {MGMT_PREFIX}"]
    assert ntp.netns is None  # on this machine, not in a lab namespace
    assert {proxy.conf.parent, ntp.conf.parent} == {tmp_path}


def test_rehearsal_runs_on_a_public_box_when_one_is_named():
    assert rehearsal_box({}) == "difusor/debian-12"
    assert rehearsal_box({"DIFUSOR_BOX": "generic/ubuntu2404"}) == "generic/ubuntu2404"
    env = rehearsal_env(Path("/tmp/w"), Path("/tmp/w/rehearsal.env"), "generic/ubuntu2204")
    assert env["DIFUSOR_BOX"] == "generic/ubuntu2204"
