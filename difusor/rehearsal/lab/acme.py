"""
A local ACME certificate authority for the lab: pebble (Let's Encrypt's test server) and its
DNS companion pebble-challtestsrv, both in the trusted `difusor-ople` namespace.

The lab host's certbot talks to it at ``ACME_DIRECTORY``; pebble validates HTTP-01 challenges
by connecting to port 80 of the portal's name, which challtestsrv resolves to the lab host.
Pebble's own HTTPS endpoint uses a certificate from a CA made here (``ca_file``), which the
lab inventory hands to certbot as ``acme_ca_bundle``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..system import LabError, alive, run, terminate, write_file
from . import network as net
from .services import _start, _tail, _tcp_listening, pids_with_arg

ACME_PORT = 14000
ACME_MANAGEMENT_PORT = 15000
DNS_PORT = 8053
DNS_ADDRESS = f"{net.OPLE_IPV4}:{DNS_PORT}"
ACME_DIRECTORY = f"https://{net.OPLE_IPV4}:{ACME_PORT}/dir"
# Pebble's issuing root, fetched to verify the certificates it issues.
ACME_ROOTS_URL = f"https://{net.OPLE_IPV4}:{ACME_MANAGEMENT_PORT}/roots/0"


class AcmeServer:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.conf = workdir / "pebble.json"
        self.ca_file = workdir / "acme-ca.pem"
        self.ca_key = workdir / "acme-ca.key"
        self.cert_file = workdir / "pebble-https.pem"
        self.key_file = workdir / "pebble-https.key"
        self.logfile = workdir / "pebble.log"
        self.dns_logfile = workdir / "challtestsrv.log"
        self.ns = net.NAMESPACES["ople"]

    def _certificates(self) -> None:
        """A CA and pebble's HTTPS certificate for the ople address."""
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=difusor lab ACME CA",
                "-keyout",
                str(self.ca_key),
                "-out",
                str(self.ca_file),
            ]
        )
        csr = self.workdir / "pebble-https.csr"
        run(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                f"/CN={net.OPLE_IPV4}",
                "-keyout",
                str(self.key_file),
                "-out",
                str(csr),
            ]
        )
        extensions = self.workdir / "pebble-https.ext"
        write_file(extensions, f"subjectAltName=IP:{net.OPLE_IPV4}\n")
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(self.ca_file),
                "-CAkey",
                str(self.ca_key),
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                str(extensions),
                "-out",
                str(self.cert_file),
            ]
        )
        os.chmod(self.key_file, 0o600)

    def start(self) -> None:
        self._certificates()
        write_file(
            self.conf,
            json.dumps(
                {
                    "pebble": {
                        "listenAddress": f"{net.OPLE_IPV4}:{ACME_PORT}",
                        "managementListenAddress": f"{net.OPLE_IPV4}:{ACME_MANAGEMENT_PORT}",
                        "certificate": str(self.cert_file),
                        "privateKey": str(self.key_file),
                        "httpPort": 80,
                        "tlsPort": 443,
                        "ocspResponderURL": "",
                        "externalAccountBindingRequired": False,
                        # 90 days, like Let's Encrypt (pebble's default of 5 years fails
                        # Mozilla's profile).
                        "certificateValidityPeriod": 90 * 24 * 3600,
                    }
                },
                indent=2,
            )
            + "\n",
        )
        # Every name resolves to the lab host: the portal's name needs no real DNS.
        dns = _start(
            [
                "ip",
                "netns",
                "exec",
                self.ns.name,
                "pebble-challtestsrv",
                "-defaultIPv4",
                net.LAB_IPV4,
                "-defaultIPv6",
                "",
                "-dns01",
                DNS_ADDRESS,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                f"{net.OPLE_IPV4}:8055",
            ],
            self.dns_logfile,
            "pebble-challtestsrv",
        )
        pebble = _start(
            [
                "ip",
                "netns",
                "exec",
                self.ns.name,
                "env",
                "PEBBLE_VA_NOSLEEP=1",
                "PEBBLE_WFE_NONCEREJECT=0",
                "pebble",
                "-config",
                str(self.conf),
                "-dnsserver",
                DNS_ADDRESS,
            ],
            self.logfile,
            "pebble",
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not (alive(dns) and alive(pebble)):
                raise LabError(
                    f"pebble exited at start:\n{_tail(self.logfile)}\n{_tail(self.dns_logfile)}"
                )
            if _tcp_listening(net.OPLE_IPV4, ACME_PORT):
                return
            time.sleep(0.2)
        raise LabError(f"pebble not listening on {ACME_DIRECTORY}:\n{_tail(self.logfile)}")

    def stop(self) -> None:
        # Both processes name the lab's DNS address on their command line.
        terminate(pids_with_arg(DNS_ADDRESS), "pebble", timeout=5)


def fetch_issuing_root(path: Path) -> Path:
    """Pebble's issuing root, from the trusted namespace: the CA that verifies the portal's
    certificate (``difusor evidence --ca-file``, the portal tests)."""
    run(
        [
            "ip",
            "netns",
            "exec",
            net.OPLE_NETNS,
            "curl",
            "-sS",
            "--insecure",
            "--max-time",
            "10",
            "-o",
            str(path),
            ACME_ROOTS_URL,
        ]
    )
    return path
