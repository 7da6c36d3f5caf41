"""Portal: the public site (nginx), its certificate, and the CDN in front of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from .base import Broken, rule
from .rehearsal import RehearsalSettings
from .types import (
    Email,
    Hostname,
    IPNetwork,
    LocalFile,
    Network,
    Origin,
    PrivateFile,
    address_count,
    matching,
)

LoopbackUrl = Annotated[
    str,
    matching(
        r"^http://(127\.\d+\.\d+\.\d+|\[::1\]|localhost):(\d{1,5})$",
        "must be http://127.0.0.1:PORT (or [::1]): the application stays on loopback",
    ),
]

# DuckDB matches the memoria técnica's page patterns with RE2: no lookaround, no backreference.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")


def _page_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{value!r} is not a regular expression ({error})") from None
    if _NOT_RE2.search(value):
        raise ValueError(f"{value!r}: lookarounds and backreferences are not supported (RE2)")
    return value


PagePattern = Annotated[str, AfterValidator(_page_pattern)]


# Widest network a CDN entry may name, per IP version.
WIDEST_CDN_PREFIX = {4: 8, 6: 24}


class PortalSettings(RehearsalSettings):
    """The public site readers reach over HTTPS (nginx), its certificate, and the CDN in front."""

    portal_domain: Hostname = Field(description="Public host name of the results portal.")
    admin_email: Email = Field(description="Contact for certificates and alerts.")
    portal_mode: Literal["static", "proxy"] = Field(
        default="static",
        description="static: nginx serves the published corte; proxy: nginx proxies to the "
        "institute's application on loopback, with micro-caching.",
    )
    proxy_upstream: LoopbackUrl = Field(
        default="http://127.0.0.1:8080",
        description="Application behind the portal in proxy mode; loopback only.",
    )
    tls_source: Literal["acme", "provided", "selfsigned"] = Field(
        default="acme",
        description="acme: certbot (HTTP-01, webroot, automatic renewal); provided: your files; "
        "selfsigned: rehearsals only.",
    )
    acme_server: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory", description="ACME directory URL."
    )
    acme_ca_bundle: LocalFile | None = Field(
        default=None,
        description="CA file (on this machine) to trust for a private or test ACME server.",
    )
    tls_certificate_file: LocalFile | None = Field(
        default=None, description="provided: certificate chain (PEM) on this machine."
    )
    tls_key_file: PrivateFile | None = Field(
        default=None, description="provided: private key (PEM) on this machine; never in git."
    )
    embed_origins: list[Origin] = Field(
        default=[],
        description="Origins allowed to embed the results in a frame (CSP frame-ancestors), "
        "e.g. https://www.example.com.mx.",
    )
    cdn: Literal["none", "cloudflare"] = Field(
        default="none",
        description="CDN in front of the portal: cloudflare trusts Cloudflare's published "
        "ranges for the real client address (CF-Connecting-IP).",
    )
    cdn_networks: list[Network] = Field(
        default=[],
        description="Other proxies/CDN networks whose X-Forwarded-For is trusted.",
    )
    rate_limit_per_second: int = Field(
        default=30,
        ge=1,
        description="Requests per second per client address (burst of 10 s worth). Generous: "
        "universities and mobile carriers put many readers behind one address.",
    )
    connection_limit: int = Field(
        default=100, ge=1, le=65535, description="Open connections per client address."
    )
    report_page_patterns: list[PagePattern] = Field(
        default=[],
        description="Request paths that also count as pages in the memoria técnica (regular "
        "expressions, RE2), besides those ending in /, .html or .htm; e.g. "
        "'^/resultados/[a-z]+$' for an application's pages.",
    )

    @field_validator("cdn_networks")
    @classmethod
    def _cdn_networks_are_a_cdns(cls, networks: list[IPNetwork]) -> list[IPNetwork]:
        """No CDN network wider than /8 (IPv4) or /24 (IPv6): every address in it may tell the
        portal which reader it forwards, so a wider one lets anyone forge their address and
        slip past the per-reader limits and bans. CDNs publish nothing wider than /12 or /29."""
        for network in networks:
            widest = WIDEST_CDN_PREFIX[network.version]
            if network.prefixlen < widest:
                raise ValueError(
                    f"'{network}' would let {address_count(network)} forge the reader's address: "
                    f"CDN networks are at most /{widest}"
                )
        return networks

    @rule("tls_source", "rehearsal")
    def _selfsigned_only_in_rehearsals(self) -> Iterator[Broken]:
        """`tls_source = "selfsigned"` only with `rehearsal = True`: readers' browsers refuse it."""
        if self.tls_source == "selfsigned" and not self.rehearsal:
            yield Broken(
                "'selfsigned' is only for rehearsal inventories (set rehearsal=True): readers' "
                "browsers refuse it"
            )

    @rule("tls_source", "tls_certificate_file", "tls_key_file")
    def _provided_certificate_has_its_files(self) -> Iterator[Broken]:
        """`tls_source = "provided"` needs both `tls_certificate_file` and `tls_key_file`."""
        if self.tls_source == "provided" and not (self.tls_certificate_file and self.tls_key_file):
            yield Broken("'provided' needs tls_certificate_file and tls_key_file")
