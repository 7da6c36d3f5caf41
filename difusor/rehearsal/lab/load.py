"""
A small, bounded HTTPS load generator for the lab (standard library only), run inside a lab
namespace: ``python -m difusor.rehearsal.lab.load --host 198.18.0.10 --name prep.lab.test ...``.

Prints one JSON object: requests sent, status counts, seconds. Bounded by ``--requests``
and ``--seconds``, whichever comes first. With ``--check-corte`` every response must be a
PREP CSV whose corte line (line 2) names the same minute as the live release in the
``X-PREP-Corte`` header: responses where they differ are counted as ``mixed``.
``--host`` takes an IPv6 address in brackets; ``--header "X-Forwarded-For: 203.0.113.77"``
plays a reader behind a CDN.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import ssl
import threading
import time
from collections import Counter

CSV_CORTE = re.compile(rb"^[^\n]*\n[^0-9]*(\d{1,2})/(\d{1,2})/(\d{4}) (\d{2}):(\d{2})")


def corte_matches(body: bytes, release: str) -> bool:
    """Line 2 of a PREP CSV (dd/mm/yyyy HH:MM) against a release id (YYYYMMDDTHHMM-...)."""
    match = CSV_CORTE.match(body)
    if not match:
        return False
    day, month, year, hour, minute = (int(x) for x in match.groups())
    return release.startswith(f"{year:04d}{month:02d}{day:02d}T{hour:02d}{minute:02d}")


# What reusing a kept-alive connection the server has closed raises.
IDLE_CONNECTION_CLOSED = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def run(
    host: str,
    name: str,
    path: str,
    requests: int,
    threads: int,
    seconds: float,
    interval: float,
    check_corte: bool = False,
    headers: dict[str, str] | None = None,
) -> dict:
    # http.client takes an IPv6 address without brackets when the port is given apart.
    address = host.strip("[]")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    counts: Counter = Counter()
    releases: set = set()
    lock = threading.Lock()
    sent = 0
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal sent
        connection = None
        while time.monotonic() < deadline:
            with lock:
                if sent >= requests:
                    return
                sent += 1
                number = sent
            for _attempt in range(2):
                reused = connection is not None
                try:
                    if connection is None:
                        connection = http.client.HTTPSConnection(
                            address, 443, context=context, timeout=10
                        )
                    separator = "&" if "?" in path else "?"
                    connection.request(
                        "GET",
                        f"{path}{separator}n={number}",
                        headers={"Host": name, **(headers or {})},
                    )
                    response = connection.getresponse()
                    body = response.read()
                    status = str(response.status)
                    if check_corte and status == "200":
                        release = response.getheader("X-PREP-Corte", "")
                        with lock:
                            releases.add(release)
                        if not corte_matches(body, release):
                            status = "mixed"
                    if response.getheader("Connection", "").lower() == "close":
                        connection.close()
                        connection = None
                    break
                except (OSError, http.client.HTTPException) as error:
                    status = type(error).__name__
                    connection = None
                    # A kept-alive connection the server closed while it was idle (nginx closes
                    # them on a reload): tried once more on a new one, as browsers do.
                    if not (reused and isinstance(error, IDLE_CONNECTION_CLOSED)):
                        break
            with lock:
                counts[status] += 1
            if interval:
                time.sleep(interval)

    started = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return {
        "sent": sum(counts.values()),
        "status": dict(counts),
        "seconds": round(time.monotonic() - started, 2),
        "releases_seen": len(releases),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--name", required=True, help="Host header / portal name")
    parser.add_argument("--path", default="/")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--interval", type=float, default=0, help="pause per thread between requests"
    )
    parser.add_argument(
        "--check-corte", action="store_true", help="check each CSV against X-PREP-Corte"
    )
    parser.add_argument(
        "--header", action="append", default=[], help='"Name: value", sent with each request'
    )
    args = parser.parse_args()
    print(
        json.dumps(
            run(
                args.host,
                args.name,
                args.path,
                args.requests,
                args.threads,
                args.seconds,
                args.interval,
                args.check_corte,
                dict(header.split(": ", 1) for header in args.header),
            )
        )
    )


if __name__ == "__main__":
    main()
