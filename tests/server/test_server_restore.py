"""``manifest`` and ``restore``: a lost server's archive and state brought onto a fresh tree,
verified by hash, its last corte live again; never over newer or conflicting data."""

import json
import shutil

from srvtools import Tree, zip_bytes


def night(tree: Tree, cortes: int = 3) -> list:
    """``cortes`` published packages and one rejected, in ``tree``."""
    packages = [tree.package(f"2024-06-02T21:{15 * i:02d}", 0.2 + 0.2 * i) for i in range(cortes)]
    for package in packages:
        tree.put(package)
    bad = tree.staging / "20240602_2150_PREP_VER.zip"
    bad.write_bytes(zip_bytes([("../evil.csv", b"x")]))
    tree.put(bad)
    assert tree.publish().rc == 0
    return packages


def live_of(tree: Tree) -> dict:
    live = tree.live()
    assert live is not None, "nothing is live"
    return live


def backup_of(tree: Tree, into) -> dict:
    """What ``difusor backup`` keeps: the manifest, state.json and the archive."""
    result = tree.run("manifest")
    assert result.rc == 0, result.stderr
    manifest = json.loads(result.stdout)
    into.mkdir()
    (into / "manifest.json").write_text(result.stdout)
    shutil.copy(tree.state / "state.json", into / "state.json")
    return manifest


def restore_onto(fresh: Tree, lost: Tree, backup) -> tuple[int, dict]:
    """The archive copied without overwriting anything (rsync --ignore-existing), then
    ``restore``."""
    shutil.copytree(lost.archive, fresh.archive, dirs_exist_ok=True, copy_function=_no_overwrite)
    result = fresh.run("restore", "--from", str(backup))
    return result.rc, json.loads(result.stdout)


def _no_overwrite(src, dst):
    try:
        with open(dst, "xb") as out, open(src, "rb") as source:
            shutil.copyfileobj(source, out)
    except FileExistsError:
        pass
    return dst


def test_manifest_lists_every_archived_file_with_its_hash(tree):
    packages = night(tree)
    manifest = json.loads(tree.run("manifest").stdout)
    assert manifest["live"]["package"] == packages[-1].name
    assert set(manifest["archive"]) == set(tree.archive_files())
    entry = manifest["archive"][f"20240602/{packages[0].name}"]
    assert entry["size"] == packages[0].stat().st_size
    assert "20240602/rejected/20240602_2150_PREP_VER.zip" in manifest["archive"]


def test_restore_brings_the_last_corte_live_with_the_history(tmp_path):
    lost = Tree(tmp_path / "lost")
    packages = night(lost)
    manifest = backup_of(lost, tmp_path / "backup")
    fresh = Tree(tmp_path / "fresh")

    rc, result = restore_onto(fresh, lost, tmp_path / "backup")

    assert rc == 0, result
    assert result["verified"] == len(manifest["archive"]) == 4
    assert result["republished"] == packages[-1].name
    live = live_of(fresh)
    assert live["package"] == packages[-1].name and live["sha256"] == manifest["live"]["sha256"]
    served = fresh.current / "site"
    assert any(served.rglob("*.csv"))
    state = json.loads((fresh.state / "state.json").read_text())
    assert set(state["packages"]) == {p.name for p in packages} | {"20240602_2150_PREP_VER.zip"}
    assert [e["event"] for e in fresh.log_records()][-1] == "restored"
    # the publisher takes it from there: a re-push is a duplicate, the next corte publishes
    fresh.put(packages[-1])
    assert [e["event"] for e in fresh.publish().events] == ["duplicate"]
    following = fresh.package("2024-06-02T22:00", 0.9)
    fresh.put(following)
    fresh.publish()
    assert live_of(fresh)["package"] == following.name


def test_an_incomplete_or_altered_archive_is_refused_and_nothing_goes_live(tmp_path):
    lost = Tree(tmp_path / "lost")
    packages = night(lost)
    backup_of(lost, tmp_path / "backup")
    (lost.archive / "20240602" / packages[0].name).write_bytes(b"not the package")
    (lost.archive / "20240602" / packages[1].name).unlink()
    fresh = Tree(tmp_path / "fresh")

    rc, result = restore_onto(fresh, lost, tmp_path / "backup")

    assert rc == 1
    assert result["missing"] == [f"20240602/{packages[1].name}"]
    assert result["mismatched"] == [f"20240602/{packages[0].name}"]
    assert fresh.live() is None
    assert not (fresh.state / "state.json").exists()


def test_a_name_published_here_with_other_bytes_is_a_conflict(tmp_path):
    lost = Tree(tmp_path / "lost")
    packages = night(lost, cortes=2)
    backup_of(lost, tmp_path / "backup")
    fresh = Tree(tmp_path / "fresh")
    other = fresh.package("2024-06-02T21:15", 0.9, name=packages[1].name)
    fresh.put(other)
    fresh.publish()
    state_before = (fresh.state / "state.json").read_text()

    rc, result = restore_onto(fresh, lost, tmp_path / "backup")

    assert rc == 1
    assert result["conflicts"] == [packages[1].name]
    assert live_of(fresh)["sha256"] == json.loads(state_before)["packages"][other.name][0]["sha256"]
    assert (fresh.state / "state.json").read_text() == state_before


def test_a_newer_corte_live_on_the_new_server_stays_live(tmp_path):
    lost = Tree(tmp_path / "lost")
    packages = night(lost)
    backup_of(lost, tmp_path / "backup")
    fresh = Tree(tmp_path / "fresh")
    newer = fresh.package("2024-06-02T23:00", 0.95)
    fresh.put(newer)
    fresh.publish()

    rc, result = restore_onto(fresh, lost, tmp_path / "backup")

    assert rc == 0, result
    assert result["republished"] is None
    assert live_of(fresh)["package"] == newer.name
    state = json.loads((fresh.state / "state.json").read_text())
    assert {p.name for p in packages} | {newer.name} <= set(state["packages"])


def test_status_names_the_last_rejection(tree):
    night(tree)
    status = json.loads(tree.run("status").stdout)
    assert status["last_rejection"]["package"] == "20240602_2150_PREP_VER.zip"
    assert status["last_rejection"]["reason"] == "path-traversal"
    assert status["last_rejection"]["published_since"] is False


def test_no_manifest_no_restore(tree):
    result = tree.run("restore", "--from", str(tree.staging))
    assert result.rc == 1
    assert "manifest.json" in json.loads(result.stdout)["error"]
    assert tree.live() is None
