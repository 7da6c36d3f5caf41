import os
import subprocess

import pytest


@pytest.fixture(scope="session")
def public_key(tmp_path_factory) -> str:
    """A real ed25519 public key made by ssh-keygen."""
    path = tmp_path_factory.mktemp("keys") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture()
def valid_data(public_key) -> dict:
    """Minimal valid host data, as pyinfra would hand it over (with connector keys)."""
    return {
        "portal_domain": "prep.example.com.mx",
        "admin_email": "sistemas@example.com.mx",
        "trusted_sources": {"ople": ["203.0.113.0/28", "2001:db8:10::/48"]},
        "operators": [{"name": "ana", "ssh_keys": [public_key]}],
        "ssh_hostname": "203.0.113.5",
        "ssh_user": "root",
        "_sudo": False,
    }


RSYNC_PASSWORD = "unit-test-rsync-password"


@pytest.fixture(autouse=True)
def secrets_of_a_deploy(monkeypatch):
    """What a deploy finds in .env: an rsync password, and nothing from this checkout's .env."""
    monkeypatch.setenv("DIFUSOR_ENV_FILE", os.devnull)
    monkeypatch.setenv("DIFUSOR_RSYNC_PASSWORD", RSYNC_PASSWORD)
