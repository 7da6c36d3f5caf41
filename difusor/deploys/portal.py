"""
The portal: nginx serving the published corte (or proxying to the institute's application)
over HTTPS, hardened and tuned for election night, with JSON access logs kept for the
memoria técnica.

Example::

    from difusor.deploys.portal import portal
    portal()
"""

from __future__ import annotations

import json
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from difusor import paths
from difusor.context import host_settings
from difusor.operations import files as difusor_files
from difusor.operations import services, tls
from difusor.platform import host_platform
from difusor.render import put_template, put_text, put_texts, render
from difusor.settings import Settings

# Mozilla's intermediate configuration (guideline 5.7) for OpenSSL 3.
TLS_PROFILE = {
    "ciphers": ":".join(
        [
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-RSA-CHACHA20-POLY1305",
        ]
    ),
    "curves": "X25519:prime256v1:secp384r1",
}
HSTS_MAX_AGE = 63072000  # two years, as Mozilla recommends
RESULTS_MAX_AGE = 30  # seconds: results change every 15 minutes and the CDN is purged
ASSETS_MAX_AGE = 86400
MICRO_CACHE_SECONDS = 1

# Cloudflare's published ranges (https://www.cloudflare.com/ips/), for cdn = "cloudflare".
CLOUDFLARE_NETWORKS = [
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
    "2400:cb00::/32",
    "2606:4700::/32",
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
]

LIVE_CERTIFICATE = f"{paths.TLS_DIR}/live.crt"
LIVE_KEY = f"{paths.TLS_DIR}/live.key"
SELF_SIGNED = (f"{paths.TLS_DIR}/selfsigned.crt", f"{paths.TLS_DIR}/selfsigned.key")
PROVIDED = (f"{paths.TLS_DIR}/provided.crt", f"{paths.TLS_DIR}/provided.key")
ACME_CA_BUNDLE = f"{paths.TLS_DIR}/acme-ca.pem"
RENEWAL_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/difusor-reload-nginx"
# /corte.json until the publisher's first corte.
PLACEHOLDER_STAMP = {"corte": None, "status": "waiting for the first corte"}


def portal_packages(settings: Settings) -> list[str]:
    """Installed with the kit's other packages (base)."""
    return [
        "nginx",
        "openssl",
        "logrotate",
        *(["certbot"] if settings.tls_source == "acme" else []),
    ]


def content_security_policy(settings: Settings) -> str:
    ancestors = " ".join(["'self'", *settings.embed_origins])
    return f"frame-ancestors {ancestors}; base-uri 'self'; object-src 'none'"


# fail2ban's jails whose bans nginx also enforces (difusor/deploys/intrusion.py): behind a CDN
# only nginx sees the reader's address. One list per jail, each included by name (geo blocks
# take no wildcards), so each exists from the start, empty.
PORTAL_JAILS = ("portal-flood", "portal-scan")


def ban_list(jail: str) -> str:
    return f"{paths.NGINX_BANS_DIR}/{jail}.conf"


def real_ip_networks(settings: Settings) -> list[str]:
    """The CDN's networks, whose forwarded client address nginx believes."""
    networks = [str(network) for network in settings.cdn_networks]
    if settings.cdn == "cloudflare":
        networks = CLOUDFLARE_NETWORKS + networks
    return networks


def nginx_context(settings: Settings, userid_flags: bool = True) -> dict:
    """+ userid_flags: nginx has the userid_flags directive (1.19.3 and later)"""
    return {
        "domain": settings.portal_domain,
        "portal_mode": settings.portal_mode,
        "rate_limit_per_second": settings.rate_limit_per_second,
        "connection_limit": settings.connection_limit,
        "tls": TLS_PROFILE,
        "real_ip_networks": real_ip_networks(settings),
        "real_ip_header": "CF-Connecting-IP" if settings.cdn == "cloudflare" else "X-Forwarded-For",
        "upstream": settings.proxy_upstream.removeprefix("http://"),
        "content_security_policy": content_security_policy(settings),
        "hsts_max_age": HSTS_MAX_AGE,
        "results_max_age": RESULTS_MAX_AGE,
        "assets_max_age": ASSETS_MAX_AGE,
        "micro_cache_seconds": MICRO_CACHE_SECONDS,
        "micro_cache_dir": paths.MICRO_CACHE_DIR,
        "certificate": LIVE_CERTIFICATE,
        "certificate_key": LIVE_KEY,
        "acme_webroot": paths.ACME_WEBROOT,
        "current": paths.CURRENT_LINK,
        "healthz_file": paths.HEALTHZ_FILE,
        "access_log": paths.NGINX_ACCESS_LOG,
        "error_log": paths.NGINX_ERROR_LOG,
        "ban_lists": [ban_list(jail) for jail in PORTAL_JAILS],
        "userid_flags": userid_flags,
        "beacon_path": paths.BEACON_PATH,
    }


def nginx_config(settings: Settings) -> str:
    """nginx.conf as the portal writes it."""
    return render("portal/nginx.conf.j2", **nginx_context(settings))


@deploy("Portal")
def portal():
    settings = host_settings()
    domain = settings.portal_domain
    acme = settings.tls_source == "acme"

    difusor_files.directories(
        name="Portal directories",
        modes={
            f"{paths.PLACEHOLDER_DIR}/site": "755",
            paths.ACME_WEBROOT: "755",
            paths.NGINX_BANS_DIR: "755",
            paths.TLS_DIR: "700",
        },
    )
    # nginx.conf includes them; fail2ban writes them, so only their presence is managed here.
    for jail in PORTAL_JAILS:
        files.file(name=f"Readers banned by {jail}", path=ban_list(jail), mode="644")
    put_texts(
        name="Placeholder page and corte stamp until the first corte",
        files={
            f"{paths.PLACEHOLDER_DIR}/site/index.html": render(
                "portal/placeholder.html.j2", domain=domain
            ),
            f"{paths.PLACEHOLDER_DIR}/corte.json": json.dumps(PLACEHOLDER_STAMP) + "\n",
        },
    )
    difusor_files.link_if_absent(
        name="Live release (the placeholder until the publisher's first corte)",
        path=paths.CURRENT_LINK,
        target=paths.PLACEHOLDER_DIR,
    )

    preferred = None
    if settings.tls_source == "provided":
        # The settings refuse tls_source="provided" without both files.
        assert settings.tls_certificate_file and settings.tls_key_file
        files.put(
            name="Provided certificate",
            src=settings.tls_certificate_file,
            dest=PROVIDED[0],
            mode="644",
        )
        files.put(name="Provided key", src=settings.tls_key_file, dest=PROVIDED[1], mode="600")
        preferred = PROVIDED
    elif acme:
        preferred = tls.acme_paths(domain)
    live = tls.live_certificate(
        name="Live certificate (self-signed until the preferred one is there)",
        links=(LIVE_CERTIFICATE, LIVE_KEY),
        self_signed=SELF_SIGNED,
        domain=domain,
        preferred=preferred,
    )

    files.link(name="No stock default site", path="/etc/nginx/sites-enabled/default", present=False)
    put_template(
        name="Log rotation for nginx",
        template="portal/logrotate-nginx.j2",
        context={"retention_days": settings.log_retention_days},
        dest="/etc/logrotate.d/nginx",
    )
    if settings.portal_mode == "proxy":
        # Before the configuration that names it: nginx -t fails on a missing parent.
        files.directory(
            name="Micro-cache directory",
            path=paths.MICRO_CACHE_DIR,
            user="www-data",
            group="www-data",
            mode="700",
        )
    # Nothing between the new configuration and the reload that could fail and leave
    # nginx running the old one.
    nginx_conf = put_template(
        name="nginx configuration",
        template="portal/nginx.conf.j2",
        context=nginx_context(settings, host_platform().nginx_userid_flags),
        dest="/etc/nginx/nginx.conf",
        validate="nginx -q -t -c {path}",
    )
    services.running(name="nginx running", units=["nginx"])
    systemd.service(
        name="Reload nginx",
        service="nginx",
        reloaded=True,
        _if=any_changed(nginx_conf, live),
    )

    if acme:
        acme_certificate(settings)


def acme_certificate(settings: Settings) -> None:
    domain = settings.portal_domain
    ca_bundle = None
    if settings.acme_ca_bundle:
        ca_bundle = ACME_CA_BUNDLE
        put_text(
            name="CA of the ACME server",
            content=Path(settings.acme_ca_bundle).read_text(),
            dest=ACME_CA_BUNDLE,
            mode="644",
        )
    dropin = put_template(
        name="certbot trusts the ACME server's CA on renewals",
        template="portal/certbot-ca.conf.j2",
        context={"ca_bundle": ca_bundle},
        dest="/etc/systemd/system/certbot.service.d/difusor-ca.conf",
    )
    systemd.daemon_reload(name="Reload units", _if=dropin.did_change)
    put_text(
        name="Reload nginx after each renewal",
        content="#!/bin/sh\n# Managed by difusor: serve the renewed certificate.\n"
        "systemctl reload nginx\n",
        dest=RENEWAL_HOOK,
        mode="755",
    )
    issued = tls.acme_certificate(
        name=f"ACME certificate for {domain}",
        domain=domain,
        email=settings.admin_email,
        server=settings.acme_server,
        webroot=paths.ACME_WEBROOT,
        ca_bundle=ca_bundle,
    )
    chain, key = tls.acme_paths(domain)
    links = [
        files.link(name=f"Serve the ACME {what}", path=path, target=target, _if=issued.did_change)
        for what, path, target in (("certificate", LIVE_CERTIFICATE, chain), ("key", LIVE_KEY, key))
    ]
    systemd.service(
        name="Reload nginx with the ACME certificate",
        service="nginx",
        reloaded=True,
        _if=any_changed(*links),
    )
