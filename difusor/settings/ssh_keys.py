"""
OpenSSH public key lines (``TYPE BASE64 [comment]``), as operators paste them into settings.

A line is accepted when its type is one sshd accepts here and its body decodes to one whole
key of that type (RFC 4253 6.6, RFC 5656 3.1, OpenSSH PROTOCOL.u2f), nothing missing and
nothing after it: an ed25519 key of 32 bytes; an ECDSA point of its curve's size on the
curve the type names; an RSA modulus of at least ``MIN_RSA_BITS`` bits with an odd public
exponent; a FIDO (``sk-``) key with its ``ssh:`` application. A line cut short while copying
is refused here rather than found missing at the first login.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

MIN_RSA_BITS = 3072
ED25519_BYTES = 32
# ECDSA curve name -> coordinate size in bytes; the point is 0x04 || x || y (uncompressed).
CURVE_BYTES = {"nistp256": 32, "nistp384": 48, "nistp521": 66}
# A FIDO key's application string starts like this (ssh-keygen refuses any other).
SK_APPLICATION_PREFIX = b"ssh:"

ED25519_TYPES = {"ssh-ed25519", "sk-ssh-ed25519@openssh.com"}
ECDSA_TYPES = {
    "ecdsa-sha2-nistp256": "nistp256",
    "ecdsa-sha2-nistp384": "nistp384",
    "ecdsa-sha2-nistp521": "nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com": "nistp256",
}
KEY_TYPES = {"ssh-rsa", *ED25519_TYPES, *ECDSA_TYPES}
BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


class _KeyBody:
    """The decoded body of a key, read field by field (RFC 4251 ``string`` and ``mpint``)."""

    def __init__(self, blob: bytes, key_type: str):
        self.blob = blob
        self.key_type = key_type
        self.offset = 0

    def string(self) -> bytes:
        try:
            (length,) = struct.unpack_from(">I", self.blob, self.offset)
        except struct.error:
            raise self.cut_short() from None
        start = self.offset + 4
        if start + length > len(self.blob):
            raise self.cut_short()
        self.offset = start + length
        return self.blob[start : self.offset]

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def cut_short(self) -> ValueError:
        return ValueError(
            f"has a body cut short ({len(self.blob)} bytes): not a whole {self.key_type} key"
        )

    def end(self) -> None:
        extra = len(self.blob) - self.offset
        if extra:
            raise ValueError(f"has {extra} bytes after the {self.key_type} key in its body")


def _ed25519(body: _KeyBody) -> None:
    key = body.string()
    if len(key) != ED25519_BYTES:
        raise ValueError(f"has a {len(key)}-byte ed25519 key; {ED25519_BYTES} bytes expected")


def _ecdsa(body: _KeyBody, curve: str) -> None:
    named = body.string().decode("ascii", errors="replace")
    if named != curve:
        raise ValueError(f"names curve {named!r} inside a {curve} key")
    point = body.string()
    size = 1 + 2 * CURVE_BYTES[curve]
    if len(point) != size or point[0] != 4:
        raise ValueError(
            f"has a {len(point)}-byte point; a {curve} key's is {size} bytes, starting 0x04"
        )


def _rsa(body: _KeyBody) -> None:
    exponent = body.mpint()
    bits = body.mpint().bit_length()
    if exponent < 3 or exponent % 2 == 0 or exponent.bit_length() > 32:
        raise ValueError(
            f"has RSA exponent {exponent}; an odd one from 3 up is required (ssh-keygen: 65537)"
        )
    if bits < MIN_RSA_BITS:
        raise ValueError(f"is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required")


def _fido_application(body: _KeyBody) -> None:
    application = body.string()
    if not application.startswith(SK_APPLICATION_PREFIX):
        raise ValueError(
            f"has FIDO application {application.decode(errors='replace')!r}; it starts with 'ssh:'"
        )


def _check_body(body: _KeyBody) -> None:
    key_type = body.key_type
    if key_type in ED25519_TYPES:
        _ed25519(body)
    elif key_type in ECDSA_TYPES:
        _ecdsa(body, ECDSA_TYPES[key_type])
    else:
        _rsa(body)
    if key_type.startswith("sk-"):
        _fido_application(body)
    body.end()


def ssh_public_key(value: str) -> str:
    """Check an OpenSSH public key line; return it with its whitespace normalized."""
    parts = value.strip().split()
    shown = value if len(value) <= 60 else value[:57] + "..."
    if len(parts) < 2:
        raise ValueError(f"{shown!r} is not an OpenSSH public key line ('TYPE BASE64 [comment]')")
    key_type, encoded = parts[0], parts[1]
    if key_type not in KEY_TYPES:
        raise ValueError(f"{shown!r} has unsupported key type {key_type!r}")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        if BASE64.match(encoded):
            raise ValueError(f"{shown!r} has a body cut short: its base64 stops mid-byte") from None
        raise ValueError(f"{shown!r} has a body that is not base64") from None
    body = _KeyBody(blob, key_type)
    try:
        embedded = body.string().decode("ascii", errors="replace")
        if embedded != key_type:
            raise ValueError(f"says {key_type} but its body holds a {embedded!r} key")
        _check_body(body)
    except ValueError as error:
        raise ValueError(f"{shown!r} {error}") from None
    return " ".join(parts)
