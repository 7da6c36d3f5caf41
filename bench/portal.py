"""
Portal benchmark: requests per second and p99 latency over HTTPS from the lab's `public`
namespace, for a 200 KB results JSON and for the index page, with difusor's hardened nginx
configuration and with Debian's stock configuration, on the same lab host in one run.

    python bench/portal.py            # brings a lab up, deploys, measures, tears down
    python bench/portal.py --reuse    # against a lab that is already up and deployed
    python bench/portal.py --proxy    # proxy mode: requests readers got against origin hits

Each wrk run is bounded (--seconds, default 10, 32 connections); the configurations alternate
over --rounds (default 3) and the medians are printed. The hardened configuration
is measured with its per-client rate limit lifted: from one client address the limit would
otherwise (rightly) answer 429, and what is compared is the cost of TLS, headers and logging.
With --proxy, the lab's stand-in application runs in a container on 127.0.0.1 behind the
portal in proxy mode, and the runs (bounded also by --requests) compare the micro-cache with
no cache: requests answered against the requests that reached the application.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from difusor import paths
from difusor.deploys.portal import LIVE_CERTIFICATE, LIVE_KEY, nginx_config
from difusor.inventory import inventory_settings
from difusor.rehearsal.lab import Lab
from difusor.rehearsal.lab.application import PAGE, origin_hits, proxied_application
from difusor.rehearsal.lab.rehearse import deployed_lab
from difusor.rehearsal.lab.wrk import wrk

RESULTS_JSON = "bench/results.json"
# From one client address the per-reader limits would (rightly) answer 429.
LIFTED_LIMITS = {"rate_limit_per_second": 1_000_000, "connection_limit": 65535}
STOCK_SITE = "/etc/nginx/sites-enabled/bench-stock"
STOCK_SERVER = f"""
server {{
    listen 443 ssl http2 default_server;
    listen [::]:443 ssl http2 default_server;
    ssl_certificate {LIVE_CERTIFICATE};
    ssl_certificate_key {LIVE_KEY};
    root {paths.CURRENT_LINK}/site;
    index index.html;
}}
"""


def install_config(lab: Lab, text: str) -> None:
    result = lab.ssh(
        "cat > /etc/nginx/nginx.conf && nginx -q -t && systemctl reload nginx && sleep 1",
        input=text,
    )
    if result.returncode:
        raise SystemExit(f"nginx rejected the configuration: {result.stderr}")


def stock_config(lab: Lab) -> str:
    """Debian's own nginx.conf, from the nginx-common package on the lab host."""
    result = lab.ssh(
        "cd /tmp && apt-get download -q nginx-common >/dev/null && "
        "dpkg-deb --fsys-tarfile nginx-common_*.deb | tar -xO ./etc/nginx/nginx.conf",
        timeout=300,
    )
    if result.returncode or "http {" not in result.stdout:
        raise SystemExit(f"could not read the stock nginx.conf: {result.stderr}")
    return result.stdout


def measure(lab: Lab, seconds: int, connections: int) -> dict:
    return {
        name: wrk(lab, "public", f"/{path}", seconds, connections)
        for name, path in (("results.json", RESULTS_JSON), ("index", ""))
    }


def medians(results: list[dict]) -> dict:
    """Each figure's median over the rounds."""
    return {key: statistics.median(r[key] or 0 for r in results) for key in results[0]}


def median_figures(rounds: list[dict]) -> dict:
    """Per document, the median figures over the rounds."""
    return {document: medians([r[document] for r in rounds]) for document in rounds[0]}


def run(lab: Lab, seconds: int, connections: int, rounds: int) -> dict:
    _, settings = inventory_settings("inventory/lab.py")
    hardened = nginx_config(settings)
    unlimited = nginx_config(settings.model_copy(update=LIFTED_LIMITS))
    # A 200 KB results file, like the JSON files of a PREP site.
    document = json.dumps(
        {"actas": [{"clave": f"30{i:08d}", "votos": i % 997} for i in range(6500)]}
    )
    site = f"{paths.CURRENT_LINK}/site"
    lab.ssh(f"mkdir -p {site}/bench && cat > {site}/{RESULTS_JSON}", input=document[: 200 * 1024])
    stock = stock_config(lab)
    runs: dict[str, list[dict]] = {"hardened": [], "stock": []}
    try:
        # Alternate the two configurations: on a small machine the noise between runs is
        # larger than the difference between them.
        for _ in range(rounds):
            lab.ssh(f"rm -f {STOCK_SITE}")
            install_config(lab, unlimited)
            runs["hardened"].append(measure(lab, seconds, connections))
            lab.ssh(f"cat > {STOCK_SITE}", input=STOCK_SERVER)
            install_config(lab, stock)
            runs["stock"].append(measure(lab, seconds, connections))
    finally:
        lab.ssh(f"rm -f {STOCK_SITE} {site}/{RESULTS_JSON}")
        install_config(lab, hardened)
    return {config: median_figures(results) for config, results in runs.items()}


def run_proxy(lab: Lab, seconds: int, connections: int, rounds: int, requests: int) -> dict:
    """Proxy mode: the lab's stand-in application behind the portal, with the micro-cache and
    with it turned off, alternating; origin hits counted by the application."""
    _, settings = inventory_settings("inventory/lab.py")
    cached = nginx_config(settings.model_copy(update={"portal_mode": "proxy", **LIFTED_LIMITS}))
    configs = {
        "micro-cache": cached,
        "no cache": cached.replace("proxy_cache difusor_micro;", "proxy_cache off;"),
    }
    runs: dict[str, list[dict]] = {name: [] for name in configs}
    # The portal's deploy puts its own configuration back when the application goes.
    with proxied_application(lab, int(settings.proxy_upstream.rsplit(":", 1)[1])):
        for _ in range(rounds):
            for name, config in configs.items():
                install_config(lab, config)
                before = origin_hits(lab)
                figures = wrk(lab, "public", PAGE, seconds, connections, requests=requests)
                figures["origin_hits"] = origin_hits(lab) - before
                runs[name].append(figures)
    return {name: medians(results) for name, results in runs.items()}


def print_proxy(figures: dict, args: argparse.Namespace) -> None:
    print(
        f"\nproxy mode benchmark: wrk -t2 -c{args.connections} -d{args.seconds}s, at most "
        f"{args.requests} requests, over HTTPS from the public namespace to the application's "
        f"page, median of {args.rounds} alternating rounds"
    )
    header = ("requests", "req/s", "p99 ms", "origin hits", "per hit")
    print(f"{'config':<13}" + "".join(f"{title:>12}" for title in header))
    for name, f in figures.items():
        per_hit = f["requests"] / max(f["origin_hits"], 1)
        print(
            f"{name:<13}{f['requests']:>12.0f}{f['rps']:>12.0f}{f['p99_ms']:>12.2f}"
            f"{f['origin_hits']:>12.0f}{per_hit:>12.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="use a lab that is up and deployed")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating runs per configuration (medians)"
    )
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="measure proxy mode instead: the lab's application behind the micro-cache",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=1_000_000,
        help="--proxy: requests per wrk run at most (a bound: the time limit should end a run, "
        "or requests/s reads low)",
    )
    args = parser.parse_args()
    with deployed_lab(args.reuse) as lab:
        if args.proxy:
            print_proxy(
                run_proxy(lab, args.seconds, args.connections, args.rounds, args.requests), args
            )
            return
        figures = run(lab, args.seconds, args.connections, args.rounds)
    print(
        f"\nportal benchmark: wrk -t2 -c{args.connections} -d{args.seconds}s over HTTPS "
        f"from the public namespace, median of {args.rounds} alternating rounds"
    )
    print(f"{'document':<14}{'config':<10}{'req/s':>10}{'p99 ms':>10}{'non-2xx':>9}")
    for document in ("results.json", "index"):
        for config in ("hardened", "stock"):
            f = figures[config][document]
            p99_ms = f["p99_ms"] or 0
            print(f"{document:<14}{config:<10}{f['rps']:>10.0f}{p99_ms:>10.2f}{f['non_2xx']:>9}")
        ratio = figures["hardened"][document]["rps"] / max(figures["stock"][document]["rps"], 1)
        print(f"{document:<14}{'ratio':<10}{ratio:>10.0%}")


if __name__ == "__main__":
    main()
