"""
A small, bounded HTTPS load generator for the lab (standard library only), run inside a lab
namespace: ``python -m difusor.lab.load --host 198.18.0.10 --name prep.lab.test ...``.

Prints one JSON object: requests sent, status counts, seconds. Bounded by ``--requests``
and ``--seconds``, whichever comes first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import threading
import time
from collections import Counter


def run(host: str, name: str, path: str, requests: int, threads: int, seconds: float, interval: float) -> dict:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    counts: Counter = Counter()
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
            try:
                if connection is None:
                    connection = http.client.HTTPSConnection(host, 443, context=context, timeout=10)
                separator = "&" if "?" in path else "?"
                connection.request("GET", f"{path}{separator}n={number}", headers={"Host": name})
                response = connection.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
                connection = None
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
    return {"sent": sum(counts.values()), "status": dict(counts), "seconds": round(time.monotonic() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--name", required=True, help="Host header / portal name")
    parser.add_argument("--path", default="/")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=0, help="pause per thread between requests")
    args = parser.parse_args()
    print(json.dumps(run(args.host, args.name, args.path, args.requests, args.threads, args.seconds, args.interval)))


if __name__ == "__main__":
    main()
