"""The publisher runs on the server's own Python: 3.10 on Ubuntu 22.04, the institute's
reference system. vermin reads every module and names any syntax, module or member that
3.10 lacks (tomllib, datetime.UTC, except*, ...)."""

import subprocess
import sys
from pathlib import Path

SERVER_PACKAGE = Path(__file__).resolve().parents[2] / "server" / "difusor_server"


def test_the_publisher_needs_nothing_newer_than_python_3_10():
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("vermin")),
            "--no-tips",
            "--violations",
            "--eval-annotations",
            "-t=3.10-",
            str(SERVER_PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Analyzing" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
