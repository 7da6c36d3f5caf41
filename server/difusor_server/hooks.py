"""Test-only pauses, so a test can kill the publisher at a known point.

``DIFUSOR_TEST_PAUSE="member=0.2,after-switch=30"`` sleeps that many seconds after each
extracted zip member (``member``) or right after the current symlink is switched
(``after-switch``). Unset in production: then this module does nothing.
"""

import os
import time

_spec = None


def pause(point):
    global _spec
    if _spec is None:
        _spec = {}
        for item in os.environ.get("DIFUSOR_TEST_PAUSE", "").split(","):
            key, _, value = item.partition("=")
            try:
                _spec[key.strip()] = float(value)
            except ValueError:
                pass
    seconds = _spec.get(point)
    if seconds:
        time.sleep(seconds)
