"""The portal as it landed: nginx configuration, certificates, log rotation."""

import pytest

from difusor import paths
from difusor.deploys.portal import LIVE_CERTIFICATE, LIVE_KEY
from difusor.operations.tls import acme_paths


@pytest.fixture(scope="module")
def nginx_config(host) -> str:
    return host.check_output("nginx -T 2>/dev/null")


def test_nginx_valid_running_and_listening(host):
    assert host.run("nginx -t").rc == 0
    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    for socket in ("tcp://0.0.0.0:80", "tcp://0.0.0.0:443", "tcp://:::80", "tcp://:::443"):
        assert host.socket(socket).is_listening, socket


@pytest.mark.parametrize(
    "directive",
    [
        "server_tokens off;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_session_tickets off;",
        "client_max_body_size 16k;",
        "limit_req_zone",
        "limit_conn_zone",
        "gzip_static on;",
        "log_format difusor_json escape=json",
        "userid on;",
    ],
)
def test_nginx_effective_config(nginx_config, directive):
    assert directive in nginx_config


def test_no_stock_site(host, nginx_config):
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert "sites-enabled" not in nginx_config


def test_certificate_matches_settings(host, settings):
    expected = {"acme": acme_paths(settings.portal_domain)}.get(settings.tls_source)
    if expected:
        assert host.check_output(f"readlink {LIVE_CERTIFICATE}") == expected[0]
        assert host.check_output(f"readlink {LIVE_KEY}") == expected[1]
        assert host.service("certbot.timer").is_enabled
    names = host.check_output(f"openssl x509 -in {LIVE_CERTIFICATE} -noout -ext subjectAltName")
    assert f"DNS:{settings.portal_domain}" in names
    key = host.file(host.file(LIVE_KEY).linked_to)
    assert key.user == "root" and key.mode & 0o077 == 0


def test_logs_rotate_daily_with_retention(host, settings):
    rotation = host.file("/etc/logrotate.d/nginx")
    assert rotation.contains(f"rotate {settings.log_retention_days}")
    assert rotation.contains("^ *daily$")
    assert not rotation.contains("^ *copytruncate")
    assert host.run("logrotate -d /etc/logrotate.d/nginx").rc == 0


def test_portal_mode_as_set(host, settings, nginx_config):
    if settings.portal_mode == "proxy":
        assert f"server {settings.proxy_upstream.removeprefix('http://')};" in nginx_config
        cache = host.file(paths.MICRO_CACHE_DIR)
        assert cache.is_directory and cache.user == "www-data" and cache.mode == 0o700
    else:
        assert "proxy_pass" not in nginx_config
        assert f"root {paths.CURRENT_LINK}/site;" in nginx_config
