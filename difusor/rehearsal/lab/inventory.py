"""
Host data of the lab host for pyinfra (``inventory/lab.py``): the lab's addresses as
trusted sources, its apt proxy and NTP server, and the lab key as the operator's key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .acme import ACME_DIRECTORY
from .core import default_workdir
from .network import (
    CONTROLLER_IPV4,
    CONTROLLER_IPV6,
    LAB_IPV4,
    MACHINE,
    NTP_SERVER_IPV4,
    OPLE_IPV4,
    OPLE_IPV6,
    PROXY_URL,
)

DOCKER_PUBLIC_PORT = 82
# The continuity tests run a stand-in of the alert webhook on the lab host, on this port.
WEBHOOK_STAND_IN_PORT = 9099
DOCKER_TRUSTED_PORT = 81

# How long the lab's jails ban an address (the tests wait for the release).
LAB_BAN_SECONDS = 15

# A difusor's own site that embeds the results in a frame.
EMBED_ORIGIN = "https://www.difusor.rehearsal.lab.test"


def lab_data(trusted_sources: dict | None = None) -> dict:
    """pyinfra host data for the lab host; ``trusted_sources`` replaces the lab's own."""
    key = default_workdir() / "id_ed25519"
    public_key = key.with_suffix(".pub")
    if not public_key.is_file():
        raise SystemExit(f"no lab key at {public_key}: bring the lab up first (make lab-up)")
    return {
        "ssh_hostname": LAB_IPV4,
        "ssh_user": "root",
        "ssh_key": str(key),
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
        "rehearsal": True,
        "portal_domain": "prep.lab.test",
        "trusted_sources": trusted_sources
        or {
            "lab-controller": [f"{CONTROLLER_IPV4}/32", f"{CONTROLLER_IPV6}/128"],
            "ople": [f"{OPLE_IPV4}/32", f"{OPLE_IPV6}/128"],
        },
        "operators": [{"name": "operador", "ssh_keys": [public_key.read_text().strip()]}],
        "ntp_servers": [NTP_SERVER_IPV4],
        # The lab machine shares this computer's clock and cannot set it.
        "ntp_clock_control": False,
        "apt_proxy": PROXY_URL,
        # Certificates from the lab's own ACME server (pebble on the ople namespace).
        "tls_source": "acme",
        "acme_server": ACME_DIRECTORY,
        "acme_ca_bundle": str(default_workdir() / "acme-ca.pem"),
        "embed_origins": [EMBED_ORIGIN],
        # The trusted namespace also plays a CDN edge: its X-Forwarded-For is believed.
        "cdn_networks": [f"{OPLE_IPV4}/32", f"{OPLE_IPV6}/128"],
        # Container ports for the Docker exposure tests: 82 public, 81 trusted sources only.
        "docker_public_ports": [DOCKER_PUBLIC_PORT],
        "docker_trusted_ports": [DOCKER_TRUSTED_PORT],
        "docker_log_max_size": "1m",
        "docker_log_max_files": 2,
        # The rehearsal's staff list (difusor evidence: personal.csv).
        "contacts": [
            {
                "name": "Coordinación del ensayo",
                "role": "Coordinación",
                "phone": "+52 228 000 0101",
                "email": "coordinacion@difusor.rehearsal.lab.test",
            },
            {
                "name": "Guardia técnica del ensayo",
                "role": "Soporte técnico",
                "phone": "+52 228 000 0102",
                "email": "soporte@difusor.rehearsal.lab.test",
            },
        ],
        "alert_webhook": f"http://127.0.0.1:{WEBHOOK_STAND_IN_PORT}/alertas",
        # Short bans, so that the lab's tests see an address released, and a flood banned
        # after fewer refusals, so that the flood the tests send stays small.
        "portal_flood_jail_maxretry": 100,
        "portal_flood_jail_bantime": LAB_BAN_SECONDS,
        "portal_scan_jail_bantime": LAB_BAN_SECONDS,
        "rsync_jail_bantime": LAB_BAN_SECONDS,
    }


def lab_env_file() -> Path:
    """The lab's secrets (.env format), made once per lab work dir with a random rsync password."""
    path = default_workdir() / "lab.env"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"DIFUSOR_RSYNC_PASSWORD={secrets.token_urlsafe(24)}\n")
        path.chmod(0o600)
    return path


def lab_secrets() -> dict[str, str]:
    return dict(line.split("=", 1) for line in lab_env_file().read_text().split())


def lab_host(trusted_sources: dict | None = None) -> tuple[str, dict]:
    # pyinfra reads the secrets from this file (DIFUSOR_ENV_FILE), as from a .env.
    os.environ.setdefault("DIFUSOR_ENV_FILE", str(lab_env_file()))
    return (MACHINE, lab_data(trusted_sources))
