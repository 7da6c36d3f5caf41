"""
Certificates for the portal: the one nginx serves through its links, self-signed
(rehearsals, and the bootstrap nginx needs before ACME has issued anything) until a preferred
one is there, and ACME certificates through certbot's webroot plugin.

Example::

    from difusor.operations import tls

    tls.live_certificate(links=("/etc/difusor/tls/live.crt", "/etc/difusor/tls/live.key"),
                         self_signed=("/etc/difusor/tls/selfsigned.crt",
                                      "/etc/difusor/tls/selfsigned.key"),
                         domain="prep.example.com.mx")
    tls.acme_certificate(domain="prep.example.com.mx", email="sistemas@example.com.mx",
                         server="https://acme-v02.api.letsencrypt.org/directory",
                         webroot="/var/www/acme")
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from difusor.facts import AcmeCertificate, Certificates

LETSENCRYPT = "/etc/letsencrypt"


def acme_paths(domain: str) -> tuple[str, str]:
    """Certificate chain and key certbot keeps for a domain."""
    return f"{LETSENCRYPT}/live/{domain}/fullchain.pem", f"{LETSENCRYPT}/live/{domain}/privkey.pem"


def _self_signed(certificate: str, key: str, domain: str, days: int) -> list:
    return [
        StringCommand(
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", str(days), "-subj", QuoteString(f"/CN={domain}"),
            "-addext", QuoteString(f"subjectAltName=DNS:{domain}"),
            "-keyout", QuoteString(key), "-out", QuoteString(certificate), "2>/dev/null",
        ),
        StringCommand("chmod", "600", QuoteString(key)),
    ]  # fmt: skip


@operation()
def live_certificate(
    links: tuple[str, str],
    self_signed: tuple[str, str],
    domain: str,
    preferred: tuple[str, str] | None = None,
    days: int = 397,
):
    """
    The certificate and key a server reads through two links, judged by one fact: the
    ``preferred`` pair (certbot's, or the operator's own) once its certificate file holds a
    certificate, else the ``self_signed`` pair. That one, an ECDSA certificate for
    ``domain``, is made when missing or for another name: nginx needs a certificate before
    ACME can issue one.

    + links: the certificate's link and the key's
    + self_signed/preferred: (certificate, key) paths
    """
    paths = (*links, self_signed[0], *(preferred[:1] if preferred else ()))
    found = host.get_fact(Certificates, paths=paths)
    commands = []
    own = (found.get(self_signed[0]) or {}).get("certificate")
    if not own or domain not in own["names"]:
        commands += _self_signed(*self_signed, domain, days)
    live = self_signed
    if preferred and (found.get(preferred[0]) or {}).get("certificate"):
        live = preferred
    for link, target in zip(links, live, strict=True):
        if (found.get(link) or {}).get("link") != target:
            commands.append(StringCommand("ln", "-sf", QuoteString(target), QuoteString(link)))
    if not commands:
        kind = "a self-signed" if live == self_signed else "the preferred"
        host.noop(f"{links[0]} is {kind} certificate")
        return
    yield from commands


@operation()
def acme_certificate(
    domain: str, email: str, server: str, webroot: str, ca_bundle: str | None = None
):
    """
    Obtain a certificate for ``domain`` from an ACME ``server`` with certbot (HTTP-01 through
    ``webroot``, which nginx serves on port 80). Nothing happens while certbot already holds
    a certificate for the domain from the same server; certbot's timer renews it. A
    certificate from another server is replaced at once by one from ``server``.

    + ca_bundle: CA file on the server to trust for a private or test ACME server
    """
    chain, _ = acme_paths(domain)
    renewal_file = f"{LETSENCRYPT}/renewal/{domain}.conf"
    current = host.get_fact(AcmeCertificate, certificate=chain, renewal=renewal_file)
    issued = current["certificate"]
    held = bool(issued) and domain in issued["names"]
    if held and current["server"] == server:
        host.noop(f"certbot holds a certificate for {domain}")
        return
    # certbot keeps a certificate that is not due for renewal whatever --server says (and
    # its renewal configuration keeps naming the old server): only a forced renewal gets
    # one from the new server and writes that server into the renewal configuration.
    renewal = "--force-renewal" if held else "--keep-until-expiring"
    environment = f"REQUESTS_CA_BUNDLE={ca_bundle} " if ca_bundle else ""
    yield StringCommand(
        f"{environment}certbot",
        "certonly",
        "--non-interactive",
        "--agree-tos",
        renewal,
        "--email",
        QuoteString(email),
        "--server",
        QuoteString(server),
        "--webroot",
        "--webroot-path",
        QuoteString(webroot),
        "--cert-name",
        QuoteString(domain),
        "--domain",
        QuoteString(domain),
        "--key-type",
        "ecdsa",
    )
