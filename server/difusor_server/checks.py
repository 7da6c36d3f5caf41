"""The monitor's checks besides freshness: whatever would lose the night if nobody looked.

Each check returns ``None`` when all is well, or a ``Problem``: a stable ``status`` code (an
alert goes out when it changes) and a human ``detail``.

- ``publishing``: a package waits after an incident (``disk-full``, ``io-error``; the
  publisher's ``incident.json``), or the publishing tree has less than ``disk_alert_free_mb``
  free (``low-space``).
- ``certificate``: the certificate nginx serves on ``certificate_check`` expires within
  ``alert_days`` (``expiring``; certbot renews 30 days ahead, so this also means renewal has
  been failing), has expired (``expired``), or cannot be read (``unreachable``).
- ``clock``: chrony, asked over NTP on loopback (``clock_check``), is not synchronised
  (``unsynchronised``) or does not answer (``no-answer``).
"""

import math
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .config import Config
from .fsutil import read_json
from .outcomes import INCIDENT_FILE

NTP_EPOCH = 2208988800
LEAP_UNSYNCHRONISED = 3
CHECK_TIMEOUT = 3.0


@dataclass(frozen=True)
class Problem:
    status: str
    detail: str


def publishing(cfg: Config) -> Problem | None:
    incident = read_json(cfg.state_file(INCIDENT_FILE))
    if incident:
        return Problem(
            str(incident.get("reason", "incident")),
            f"{incident.get('package')} waits since {incident.get('ts')}: {incident.get('detail')}",
        )
    if cfg.disk_alert_free_mb:
        try:
            fs = os.statvfs(_existing(cfg.releases_dir))
        except OSError as exc:
            return Problem("io-error", f"{cfg.releases_dir}: {exc.strerror}")
        free_mb = fs.f_bavail * fs.f_frsize // (1024 * 1024)
        if free_mb < cfg.disk_alert_free_mb:
            return Problem(
                "low-space",
                f"{free_mb} MB free on {cfg.releases_dir} (alert below {cfg.disk_alert_free_mb})",
            )
    return None


def _existing(path: str) -> str:
    """``path``, or its nearest existing parent (the tree may not be made yet)."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def certificate(check: dict[str, Any], now: datetime) -> Problem | None:
    where = f"{check['name']} at {check['address']}:{check['port']}"
    try:
        expires = not_after(served_certificate(check["address"], check["port"], check["name"]))
    except (OSError, ValueError, IndexError) as exc:
        return Problem("unreachable", f"certificate of {where} not read: {exc}")
    days = (expires - now).total_seconds() / 86400
    if days <= 0:
        return Problem("expired", f"certificate of {where} expired {expires.isoformat()}")
    if days < check["alert_days"]:
        return Problem(
            "expiring",
            f"certificate of {where} expires in {math.floor(days)} days "
            f"({expires.isoformat()}); is renewal failing?",
        )
    return None


def served_certificate(address: str, port: int, name: str) -> bytes:
    """The certificate (DER) a TLS server presents for ``name``. Not verified: only its
    dates are read."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=CHECK_TIMEOUT) as sock,
        context.wrap_socket(sock, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ValueError("no certificate presented")
    return der


def _der_items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(tag, content start, content end) of each DER element in ``data[start:end]``."""
    items = []
    while start < end:
        tag, length = data[start], data[start + 1]
        start += 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(data[start : start + size], "big")
            start += size
        items.append((tag, start, start + length))
        start += length
    return items


def not_after(der: bytes) -> datetime:
    """The end of validity of an X.509 certificate in DER (the standard library's ``ssl``
    parses it only for verified peers)."""
    [(_, cert_start, cert_end)] = _der_items(der, 0, len(der))
    _, tbs_start, tbs_end = _der_items(der, cert_start, cert_end)[0]
    fields = _der_items(der, tbs_start, tbs_end)
    if fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    _, validity_start, validity_end = fields[3]  # serial, signature, issuer, validity
    tag, start, end = _der_items(der, validity_start, validity_end)[1]
    text = der[start:end].decode("ascii")
    layout = {0x17: "%y%m%d%H%M%SZ", 0x18: "%Y%m%d%H%M%SZ"}.get(tag)
    if layout is None:
        raise ValueError(f"notAfter has ASN.1 tag {tag:#x}, not a time")
    return datetime.strptime(text, layout).replace(tzinfo=timezone.utc)


def clock(check: dict[str, Any]) -> Problem | None:
    where = f"{check['address']}:{check['port']}"
    try:
        leap, stratum = ntp_state(check["address"], check["port"])
    except OSError as exc:
        return Problem("no-answer", f"no NTP answer from the local time service at {where}: {exc}")
    if leap == LEAP_UNSYNCHRONISED or not 0 < stratum < 16:
        return Problem(
            "unsynchronised",
            f"the local time service ({where}) is not synchronised: leap {leap}, "
            f"stratum {stratum}; see chronyc -n tracking",
        )
    return None


def ntp_state(address: str, port: int) -> tuple[int, int]:
    """(leap indicator, stratum) of one NTP client query: leap 3 means not synchronised."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    request = bytearray(48)
    request[0] = (4 << 3) | 3  # version 4, client
    fraction, seconds = math.modf(time.time() + NTP_EPOCH)
    struct.pack_into("!II", request, 40, int(seconds), int(fraction * 2**32))
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(CHECK_TIMEOUT)
        sock.sendto(bytes(request), (address, port))
        reply = sock.recv(512)
    if len(reply) < 48 or reply[0] & 7 != 4:
        raise OSError("not an NTP server answer")
    return reply[0] >> 6, reply[1]


def run_all(cfg: Config, now: datetime) -> dict[str, Problem | None]:
    """Every configured check by name."""
    results: dict[str, Problem | None] = {"publishing": publishing(cfg)}
    if cfg.certificate_check:
        results["certificate"] = certificate(cfg.certificate_check, now)
    if cfg.clock_check:
        results["clock"] = clock(cfg.clock_check)
    return results
