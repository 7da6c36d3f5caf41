"""Crash safety (a real kill -9 of a real publisher) and a full disk during extraction."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from srvtools import server_env, wait_for, zip_bytes

SLOW = {"DIFUSOR_TEST_PAUSE": "member=0.25"}


def tmp_releases(tree):
    return (
        [p for p in tree.releases.iterdir() if p.name.startswith(".tmp-")]
        if tree.releases.exists()
        else []
    )


def test_kill_9_mid_extraction_leaves_the_live_corte_then_the_rerun_publishes(tree):
    tree.put(tree.package("2024-06-02T21:00", 0.4))
    tree.publish()
    before = tree.live()
    link_before = os.readlink(tree.current)
    pkg = tree.package("2024-06-02T21:15", 0.5, elections=("GUB", "DIP_LOC", "AYUN"))
    tree.put(pkg)

    proc = tree.spawn_publish(SLOW)
    try:

        def half_extracted():
            tmps = tmp_releases(tree)
            return tmps and sum(1 for p in tmps[0].rglob("*") if p.is_file()) >= 2

        wait_for(half_extracted, timeout=30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # mid-way: a half release exists, but the live corte is untouched and the package waits
    assert tmp_releases(tree)
    assert os.readlink(tree.current) == link_before and tree.live() == before
    assert (tree.incoming / pkg.name).exists()

    result = tree.publish()
    assert [e["event"] for e in result.events] == ["cleanup", "published"]
    assert tmp_releases(tree) == []
    assert tree.live()["package"] == pkg.name
    assert (tree.archive / "20240602" / pkg.name).read_bytes() == pkg.read_bytes()


def test_kill_9_after_the_switch_completes_archiving_without_a_second_publication(tree):
    pkg = tree.package("2024-06-02T21:15", 0.5)
    tree.put(pkg)
    proc = tree.spawn_publish({"DIFUSOR_TEST_PAUSE": "after-switch=30"})
    try:
        wait_for(lambda: (tree.live() or {}).get("package") == pkg.name, timeout=30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    live = tree.live()
    releases = tree.release_dirs()
    assert (tree.incoming / pkg.name).exists()  # not archived yet
    assert not (tree.archive / "20240602" / pkg.name).exists()

    result = tree.publish()
    assert [e["event"] for e in result.events] == ["recovered"]
    assert result.events[0]["sha256"] == live["sha256"]
    assert tree.live() == live and tree.release_dirs() == releases
    assert (tree.archive / "20240602" / pkg.name).read_bytes() == pkg.read_bytes()
    assert not (tree.incoming / pkg.name).exists()
    # and it is now an ordinary duplicate
    tree.put(pkg)
    assert [e["event"] for e in tree.publish().events] == ["duplicate"]


def test_concurrent_runs_serialise_on_the_lock(tree):
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    tree.put(tree.package("2024-06-02T21:30", 0.6))
    first = tree.spawn_publish(SLOW)
    wait_for(lambda: tmp_releases(tree), timeout=30)
    second = tree.spawn_publish()
    out1, _ = first.communicate(timeout=60)
    out2, _ = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0
    published = [line for line in (out1 + out2).splitlines() if '"published"' in line]
    assert len(published) == 2  # each package once, by whichever run got it
    assert tree.live()["package"] == "20240602_2130_PREP_VER.zip"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_disk_full_during_extraction(tree):
    tree.releases.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(tree.releases)], check=True
    )
    try:
        tree.put(tree.package("2024-06-02T21:00", 0.3))
        assert tree.publish().only("published")
        live = tree.live()
        link = os.readlink(tree.current)
        big = tree.staging / "big.zip"
        big.write_bytes(
            zip_bytes([("index.html", b"<html></html>"), ("assets/photo.jpg", os.urandom(3 << 20))])
        )
        tree.put(big, "20240602_2115_PREP_VER.zip")

        result = tree.publish()
        assert result.rc == 1
        [ev] = result.events
        assert ev["event"] == "incident" and ev["reason"] == "disk-full" and ev["kept"] is True
        assert tree.live() == live and os.readlink(tree.current) == link
        assert tmp_releases(tree) == []
        assert (tree.incoming / "20240602_2115_PREP_VER.zip").exists()  # kept for a retry
        assert not tree.quarantine.exists() or os.listdir(tree.quarantine) == []
        assert any(
            r["event"] == "incident" and r["reason"] == "disk-full" for r in tree.log_records()
        )
        incident = json.loads((tree.state / "incident.json").read_text())
        assert incident["package"] == "20240602_2115_PREP_VER.zip"
        assert incident["reason"] == "disk-full"

        # space comes back: the next run publishes it
        subprocess.run(["mount", "-o", "remount,size=20m", str(tree.releases)], check=True)
        result = tree.publish()
        assert [e["event"] for e in result.only("published")] == ["published"]
        assert tree.live()["package"] == "20240602_2115_PREP_VER.zip"
        assert (tree.current / "site/assets/photo.jpg").stat().st_size == 3 << 20
        assert not (tree.state / "incident.json").exists()
    finally:
        subprocess.run(["umount", str(tree.releases)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_watch_resumes_by_itself_soon_after_space_is_freed(tree):
    """The service retries every 10 s while a package waits after an incident: the sweep,
    once a minute, would leave it waiting up to a minute after space is back."""
    tree.releases.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(tree.releases)], check=True
    )
    watcher = subprocess.Popen(
        [sys.executable, "-m", "difusor_server", "watch", "--config", str(tree.config_path)],
        cwd=tree.root,
        env=server_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tree.put(tree.package("2024-06-02T21:00", 0.3))
        wait_for(lambda: tree.live(), timeout=20)
        big = tree.staging / "big.zip"
        big.write_bytes(
            zip_bytes([("index.html", b"<html></html>"), ("a.bin", os.urandom(3 << 20))])
        )
        tree.put(big, "20240602_2115_PREP_VER.zip")
        wait_for(lambda: (tree.state / "incident.json").exists(), timeout=20)
        subprocess.run(["mount", "-o", "remount,size=20m", str(tree.releases)], check=True)
        freed = time.monotonic()
        wait_for(lambda: tree.live()["package"] == "20240602_2115_PREP_VER.zip", timeout=15)
        assert time.monotonic() - freed < 15
        wait_for(lambda: not (tree.state / "incident.json").exists(), timeout=5)
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        subprocess.run(["umount", str(tree.releases)], check=False)
