"""Test-only pauses, so a test can kill the publisher at a known point.

``DIFUSOR_TEST_PAUSE="member=0.2,after-switch=30"`` sleeps that many seconds after each
extracted zip member (``member``) or right after the current symlink is switched
(``after-switch``). Unset in production: then this module does nothing.
"""

import contextlib
import os
import time

_pauses: dict[str, float] | None = None


def pause(point: str) -> None:
    global _pauses
    if _pauses is None:
        _pauses = {}
        for item in os.environ.get("DIFUSOR_TEST_PAUSE", "").split(","):
            key, _, value = item.partition("=")
            with contextlib.suppress(ValueError):
                _pauses[key.strip()] = float(value)
    seconds = _pauses.get(point)
    if seconds:
        time.sleep(seconds)
