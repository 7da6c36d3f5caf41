"""The publisher's steps where the other suites do not reach: a sidecar arriving after its
package, a lost state file, a file still being written, and an incident at each step that can
have one (build release, switch, record). The incidents are forced in-process, by making one
call fail, since a real one needs a broken disk."""

import errno
import hashlib
import io
import json
import os
import time

import pytest
from difusor_server import archive, release
from difusor_server.config import Config
from difusor_server.log import Logger
from difusor_server.publisher import Publisher
from srvtools import Tree

FIRST = "20240602_2100_PREP_VER.zip"
SECOND = "20240602_2115_PREP_VER.zip"


def run_in_process(tree: Tree) -> tuple[int, list[dict]]:
    log = Logger(None, stream=io.StringIO())
    code = Publisher(Config(tree.config), log).run()
    return code, log.lines


def tmp_releases(tree: Tree) -> list[str]:
    return [name for name in tree.release_dirs() if name.startswith(".tmp-")]


@pytest.fixture()
def live_tree(tree):
    tree.put(tree.package("2024-06-02T21:00", 0.4))
    assert tree.publish().only("published")
    return tree


# ----------------------------------------------------------------------------- intake


def test_a_sidecar_arriving_after_its_package_is_checked_and_archived_beside_it(live_tree):
    data = (live_tree.archive / "20240602" / FIRST).read_bytes()
    (live_tree.incoming / (FIRST + ".sha256")).write_text(
        f"{hashlib.sha256(data).hexdigest()}  {FIRST}\n"
    )
    [event] = live_tree.publish().events
    assert event["event"] == "sidecar-late" and event["matches"] is True
    assert event["archived"] == f"20240602/{FIRST}.sha256"
    assert (live_tree.archive / event["archived"]).exists()
    assert os.listdir(live_tree.incoming) == []

    (live_tree.incoming / (FIRST + ".sha256")).write_text(f"{'0' * 64}  {FIRST}\n")
    [event] = live_tree.publish().events
    assert event["event"] == "sidecar-late" and event["matches"] is False
    assert (live_tree.archive / event["archived"]).read_text().startswith("0" * 64)


def test_a_sidecar_whose_package_has_not_come_yet_waits(tree):
    (tree.incoming / (SECOND + ".sha256")).write_text(f"{'0' * 64}  {SECOND}\n")
    assert tree.publish().events == []
    assert (tree.incoming / (SECOND + ".sha256")).exists()


@pytest.mark.parametrize("nesting", ["flat", "zip"])
def test_a_file_still_being_written_in_place_is_given_time_to_settle(tree, nesting):
    """Half a package of nested zips holds a whole nested zip, which zipfile would open."""
    tree.configure(settle_seconds=2)
    data = tree.package("2024-06-02T21:15", 0.5, nesting=nesting).read_bytes()
    target = tree.incoming / SECOND
    target.write_bytes(data[: len(data) // 2])  # an uploader writing in place, half-way
    proc = tree.spawn_publish()
    time.sleep(0.8)
    with open(target, "ab") as f:
        f.write(data[len(data) // 2 :])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert [json.loads(line)["event"] for line in out.splitlines()] == ["published"], out
    assert tree.live()["sha256"] == hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- identify


def test_with_the_state_file_lost_a_re_push_is_recognised_from_the_archive(live_tree):
    releases = live_tree.release_dirs()
    (live_tree.state / "state.json").unlink()
    live_tree.put(live_tree.staging / FIRST)
    [event] = live_tree.publish().events
    assert event["event"] == "duplicate" and event["previous_outcome"] == "published"
    assert live_tree.release_dirs() == releases


def test_a_rejected_package_pushed_again_is_a_duplicate_of_the_rejection(live_tree):
    (live_tree.incoming / SECOND).write_bytes(b"not a zip at all" * 10)
    assert live_tree.publish().only("rejected")
    (live_tree.incoming / SECOND).write_bytes(b"not a zip at all" * 10)
    [event] = live_tree.publish().events
    assert event["event"] == "duplicate" and event["previous_outcome"] == "rejected"
    assert os.listdir(live_tree.incoming) == []


# ----------------------------------------------------------------------------- incidents


def test_an_unexpected_error_while_building_is_an_internal_error_and_the_package_waits(
    live_tree, monkeypatch
):
    live = live_tree.live()
    live_tree.put(live_tree.package("2024-06-02T21:15", 0.5))

    def broken(*args, **kwargs):
        raise RuntimeError("extraction bug")

    monkeypatch.setattr(release.Extraction, "extract", broken)
    code, lines = run_in_process(live_tree)
    assert code == 1
    [event] = lines
    assert event["event"] == "incident" and event["reason"] == "internal-error"
    assert event["detail"].startswith("RuntimeError: extraction bug | ")
    assert "raise RuntimeError" in event["detail"]
    assert event["kept"] is True and event["live"] == "unchanged"
    assert live_tree.live() == live and tmp_releases(live_tree) == []
    assert (live_tree.incoming / SECOND).exists()

    monkeypatch.undo()
    assert [e["event"] for e in live_tree.publish().events] == ["published"]


def test_an_io_error_at_the_switch_leaves_the_live_release(live_tree, monkeypatch):
    live = live_tree.live()
    link = os.readlink(live_tree.current)
    live_tree.put(live_tree.package("2024-06-02T21:15", 0.5))

    def broken(current_link, release_dir):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(release, "switch", broken)
    code, [event] = run_in_process(live_tree)
    assert code == 1
    assert event["event"] == "incident" and event["reason"] == "io-error"
    assert event["live"] == "unchanged"
    assert os.readlink(live_tree.current) == link and live_tree.live() == live
    assert (live_tree.incoming / SECOND).exists()

    monkeypatch.undo()
    assert [e["event"] for e in live_tree.publish().events] == ["published"]
    assert live_tree.live()["package"] == SECOND


def test_a_full_disk_after_the_switch_is_recovered_by_the_next_run(live_tree, monkeypatch):
    live_tree.put(live_tree.package("2024-06-02T21:15", 0.5))

    def full(self, package, directory):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archive.Archive, "file", full)
    code, [event] = run_in_process(live_tree)
    assert code == 1
    assert event["event"] == "incident" and event["reason"] == "disk-full"
    assert event["live"] == "this package"
    assert live_tree.live()["package"] == SECOND
    assert (live_tree.incoming / SECOND).exists()

    monkeypatch.undo()
    [event] = live_tree.publish().events
    assert event["event"] == "recovered" and event["package"] == SECOND
    assert (live_tree.archive / "20240602" / SECOND).exists()
