"""
``difusor status`` in the lab: wall time of the whole command as a sysadmin or a monitoring
system runs it (inventory read, SSH connection, the one probe command, the line printed),
over a number of runs, against a lab host with a night of cortes published. Target: under 3 s.

    python bench/status.py [--runs 10] [--cortes 20] [--reuse]

Bounded by the counts given; prints figures, asserts nothing. The recovery time of a lost
server (deploy + difusor restore, 97 cortes) is measured by tests/lab/test_restore.py and
printed in the rehearsal summary.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from difusor.rehearsal.lab.core import REPO_ROOT
from difusor.rehearsal.lab.rehearse import deployed_lab
from difusor.rehearsal.lab.simulacro import recent_cortes_start, run_simulacro


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of difusor status")
    parser.add_argument("--cortes", type=int, default=20, help="cortes published first")
    parser.add_argument("--reuse", action="store_true", help="use a lab that is up and deployed")
    args = parser.parse_args()
    command = [sys.executable, "-m", "difusor", "status", "--inventory", "inventory/lab.py"]
    with deployed_lab(args.reuse) as lab:
        if args.cortes:
            run_simulacro(lab, args.cortes, 0, start=recent_cortes_start(args.cortes))
        seconds = []
        for _ in range(args.runs):
            started = time.monotonic()
            result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
            seconds.append(time.monotonic() - started)
        print(result.stdout.strip())
        print(
            f"difusor status, {args.runs} runs: median {statistics.median(seconds):.2f} s, "
            f"max {max(seconds):.2f} s (exit {result.returncode}; target under 3 s)"
        )


if __name__ == "__main__":
    main()
