"""Every bad package is refused with a specific reason: live corte unchanged, archive intact,
package quarantined with a reason file and archived under rejected/."""

import hashlib
import json
import os
import stat
import subprocess
import zipfile

import pytest
from srvtools import (
    corrupt_first_stored_member,
    csv_for,
    info,
    pkware_unix_extra,
    zip_bytes,
    zip_with_a_name_twice,
)

GOOD_CORTE = "2024-06-02T21:00"
BAD_NAME = "20240602_2115_PREP_VER.zip"


@pytest.fixture()
def live_tree(tree):
    """A tree already publishing the 21:00 corte."""
    tree.put(tree.package(GOOD_CORTE, 0.4))
    assert tree.publish().only("published")
    tree.before = {
        "live": tree.live(),
        "link": os.readlink(tree.current),
        "archive": tree.archive_files(),
        "releases": tree.release_dirs(),
    }
    return tree


def assert_rejected(tree, result, reason, name=BAD_NAME, detail=None):
    assert result.rc == 0, result.stderr
    rejected = result.only("rejected")
    assert [e["reason"] for e in rejected] == [reason], result.stdout
    ev = rejected[0]
    assert ev["package"] == name
    if detail:
        assert detail in ev["detail"]
    assert not result.only("published")
    # live unchanged, earlier archive intact, no new release
    assert tree.live() == tree.before["live"]
    assert os.readlink(tree.current) == tree.before["link"]
    assert tree.release_dirs() == tree.before["releases"]
    now = tree.archive_files()
    for path, data in tree.before["archive"].items():
        assert now[path] == data
    # quarantined with its reason, and archived as rejected; nothing left in incoming
    doc = json.loads((tree.quarantine / (ev["quarantine"] + ".reason.json")).read_text())
    assert doc["reason"] == reason and doc["package"] == name
    if ev.get("sha256"):
        assert (
            hashlib.sha256((tree.quarantine / ev["quarantine"]).read_bytes()).hexdigest()
            == ev["sha256"]
        )
        assert (tree.archive / ev["archived"]).exists() and "/rejected/" in "/" + ev["archived"]
    assert name not in os.listdir(tree.incoming)
    # the same line landed in the log file
    assert any(r["event"] == "rejected" and r["reason"] == reason for r in tree.log_records())
    return ev


def drop(tree, data: bytes, name=BAD_NAME):
    src = tree.staging / ("crafted-" + name)
    src.write_bytes(data)
    return tree.put(src, name)


# ----------------------------------------------------------------------------- integrity


def test_truncated_zip(live_tree):
    data = live_tree.package("2024-06-02T21:15", 0.5).read_bytes()
    drop(live_tree, data[: len(data) * 2 // 3])
    assert_rejected(live_tree, live_tree.publish(), "truncated")


def test_bad_crc(live_tree):
    data = zip_bytes(
        [(info("index.html", method=zipfile.ZIP_STORED), b"<html>" + b"x" * 200 + b"</html>")]
    )
    drop(live_tree, corrupt_first_stored_member(data))
    assert_rejected(live_tree, live_tree.publish(), "bad-crc", detail="index.html")


def test_bad_crc_inside_a_nested_zip(live_tree):
    inner = corrupt_first_stored_member(
        zip_bytes(
            [
                (
                    info("VER_GUB_2024.csv", method=zipfile.ZIP_STORED),
                    csv_for("02/06/2024 21:15 (UTC-6)"),
                )
            ]
        )
    )
    drop(
        live_tree,
        zip_bytes([(info("20240602_2115_PREP_GUB_VER.zip", method=zipfile.ZIP_STORED), inner)]),
    )
    assert_rejected(live_tree, live_tree.publish(), "bad-crc", detail="VER_GUB_2024.csv")


def test_sidecar_mismatch(live_tree):
    pkg = live_tree.package("2024-06-02T21:15", 0.5)
    side = live_tree.staging / "side.sha256"
    side.write_text(f"{hashlib.sha256(b'something else').hexdigest()}  {pkg.name}\n")
    live_tree.put(pkg, sidecar=side)
    ev = assert_rejected(live_tree, live_tree.publish(), "sidecar-mismatch")
    assert (live_tree.quarantine / (ev["quarantine"] + ".sha256")).exists()
    assert not (live_tree.incoming / (pkg.name + ".sha256")).exists()


def test_sidecar_naming_another_file(live_tree):
    pkg = live_tree.package("2024-06-02T21:15", 0.5)
    side = live_tree.staging / "side.sha256"
    side.write_text(f"{hashlib.sha256(pkg.read_bytes()).hexdigest()}  20240602_2130_PREP_VER.zip\n")
    live_tree.put(pkg, sidecar=side)
    assert_rejected(live_tree, live_tree.publish(), "sidecar-mismatch", detail="20240602_2130")


def test_missing_sidecar_under_require(live_tree):
    live_tree.configure(sidecar="require", sidecar_wait_seconds=0.3)
    live_tree.put(live_tree.package("2024-06-02T21:15", 0.5))
    assert_rejected(live_tree, live_tree.publish(), "sidecar-missing")


def test_sidecar_arriving_within_the_wait_is_used(tree):
    tree.configure(sidecar="require", sidecar_wait_seconds=5)
    pkg = tree.package("2024-06-02T21:15", 0.5, sidecar=True)
    tree.put(pkg)  # the zip first, as rsync sends it; the sidecar a moment later
    proc = tree.spawn_publish()
    import time

    time.sleep(0.5)
    os.replace(pkg.with_name(pkg.name + ".sha256"), tree.incoming / (pkg.name + ".sha256"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    [ev] = [json.loads(line) for line in out.splitlines()]
    assert ev["event"] == "published" and ev["sidecar"] == "verified"


# ----------------------------------------------------------------------------- safety


def test_absolute_path(live_tree):
    drop(
        live_tree,
        zip_bytes([("index.html", b"ok"), (info("/etc/cron.d/evil"), b"* * * * * root id")]),
    )
    assert_rejected(live_tree, live_tree.publish(), "absolute-path", detail="/etc/cron.d/evil")
    assert not os.path.exists("/etc/cron.d/evil")


def test_dotdot_traversal(live_tree):
    drop(live_tree, zip_bytes([("index.html", b"ok"), (info("data/../../../escaped.txt"), b"out")]))
    assert_rejected(live_tree, live_tree.publish(), "path-traversal")
    assert not list(live_tree.root.parent.rglob("escaped.txt"))


def test_symlink_entry(live_tree):
    drop(
        live_tree,
        zip_bytes(
            [("index.html", b"ok"), (info("passwd", mode=stat.S_IFLNK | 0o777), b"/etc/passwd")]
        ),
    )
    assert_rejected(live_tree, live_tree.publish(), "symlink", detail="passwd")


def test_symlink_entry_made_by_info_zip(live_tree, tmp_path):
    """A real symlink stored by Info-ZIP's zip -y (if the tool is installed)."""
    import shutil

    if not shutil.which("zip"):
        pytest.skip("zip(1) not installed")
    work = tmp_path / "z"
    work.mkdir()
    (work / "index.html").write_text("ok")
    os.symlink("/etc/shadow", work / "shadow")
    subprocess.run(
        ["zip", "-q", "-y", str(tmp_path / "p.zip"), "index.html", "shadow"], cwd=work, check=True
    )
    drop(live_tree, (tmp_path / "p.zip").read_bytes())
    assert_rejected(live_tree, live_tree.publish(), "symlink")


def test_hardlink_entry(live_tree):
    """A regular-file entry carrying a link target in the PKWARE unix extra field."""
    drop(
        live_tree,
        zip_bytes(
            [("index.html", b"ok"), (info("shadow", extra=pkware_unix_extra(b"/etc/shadow")), b"")]
        ),
    )
    assert_rejected(live_tree, live_tree.publish(), "hardlink", detail="shadow")


@pytest.mark.parametrize(
    "kind,reason",
    [
        (stat.S_IFCHR, "device-file"),
        (stat.S_IFBLK, "device-file"),
        (stat.S_IFIFO, "special-file"),
        (stat.S_IFSOCK, "special-file"),
    ],
)
def test_device_and_special_files(live_tree, kind, reason):
    drop(live_tree, zip_bytes([("index.html", b"ok"), (info("dev/thing", mode=kind | 0o644), b"")]))
    assert_rejected(live_tree, live_tree.publish(), reason, detail="dev/thing")


def test_zip_bomb(live_tree):
    drop(live_tree, zip_bytes([("index.html", b"ok"), ("data/bomb.json", b"\0" * (20 << 20))]))
    assert_rejected(live_tree, live_tree.publish(), "zip-bomb", detail="bomb.json")


def test_total_size_limit(live_tree):
    live_tree.configure(limits={"max_total_bytes": 50_000})
    drop(live_tree, zip_bytes([("a.bin", os.urandom(30_000)), ("b.bin", os.urandom(30_000))]))
    assert_rejected(live_tree, live_tree.publish(), "too-big")


def test_file_count_limit(live_tree):
    live_tree.configure(limits={"max_files": 10})
    drop(live_tree, zip_bytes([(f"f{i}.json", b"{}") for i in range(11)]))
    assert_rejected(live_tree, live_tree.publish(), "too-many-files")


def test_nested_zip_bomb(live_tree):
    inner = zip_bytes([("VER_GUB_2024.csv", b"\0" * (20 << 20))])
    drop(
        live_tree,
        zip_bytes([(info("20240602_2115_PREP_GUB_VER.zip", method=zipfile.ZIP_STORED), inner)]),
    )
    ev = assert_rejected(
        live_tree, live_tree.publish(), "zip-bomb", detail="20240602_2115_PREP_GUB_VER.zip"
    )
    assert "VER_GUB_2024.csv" in ev["detail"]


def test_nested_limits_add_up(live_tree):
    """Ten nested zips each under the file limit, together over it."""
    live_tree.configure(limits={"max_files": 25})
    entries = [
        (
            info(f"e{i}.zip", method=zipfile.ZIP_STORED),
            zip_bytes([(f"f{j}.txt", b"x") for j in range(3)]),
        )
        for i in range(10)
    ]
    drop(live_tree, zip_bytes(entries))
    assert_rejected(live_tree, live_tree.publish(), "too-many-files")


def test_recursively_nested_zips(live_tree):
    data = zip_bytes([("deep.txt", b"bottom")])
    for level in range(4):
        data = zip_bytes([(info(f"level{level}.zip", method=zipfile.ZIP_STORED), data)])
    drop(live_tree, data)
    assert_rejected(live_tree, live_tree.publish(), "nesting-too-deep")


def test_empty_zip(live_tree):
    drop(live_tree, zip_bytes([]))
    assert_rejected(live_tree, live_tree.publish(), "empty-zip")


def test_zip_with_only_directories(live_tree):
    drop(live_tree, zip_bytes([(info("a/", mode=stat.S_IFDIR | 0o755), b"")]))
    assert_rejected(live_tree, live_tree.publish(), "empty-zip")


def test_not_a_zip(live_tree):
    drop(live_tree, b"<html>this is not a zip</html>\n" * 50)
    assert_rejected(live_tree, live_tree.publish(), "not-a-zip")


def test_empty_file(live_tree):
    drop(live_tree, b"")
    assert_rejected(live_tree, live_tree.publish(), "empty-file")


def test_duplicate_member_names(live_tree):
    drop(live_tree, zip_with_a_name_twice())
    assert_rejected(live_tree, live_tree.publish(), "duplicate-member")


def test_file_and_directory_with_the_same_path(live_tree):
    drop(live_tree, zip_bytes([("data", b"file"), ("data/x.json", b"{}")]))
    assert_rejected(live_tree, live_tree.publish(), "path-conflict")


# ----------------------------------------------------------------------------- identity


def test_older_corte(live_tree):
    live_tree.put(live_tree.package("2024-06-02T20:45", 0.3))
    assert_rejected(
        live_tree, live_tree.publish(), "older-corte", name="20240602_2045_PREP_VER.zip"
    )


def test_same_name_different_content(live_tree):
    other = live_tree.package(GOOD_CORTE, 0.45, name="other.zip")
    live_tree.put(other, "20240602_2100_PREP_VER.zip")
    ev = assert_rejected(
        live_tree, live_tree.publish(), "name-reused", name="20240602_2100_PREP_VER.zip"
    )
    # both versions kept: the published one under its name, the rejected one apart
    assert (
        live_tree.archive / "20240602" / "20240602_2100_PREP_VER.zip"
    ).read_bytes() != other.read_bytes()
    assert (live_tree.archive / ev["archived"]).read_bytes() == other.read_bytes()


def test_name_and_csv_corte_disagree(live_tree):
    # content of the 21:15 corte under the 21:30 name
    pkg = live_tree.package("2024-06-02T21:15", 0.5, name="20240602_2130_PREP_VER.zip")
    live_tree.put(pkg)
    ev = assert_rejected(
        live_tree, live_tree.publish(), "corte-mismatch", name="20240602_2130_PREP_VER.zip"
    )
    assert "21:15" in ev["detail"]


def test_csv_corte_with_another_offset_is_the_same_instant(tree):
    """02/06/2024 22:15 (UTC-5) is 21:15 central time: accepted."""
    tree.put_bytes = None
    src = tree.staging / "x.zip"
    src.write_bytes(zip_bytes([("VER_GUB_2024.csv", csv_for("02/06/2024 22:15 (UTC-5)"))]))
    tree.put(src, "20240602_2115_PREP_VER.zip")
    assert tree.publish().only("published")


def test_bad_name_is_quarantined(live_tree):
    src = live_tree.staging / "resultados.zip"
    src.write_bytes(live_tree.package("2024-06-02T21:15", 0.5).read_bytes())
    live_tree.put(src, "resultados.zip")
    assert_rejected(live_tree, live_tree.publish(), "bad-name", name="resultados.zip")


def test_symlink_in_incoming_is_not_followed(live_tree, tmp_path):
    secret = tmp_path / "secret.zip"
    secret.write_bytes(live_tree.package("2024-06-02T21:15", 0.5).read_bytes())
    os.symlink(secret, live_tree.incoming / BAD_NAME)
    result = live_tree.publish()
    ev = assert_rejected(live_tree, result, "not-regular-file")
    assert os.path.islink(live_tree.quarantine / ev["quarantine"]) and secret.exists()


def test_a_rejected_name_may_come_again_fixed(live_tree):
    """A truncated transfer re-sent complete under the same name is published."""
    pkg = live_tree.package("2024-06-02T21:15", 0.5)
    drop(live_tree, pkg.read_bytes()[:5000])
    assert_rejected(live_tree, live_tree.publish(), "truncated")
    live_tree.put(pkg)
    result = live_tree.publish()
    assert [e["event"] for e in result.events] == ["published"]
    assert live_tree.live()["package"] == BAD_NAME


def test_if_present_waits_for_a_late_sidecar_once_the_sender_uses_them(tree):
    tree.configure(sidecar_wait_seconds=3)
    first = tree.package("2024-06-02T21:00", 0.4)
    import time

    started = time.monotonic()
    tree.put(first)
    assert tree.publish().only("published")[0]["sidecar"] == "absent"
    assert time.monotonic() - started < 2.5  # no sidecar ever seen: no waiting
    second = tree.package("2024-06-02T21:15", 0.5, sidecar=True)
    tree.put(second, sidecar=second.with_name(second.name + ".sha256"))
    assert tree.publish().only("published")[0]["sidecar"] == "verified"
    third = tree.package("2024-06-02T21:30", 0.6)
    tree.put(third)
    started = time.monotonic()
    result = tree.publish()
    assert result.only("published")[0]["sidecar"] == "absent"
    assert time.monotonic() - started >= 2.0  # waited for a sidecar that never came
