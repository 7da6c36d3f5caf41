"""CDN purge: Cloudflare API (a local stand-in on 127.0.0.1) and command; failures are queued
and retried on later runs, and never hold back publication."""

import json
import time

import pytest
from srvtools import LocalHTTP


@pytest.fixture()
def api():
    server = LocalHTTP()
    yield server
    server.close()


def cloudflare(tree, api, timeout=2):
    token = tree.root / "cdn-token"
    token.write_text("s3cret-token\n")
    tree.configure(
        purge={
            "type": "cloudflare",
            "zone_id": "zone123",
            "api_base": api.url + "/client/v4",
            "token_file": str(token),
            "timeout_seconds": timeout,
        }
    )


def test_purge_everything_after_publication(tree, api):
    cloudflare(tree, api)
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["published", "purged"]
    [req] = api.requests
    assert req["path"] == "/client/v4/zones/zone123/purge_cache"
    assert req["headers"]["Authorization"] == "Bearer s3cret-token"
    assert req["body"] == {"purge_everything": True}


def test_failed_purge_is_queued_and_retried_on_the_next_run(tree, api):
    cloudflare(tree, api)
    api.script = [
        (500, {"success": False, "errors": [{"code": 10000, "message": "boom"}]}, 0),
        (200, {"success": False, "errors": [{"code": 1234, "message": "nope"}]}, 0),
    ]
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    result = tree.publish()
    assert result.rc == 0
    assert [e["event"] for e in result.events] == ["published", "purge-failed"]
    failed = result.only("purge-failed")[0]
    assert (
        failed["severity"] == "incident"
        and "HTTP 500" in failed["detail"]
        and failed["queued"] is True
    )
    assert tree.live()["package"] == "20240602_2115_PREP_VER.zip"  # published regardless
    queue = json.loads((tree.state / "purge-queue.json").read_text())
    assert queue["attempts"] == 1

    # second run, nothing new: the API says success=false -> still queued
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["purge-failed"]
    assert "nope" in result.events[0]["detail"] and result.events[0]["attempts"] == 2

    # third run: the API works again
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["purged"]
    assert result.events[0]["retry"] is True and result.events[0]["attempts"] == 3
    assert not (tree.state / "purge-queue.json").exists()
    assert len(api.requests) == 3

    # and a run with nothing to do calls nobody
    assert tree.publish().events == []
    assert len(api.requests) == 3


def test_a_hanging_api_does_not_hold_publication(tree, api):
    cloudflare(tree, api, timeout=1)
    api.script = [(200, {"success": True}, 5)]
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    started = time.monotonic()
    result = tree.publish()
    assert time.monotonic() - started < 4.5
    assert [e["event"] for e in result.events] == ["published", "purge-failed"]
    assert (tree.state / "purge-queue.json").exists()


def test_unreadable_token_is_a_purge_failure(tree, api):
    cloudflare(tree, api)
    (tree.root / "cdn-token").unlink()
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["published", "purge-failed"]
    assert "token_file" in result.events[1]["detail"]
    assert api.requests == []


def test_purge_command(tree):
    marker = tree.root / "purged.txt"
    tree.configure(
        purge={"type": "command", "argv": ["sh", "-c", f'echo "$DIFUSOR_PACKAGE" > {marker}']}
    )
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["published", "purged"]
    assert marker.read_text().strip() == "20240602_2115_PREP_VER.zip"


def test_failing_purge_command_is_queued(tree):
    tree.configure(purge={"type": "command", "argv": ["sh", "-c", "echo cdn down; exit 3"]})
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["published", "purge-failed"]
    assert "exited 3" in result.events[1]["detail"] and "cdn down" in result.events[1]["detail"]
    tree.configure(purge={"type": "command", "argv": ["true"]})
    assert [e["event"] for e in tree.publish().events] == ["purged"]


def test_several_publications_in_one_run_purge_once(tree, api):
    cloudflare(tree, api)
    tree.put(tree.package("2024-06-02T21:15", 0.5))
    tree.put(tree.package("2024-06-02T21:30", 0.6))
    result = tree.publish()
    assert [e["event"] for e in result.events] == ["published", "published", "purged"]
    assert len(api.requests) == 1
