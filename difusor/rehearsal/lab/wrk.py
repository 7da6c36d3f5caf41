"""
wrk (the HTTP benchmarking tool, a Debian package) run from a lab namespace against the
portal over HTTPS, bounded in time and, when asked, in requests; its figures parsed.

    from difusor.rehearsal.lab.wrk import wrk
    wrk(lab, "public", "/", seconds=5, connections=16, requests=2000)
"""

from __future__ import annotations

import re
import tempfile

from .core import Lab
from .network import LAB_IPV4

PORTAL_NAME = "prep.lab.test"

# wrk has no request budget of its own: each thread stops after its share (wrk's stop.lua).
REQUEST_BUDGET = """
local left
function init(args) left = tonumber(args[1]) end
function response()
   left = left - 1
   if left <= 0 then wrk.thread:stop() end
end
"""

LATENCY_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000}


def parse(output: str) -> dict:
    """Requests completed, seconds, requests/s, p99 (ms) and non-2xx/3xx answers."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", output, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    seconds = None
    if done:
        seconds = float(done.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[done.group(3)]
    return {
        "requests": int(done.group(1)) if done else 0,
        "seconds": seconds,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p99_ms": float(p99.group(1)) * LATENCY_UNITS_MS[p99.group(2)] if p99 else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def wrk(
    lab: Lab,
    ns: str,
    path: str,
    seconds: int,
    connections: int,
    threads: int = 2,
    requests: int | None = None,
) -> dict:
    """One wrk run from namespace ``ns`` to https://LAB/path with the portal's name."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Host: {PORTAL_NAME}",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if requests:
            script.write(REQUEST_BUDGET)
            script.flush()
            argv += ["-s", script.name]
        argv.append(f"https://{LAB_IPV4}{path}")
        if requests:
            argv += ["--", str(max(1, requests // threads))]
        result = lab.run_in(ns, argv, timeout=seconds + 60)
    if result.returncode:
        raise RuntimeError(f"wrk failed: {result.stdout}{result.stderr}")
    return parse(result.stdout)
