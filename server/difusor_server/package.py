"""Inspection of a received package: sidecar, zip metadata (safety and limits), CSV corte line."""

import os
import re
import stat
import struct
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

from .config import Limits
from .timeutil import iso

# Members at least this large are checked against limits.max_ratio (small files may legitimately
# compress very well: a 20 kB run of spaces is not a bomb).
RATIO_MIN_BYTES = 1 << 20
SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED,
    zipfile.ZIP_DEFLATED,
    zipfile.ZIP_BZIP2,
    zipfile.ZIP_LZMA,
}
PKWARE_UNIX_EXTRA = 0x000D


class Rejection(Exception):
    """The package is refused: ``reason`` is a stable code, ``detail`` says what and where."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ----------------------------------------------------------------------------- sidecar

SIDECAR_RE = re.compile(r"^\s*([0-9a-fA-F]{64})(?:\s+\*?(\S.*?))?\s*$")


def read_sidecar(path: str, package_name: str) -> str:
    """The sha256 a ``NAME.zip.sha256`` sidecar announces (``<hex>  <name>`` or ``<hex>``)."""
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as exc:
        raise Rejection("sidecar-invalid", f"cannot read {path}: {exc.strerror}") from None
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) != 1:
        raise Rejection("sidecar-invalid", "expected one line '<sha256 hex>  <name>'")
    match = SIDECAR_RE.match(lines[0])
    if not match:
        raise Rejection("sidecar-invalid", "expected one line '<sha256 hex>  <name>'")
    named = match.group(2)
    if named is not None and named.replace("\\", "/").rsplit("/", 1)[-1] != package_name:
        raise Rejection("sidecar-mismatch", f"sidecar names {named!r}, not {package_name!r}")
    return match.group(1).lower()


# ----------------------------------------------------------------------------- zip files


class Budget:
    """Limits shared by a package and every zip nested in it."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.entries = 0  # files and directories, every level
        self.bytes = 0

    def room(self) -> int:
        """How many more entries fit."""
        return self.limits.max_files - self.entries

    def reserve_entries(self, entries: int) -> None:
        """Count a zip's entries, from its end record, before its central directory is read."""
        self.entries += entries
        if self.entries > self.limits.max_files:
            raise Rejection(
                "too-many-files",
                f"{self.entries} files and directories (limit {self.limits.max_files})",
            )

    def add_bytes(self, size: int, where: str) -> None:
        self.bytes += size
        if self.bytes > self.limits.max_total_bytes:
            limit = self.limits.max_total_bytes
            raise Rejection("too-big", f"{self.bytes} bytes uncompressed (limit {limit}){where}")


class Member:
    __slots__ = ("info", "is_dir", "is_zip", "path")

    def __init__(self, info: zipfile.ZipInfo, path: str, is_dir: bool) -> None:
        self.info = info
        self.path = path  # normalised relative path, '/'-separated, no trailing slash
        self.is_dir = is_dir
        self.is_zip = (not is_dir) and path.lower().endswith(".zip")


def where(label: str, name: str) -> str:
    """How a detail names an entry: ``'data.csv'``, or ``'data.csv' in 'ELECTION.zip'``."""
    return f"{name!r} in {label!r}" if label else repr(name)


def _unix_extra_has_link(extra: bytes) -> bool:
    """True when a PKWARE Unix extra field (0x000d) carries a link target (hard or symbolic)."""
    offset = 0
    while offset + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, offset)
        if tag == PKWARE_UNIX_EXTRA and size > 12:
            return True
        offset += 4 + size
    return False


def check_entry(info: zipfile.ZipInfo, label: str = "") -> tuple[str, bool] | None:
    """Validate one zip entry; returns its normalised path (None for a root dir entry)."""
    name = info.filename
    entry = where(label, name)
    if not name:
        raise Rejection("unsafe-path", f"empty member name {label}".strip())
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise Rejection("unsafe-path", f"control character in {entry}")
    if "\\" in name:
        raise Rejection("unsafe-path", f"backslash in {entry}")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise Rejection("absolute-path", f"absolute path {entry}")
    is_dir = name.endswith("/")
    parts = []
    for part in name.split("/"):
        if part == "..":
            raise Rejection("path-traversal", f"'..' in {entry}")
        if part in ("", "."):
            continue
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise Rejection("unsafe-path", f"name component longer than 255 bytes in {entry}")
        parts.append(part)
    if len(name.encode("utf-8", "surrogateescape")) > 1024:
        raise Rejection("unsafe-path", f"path longer than 1024 bytes: {entry}")

    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise Rejection("symlink", f"symbolic link {entry}")
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        raise Rejection("device-file", f"device file {entry}")
    if kind in (stat.S_IFIFO, stat.S_IFSOCK):
        raise Rejection("special-file", f"fifo or socket {entry}")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise Rejection("special-file", f"unknown file type {oct(kind)} of {entry}")
    if kind == stat.S_IFDIR and not is_dir:
        raise Rejection("special-file", f"directory mode on a file entry {entry}")
    if _unix_extra_has_link(info.extra):
        raise Rejection("hardlink", f"{entry} carries a link target (PKWARE unix extra field)")
    if info.flag_bits & 0x1:
        raise Rejection("encrypted", f"encrypted entry {entry}")
    if info.compress_type not in SUPPORTED_COMPRESSION:
        raise Rejection("unsupported-compression", f"method {info.compress_type} for {entry}")
    if not parts:
        if is_dir:
            return None
        raise Rejection("unsafe-path", f"{entry} names no file")
    return "/".join(parts), is_dir


def inspect_zip(
    zip_file: zipfile.ZipFile, budget: Budget, depth: int, label: str = ""
) -> list[Member]:
    """Check every entry's metadata (before anything is extracted) and the shared limits.

    Returns the members in archive order. Raises Rejection."""
    limits = budget.limits
    members = []
    seen: dict[str, bool] = {}  # path -> is a directory
    dirs = set()
    total_size = total_compressed = 0
    for info in zip_file.infolist():
        checked = check_entry(info, label)
        if checked is None:
            continue
        path, is_dir = checked
        if path in seen and not (is_dir and seen[path]):
            raise Rejection("duplicate-member", f"{where(label, info.filename)} appears twice")
        seen[path] = is_dir
        if is_dir:
            dirs.add(path)
        else:
            total_size += info.file_size
            total_compressed += info.compress_size
            if info.file_size >= RATIO_MIN_BYTES and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise Rejection(
                    "zip-bomb",
                    f"{where(label, info.filename)} expands {info.file_size} bytes "
                    f"from {info.compress_size} (ratio limit {limits.max_ratio})",
                )
        members.append(Member(info, path, is_dir))
        parent = path.rsplit("/", 1)[0] if "/" in path else None
        while parent:
            dirs.add(parent)
            parent = parent.rsplit("/", 1)[0] if "/" in parent else None
    for path, is_dir in seen.items():
        if not is_dir and path in dirs:
            raise Rejection("path-conflict", f"{where(label, path)} is both a file and a directory")
    if total_size >= RATIO_MIN_BYTES and total_size > limits.max_ratio * max(total_compressed, 1):
        raise Rejection(
            "zip-bomb",
            f"{label or 'package'} expands {total_size} bytes from {total_compressed} "
            f"(ratio limit {limits.max_ratio})",
        )
    budget.add_bytes(total_size, f" in {label}" if label else "")
    if any(member.is_zip for member in members) and depth + 1 > limits.max_nesting:
        nested = next(member.path for member in members if member.is_zip)
        raise Rejection(
            "nesting-too-deep",
            f"{where(label, nested)} would be zip level {depth + 1} (limit {limits.max_nesting})",
        )
    return members


# ----------------------------------------------------------------------------- CSV corte line

_DATE_RE = re.compile(r"(?<!\d)(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})(?!\d)")
_TIME_RE = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)")
_OFFSET_RE = re.compile(r"(?:UTC|GMT)\s*([+\-\u2212])\s*(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_ISO_OFFSET_RE = re.compile(r"^\s*(?:hrs?\.?|h)?\s*\(?\s*([+\-])(\d{2}):?(\d{2})")


def parse_corte_text(text: str) -> datetime | None:
    """'02/06/2024 21:15 (UTC-6)' -> aware datetime; naive when it has no offset; None if no
    date and time."""
    text = text.replace('"', " ").replace("'", " ")
    date_match = _DATE_RE.search(text)
    if not date_match:
        return None
    time_match = _TIME_RE.search(text, date_match.end())
    if not time_match:
        return None
    first, second, third = date_match.groups()
    try:
        if len(first) == 4:
            year, month, day = int(first), int(second), int(third)
        elif len(third) == 4:
            day, month, year = int(first), int(second), int(third)
        elif len(third) == 2:
            day, month, year = int(first), int(second), 2000 + int(third)
        else:
            return None
        moment = datetime(year, month, day, int(time_match.group(1)), int(time_match.group(2)))
    except ValueError:
        return None
    rest = text[time_match.end() :]
    offset_match = _OFFSET_RE.search(rest) or _ISO_OFFSET_RE.search(rest)
    if offset_match:
        sign = -1 if offset_match.group(1) in ("-", "\u2212") else 1
        minutes = int(offset_match.group(2)) * 60 + int(offset_match.group(3) or 0)
        if minutes <= 14 * 60:
            moment = moment.replace(tzinfo=timezone(timedelta(minutes=sign * minutes)))
    return moment


def decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(data) - 4:  # a multi-byte character cut by the read limit
            return data[: exc.start].decode("utf-8")
        return data.decode("latin-1")


def csv_corte(head: bytes) -> tuple[datetime | None, str | None]:
    """The corte date-time announced on line 2 of a PREP CSV (``head``: its first bytes).

    Tolerates a first ``sep=`` line, a BOM, any line end, ISO-8859-1, and a blank line moved
    up by one. Returns (datetime or None, the line it came from)."""
    lines = decode_text(head).splitlines()
    if lines and lines[0].strip().lower().startswith("sep="):
        lines = lines[1:]
    lines = lines[:4]
    for index in (1, 2, 0):
        if index < len(lines):
            moment = parse_corte_text(lines[index])
            if moment is not None:
                return moment, lines[index].strip()
    return None, None


def same_corte(name_corte: datetime, csv_moment: datetime) -> bool:
    """True when the CSV corte names the same minute as the package name."""
    if csv_moment.tzinfo is None:
        return name_corte.replace(tzinfo=None, second=0, microsecond=0) == csv_moment.replace(
            second=0
        )
    return abs((name_corte - csv_moment).total_seconds()) < 60


# Enough CSVs to catch a package mislabelled as another corte, without reading thousands.
CSV_CHECK_LIMIT = 500


def cross_check_corte(corte: datetime, release_dir: str, files: list[dict[str, Any]]) -> str | None:
    """Line 2 of every extracted CSV that names a corte must name ``corte`` (the package name's).

    ``files`` are manifest entries (paths relative to ``release_dir``). Returns the first
    corte line seen, or None. Raises Rejection ``corte-mismatch``."""
    seen_line = None
    checked = 0
    for entry in files:
        if not entry["path"].lower().endswith(".csv") or checked >= CSV_CHECK_LIMIT:
            continue
        checked += 1
        with open(os.path.join(release_dir, entry["path"]), "rb") as f:
            head = f.read(4096)
        moment, line = csv_corte(head)
        if moment is None:
            continue
        if not same_corte(corte, moment):
            raise Rejection(
                "corte-mismatch",
                f"{entry['path'][len('site/') :]!r} says {line!r}, the name says {iso(corte)}",
            )
        seen_line = seen_line or line
    return seen_line
