"""Publishing: the happy path, the stamp, byte-for-byte files, duplicates, order, dedup, pruning."""

import io
import json
import os
import time
import zipfile
from datetime import datetime

import pytest
from srvtools import Tree


def test_happy_path_publishes_byte_for_byte_with_stamp(tree):
    pkg = tree.package("2024-06-02T21:15", 0.6, sidecar=True)
    tree.put(pkg, sidecar=pkg.with_name(pkg.name + ".sha256"))
    result = tree.publish()
    assert result.rc == 0, result.stderr
    [ev] = result.only("published")
    assert ev["package"] == "20240602_2115_PREP_VER.zip"
    assert ev["corte"] == "2024-06-02T21:15:00-06:00"
    assert ev["sidecar"] == "verified"
    assert ev["latency_s"] >= 0 and ev["csv_corte"] == "02/06/2024 21:15 (UTC-6)"

    # the stamp, outside the served tree
    stamp = tree.live()
    data = pkg.read_bytes()
    import hashlib

    assert stamp["package"] == pkg.name
    assert stamp["corte"] == "2024-06-02T21:15:00-06:00"
    assert stamp["corte_utc"] == "2024-06-03T03:15:00Z"
    assert stamp["sha256"] == hashlib.sha256(data).hexdigest()
    assert stamp["size"] == len(data)
    for key in ("received", "published"):
        assert datetime.fromisoformat(stamp[key]).tzinfo is not None
    assert datetime.fromisoformat(stamp["published"]) >= datetime.fromisoformat(stamp["received"])
    assert os.path.islink(tree.current)
    assert (tree.current / "site").is_dir() and not (tree.current / "site" / "corte.json").exists()

    # every member, and every member of the nested election zips, served as received
    site = tree.current / "site"
    outer = zipfile.ZipFile(io.BytesIO(data))
    names = [zi.filename for zi in outer.infolist()]
    assert names == ["20240602_2115_PREP_GUB_VER.zip", "20240602_2115_PREP_DIP_LOC_VER.zip"]
    for zi in outer.infolist():
        inner_bytes = outer.read(zi)
        assert (site / zi.filename).read_bytes() == inner_bytes
        inner = zipfile.ZipFile(io.BytesIO(inner_bytes))
        folder = site / zi.filename[:-4]
        assert sorted(p.name for p in folder.iterdir()) == sorted(inner.namelist())
        for member in inner.infolist():
            assert (folder / member.filename).read_bytes() == inner.read(member)

    # archived (with its sidecar), incoming empty, one structured line in the log file too
    assert (tree.archive / "20240602" / pkg.name).read_bytes() == data
    assert (tree.archive / "20240602" / (pkg.name + ".sha256")).exists()
    assert os.listdir(tree.incoming) == []
    assert [r["event"] for r in tree.log_records()] == ["published"]
    assert tree.log_records()[0]["sha256"] == stamp["sha256"]


def test_identical_repush_is_a_noop(tree):
    pkg = tree.package("2024-06-02T21:15", 0.6)
    tree.put(pkg)
    assert tree.publish().only("published")
    before = (tree.release_dirs(), os.readlink(tree.current), tree.live()["published"])
    tree.put(pkg)
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["duplicate"]
    assert result.only("duplicate")[0]["previous_outcome"] == "published"
    assert (tree.release_dirs(), os.readlink(tree.current), tree.live()["published"]) == before
    assert os.listdir(tree.incoming) == []
    assert list(tree.archive.rglob("*.zip")) == [tree.archive / "20240602" / pkg.name]
    assert not tree.quarantine.exists() or not os.listdir(tree.quarantine)


def test_several_at_once_are_published_in_corte_order(tree):
    cortes = ["2024-06-02T21:45", "2024-06-02T21:15", "2024-06-02T21:30"]
    for i, corte in enumerate(cortes):
        tree.put(tree.package(corte, 0.3 + 0.1 * i))
    result = tree.publish()
    assert result.rc == 0
    assert [e["package"] for e in result.only("published")] == [
        "20240602_2115_PREP_VER.zip",
        "20240602_2130_PREP_VER.zip",
        "20240602_2145_PREP_VER.zip",
    ]
    assert tree.live()["package"] == "20240602_2145_PREP_VER.zip"
    assert len(tree.release_dirs()) == 3


def test_identical_files_are_hardlinked_between_consecutive_releases(tree):
    tree.put(tree.package("2024-06-02T21:15", 0.3))
    tree.publish()
    first = tree.current.resolve()
    tree.put(tree.package("2024-06-02T21:30", 0.6))
    result = tree.publish()
    second = tree.current.resolve()
    assert first != second
    [ev] = result.only("published")
    assert ev["linked"] == 4  # LEEME.txt and the CANDIDATURAS CSV of both elections

    def ino(root, rel):
        return (root / "site" / rel).stat().st_ino

    same = [
        "20240602_2130_PREP_GUB_VER/LEEME.txt",
        "20240602_2130_PREP_GUB_VER/VER_GUB_CANDIDATURAS_2024.csv",
    ]
    old = [
        "20240602_2115_PREP_GUB_VER/LEEME.txt",
        "20240602_2115_PREP_GUB_VER/VER_GUB_CANDIDATURAS_2024.csv",
    ]
    for new_rel, old_rel in zip(same, old, strict=True):
        # the nested folder is named after this corte's zip, so dedup is by content, not by path
        assert ino(second, new_rel) == ino(first, old_rel)
        assert (second / "site" / new_rel).stat().st_nlink == 2
    assert ino(second, "20240602_2130_PREP_GUB_VER/VER_GUB_2024.csv") != ino(
        first, "20240602_2115_PREP_GUB_VER/VER_GUB_2024.csv"
    )


def test_identical_files_at_the_same_path_are_hardlinked(tree):
    from srvtools import zip_bytes

    a = tree.staging / "a.zip"
    a.write_bytes(
        zip_bytes([("index.html", b"<html>same</html>"), ("data/corte.json", b'{"corte": 1}')])
    )
    b = tree.staging / "b.zip"
    b.write_bytes(
        zip_bytes([("index.html", b"<html>same</html>"), ("data/corte.json", b'{"corte": 2}')])
    )
    tree.put(a, "20240602_2115_PREP_VER.zip")
    tree.publish()
    first = tree.current.resolve()
    tree.put(b, "20240602_2130_PREP_VER.zip")
    tree.publish()
    second = tree.current.resolve()
    assert (first / "site/index.html").stat().st_ino == (second / "site/index.html").stat().st_ino
    assert (first / "site/data/corte.json").stat().st_ino != (
        second / "site/data/corte.json"
    ).stat().st_ino
    assert (second / "site/data/corte.json").read_bytes() == b'{"corte": 2}'


def test_pruning_keeps_count_and_never_the_live_release(tree):
    tree.configure(keep_releases=2)
    for i, corte in enumerate(
        ["2024-06-02T21:00", "2024-06-02T21:15", "2024-06-02T21:30", "2024-06-02T21:45"]
    ):
        tree.put(tree.package(corte, 0.2 + 0.1 * i))
        tree.publish()
    releases = tree.release_dirs()
    assert len(releases) == 2
    assert (
        releases[-1].startswith("20240602T2145")
        and os.path.basename(os.readlink(tree.current)) == releases[-1]
    )
    assert len(list(tree.archive.rglob("*.zip"))) == 4  # packages are kept forever

    # an operator rolled back to the older release: a prune with keep=1 still keeps it
    from difusor_server import release

    live = tree.releases / releases[0]
    removed = release.prune(str(tree.releases), 1, str(live))
    assert removed == []
    assert tree.release_dirs() == releases
    removed = release.prune(str(tree.releases), 1, str(tree.releases / releases[1]))
    assert removed == [releases[0]]


def test_rsync_temp_files_and_dotfiles_are_ignored(tree):
    pkg = tree.package("2024-06-02T21:15", 0.5)
    partial = tree.incoming / ".20240602_2115_PREP_VER.zip.Xy12Ab"
    partial.write_bytes(pkg.read_bytes()[:1000])
    (tree.incoming / "20240602_2130_PREP_VER.zip.part").write_bytes(b"partial")
    result = tree.publish()
    assert result.rc == 0
    assert result.events == []
    assert tree.live() is None
    assert partial.exists() and (tree.incoming / "20240602_2130_PREP_VER.zip.part").exists()
    assert not tree.quarantine.exists() or os.listdir(tree.quarantine) == []
    assert tree.archive_files() == {}


def test_a_package_arriving_next_to_a_partial_one_is_published(tree):
    (tree.incoming / ".20240602_2130_PREP_VER.zip.Xy12Ab").write_bytes(b"PK\x03\x04 half")
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["published"]
    assert (tree.incoming / ".20240602_2130_PREP_VER.zip.Xy12Ab").exists()


@pytest.mark.parametrize(
    "dialect,nesting",
    [("pipe", "zip"), ("legacy", "folder"), ("pipe-latin1-cr", "flat"), ("ople", "zip")],
)
def test_every_dialect_and_layout_passes_the_corte_cross_check(tree, dialect, nesting):
    tree.put(tree.package("2024-06-02T23:45", 0.7, dialect=dialect, nesting=nesting))
    result = tree.publish()
    [ev] = result.only("published")
    assert ev["csv_corte"] and "23:45" in ev["csv_corte"]


def test_status_reports_live_and_pending(tree):
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    tree.publish()
    (tree.incoming / ".partial.zip.x").write_bytes(b"x")
    result = tree.run("status")
    doc = json.loads(result.stdout)
    assert doc["live"]["package"] == "20240602_2115_PREP_VER.zip"
    assert doc["live_release"] == os.path.basename(os.readlink(tree.current))
    assert doc["pending"] == []


def test_bad_config_is_refused_with_the_key_named(tmp_path):
    t = Tree(tmp_path / "srv", sidecar="sometimes")
    result = t.publish()
    assert result.rc == 2
    [ev] = result.events
    assert ev["event"] == "config-error" and "sidecar" in ev["detail"]
    t.configure(sidecar="off", limts={"max_files": 3})
    result = t.publish()
    assert result.rc == 2 and "limts" in result.events[0]["detail"]


def test_watch_publishes_each_package_as_it_lands(tree):
    """The publisher service: a package landing while another is being extracted, and one
    landing when all is quiet, are both live within seconds (the sweep is once a minute)."""
    import subprocess
    import sys

    from srvtools import server_env, wait_for

    first, second, third = (
        tree.package(f"2024-06-02T21:{minute}", 0.5) for minute in ("00", "15", "30")
    )
    watcher = subprocess.Popen(
        [sys.executable, "-m", "difusor_server", "watch", "--config", str(tree.config_path)],
        cwd=tree.root,
        env=server_env({"DIFUSOR_TEST_PAUSE": "member=0.3"}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tree.put(first)
        wait_for(
            lambda: (
                tree.releases.exists()
                and any(p.name.startswith(".tmp-") for p in tree.releases.iterdir())
            ),
            timeout=30,
        )
        tree.put(second)  # lands while the first is being extracted
        wait_for(lambda: (tree.live() or {}).get("package") == second.name, timeout=20)
        time.sleep(1)
        tree.put(third)  # lands when nothing is running
        wait_for(lambda: (tree.live() or {}).get("package") == third.name, timeout=10)
        # its line is logged once it is archived, just after the switch
        wait_for(lambda: len(published(tree)) == 3, timeout=10)
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    assert published(tree) == [first.name, second.name, third.name]


def published(tree: Tree) -> list[str]:
    return [r["package"] for r in tree.log_records() if r["event"] == "published"]
