"""
OpenSSH public key lines (``TYPE BASE64 [comment]``), as operators paste them into settings.

A line is accepted when its type is one sshd accepts here, its body is base64 that names the
same type, and an RSA key has at least ``MIN_RSA_BITS`` bits.
"""

from __future__ import annotations

import base64
import binascii
import struct

KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
MIN_RSA_BITS = 3072


def _read_ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    """One length-prefixed field of the key body (RFC 4251 ``string``) and the next offset."""
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    start = offset + 4
    if start + length > len(blob):
        raise ValueError("truncated")
    return blob[start : start + length], start + length


def ssh_public_key(value: str) -> str:
    """Check an OpenSSH public key line: known type, base64 body that names the same type."""
    parts = value.strip().split()
    shown = value if len(value) <= 60 else value[:57] + "..."
    if len(parts) < 2:
        raise ValueError(f"{shown!r} is not an OpenSSH public key line ('TYPE BASE64 [comment]')")
    key_type, body = parts[0], parts[1]
    if key_type not in KEY_TYPES:
        raise ValueError(f"{shown!r} has unsupported key type {key_type!r}")
    try:
        blob = base64.b64decode(body, validate=True)
        embedded, offset = _read_ssh_string(blob, 0)
        if embedded.decode() != key_type:
            raise ValueError("type mismatch")
        if key_type == "ssh-rsa":
            _exponent, offset = _read_ssh_string(blob, offset)
            modulus, _ = _read_ssh_string(blob, offset)
            bits = int.from_bytes(modulus, "big").bit_length()
            if bits < MIN_RSA_BITS:
                raise ValueError(
                    f"{shown!r} is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
                )
    except ValueError as error:
        if "RSA key" in str(error):
            raise
        raise ValueError(f"{shown!r} has a malformed key body") from None
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise ValueError(f"{shown!r} has a malformed key body") from None
    return " ".join(parts)
