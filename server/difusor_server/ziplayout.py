"""A zip's layout, checked before ``zipfile`` is given the file.

``zipfile`` reads the whole central directory into memory and makes an object of each entry
before anything can count them: a package listing a million entries costs hundreds of
megabytes and seconds before the entry limit refuses it. So the end-of-central-directory
record (with the zip64 locator and record) is read here first, the way ``zipfile`` finds it:
it must end the file, its entry count is held against the limits, and the central directory
is walked record by record (46 bytes and a name each) to make sure it holds exactly that many
entries, none oversized. Only then does ``zipfile`` parse it, and a package costs at most
what ``limits.max_files`` entries cost.
"""

import struct
import zipfile
from dataclasses import dataclass
from typing import IO

from .package import Budget, Rejection

LOCAL_SIGNATURE = b"PK\x03\x04"
CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory record, before name, extra, comment
CENTRAL_SIGNATURE = b"PK\x01\x02"
END = struct.Struct("<4s4H2LH")  # end of central directory record, before the comment
END_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_END = struct.Struct("<4sQ2H2L4Q")
ZIP64_END_SIGNATURE = b"PK\x06\x06"
MAX_COMMENT = 0xFFFF
# What one central directory record may carry besides its name (extra fields and comment):
# real ones carry tens of bytes; 64 KiB each would let a 1 GiB package hold gigabytes of
# entry metadata in memory.
MAX_EXTRA_AND_COMMENT = 4096
# Names longer than this are refused anyway (package.check_entry, same reason code).
MAX_NAME_BYTES = 1024
# What a package still being written in place looks like: worth waiting settle_seconds for.
UNREADABLE = frozenset({"empty-file", "not-a-zip", "truncated", "corrupt"})


@dataclass(frozen=True)
class EndRecord:
    entries: int
    directory_start: int  # where the central directory starts in the file
    directory_size: int


def _end_position(tail: bytes) -> int | None:
    """Where in ``tail`` the end record that ``zipfile`` uses starts, if it ends the file:
    the last 22 bytes when they are one without a comment, else the last signature."""
    last = len(tail) - END.size
    if last >= 0 and tail.startswith(END_SIGNATURE, last) and tail.endswith(b"\0\0"):
        return last
    position = tail.rfind(END_SIGNATURE)
    if position < 0 or position + END.size > len(tail):
        return None
    (comment_length,) = struct.unpack_from("<H", tail, position + END.size - 2)
    if position + END.size + comment_length != len(tail):
        return None
    return position


def read_end_record(file: IO[bytes], size: int) -> EndRecord:
    """The end record (zip64 when there is one) at the very end of ``file``. Raises
    Rejection: ``empty-file``, ``not-a-zip``, ``truncated`` (starts as a zip, does not end as
    one), ``corrupt`` (the end record and the central directory disagree)."""
    if size == 0:
        raise Rejection("empty-file", "the file is empty (0 bytes)")
    tail_length = min(size, END.size + MAX_COMMENT)
    file.seek(size - tail_length)
    tail = file.read(tail_length)
    file.seek(0)
    head = file.read(4)
    position = _end_position(tail)
    if position is None:
        if head in (LOCAL_SIGNATURE, END_SIGNATURE):
            raise Rejection(
                "truncated", "no end-of-central-directory record at the end of the file"
            )
        raise Rejection(
            "not-a-zip",
            f"no zip signature at the start (it begins {head!r}) "
            "and no end-of-central-directory record at the end",
        )
    end_at = size - tail_length + position
    fields = END.unpack_from(tail, position)[1:7]
    directory_end = end_at
    zip64 = _zip64_end(file, end_at)
    if zip64 is not None:
        fields = zip64[4:10]
        directory_end = end_at - ZIP64_LOCATOR.size - ZIP64_END.size
    disk, directory_disk, disk_entries, entries, directory_size, directory_start = fields
    if disk or directory_disk or disk_entries != entries:
        raise Rejection("corrupt", "the end record describes a zip split across several disks")
    actual_start = directory_end - directory_size
    if actual_start != directory_start:
        raise Rejection(
            "corrupt",
            f"the central directory starts at byte {actual_start}, its end record says "
            f"{directory_start}: the file does not start with this zip's first entry",
        )
    return EndRecord(entries, actual_start, directory_size)


def _zip64_end(file: IO[bytes], end_at: int) -> tuple[int, ...] | None:
    """The zip64 end record, where ``zipfile`` looks for it: right before its locator, right
    before the end record."""
    if end_at < ZIP64_LOCATOR.size:
        return None
    file.seek(end_at - ZIP64_LOCATOR.size)
    signature, disk, _, disks = ZIP64_LOCATOR.unpack(file.read(ZIP64_LOCATOR.size))
    if signature != ZIP64_LOCATOR_SIGNATURE:
        return None
    if disk != 0 or disks > 1:
        raise Rejection("corrupt", "the zip64 locator describes a zip split across several disks")
    record_at = end_at - ZIP64_LOCATOR.size - ZIP64_END.size
    if record_at < 0:
        return None
    file.seek(record_at)
    record = ZIP64_END.unpack(file.read(ZIP64_END.size))
    return record if record[0] == ZIP64_END_SIGNATURE else None


def count_central_records(file: IO[bytes], end: EndRecord, most: int) -> int:
    """How many records the central directory holds, counting no further than ``most + 1``.
    Raises Rejection for a damaged or oversized record."""
    file.seek(end.directory_start)
    remaining = end.directory_size
    records = 0
    while remaining > 0 and records <= most:
        header = file.read(CENTRAL.size)
        if len(header) < CENTRAL.size or not header.startswith(CENTRAL_SIGNATURE):
            raise Rejection("corrupt", f"central directory record {records + 1} is damaged")
        name_length, extra_length, comment_length = struct.unpack_from("<3H", header, 28)
        name = file.read(name_length).decode("utf-8", "replace")
        if name_length > MAX_NAME_BYTES:
            raise Rejection(
                "unsafe-path", f"path longer than {MAX_NAME_BYTES} bytes: {name[:100]!r}..."
            )
        if extra_length + comment_length > MAX_EXTRA_AND_COMMENT:
            raise Rejection(
                "corrupt",
                f"{name!r} carries {extra_length + comment_length} bytes of extra fields and "
                f"comment in the central directory (at most {MAX_EXTRA_AND_COMMENT})",
            )
        file.seek(extra_length + comment_length, 1)
        remaining -= CENTRAL.size + name_length + extra_length + comment_length
        records += 1
    if remaining < 0:
        raise Rejection("corrupt", "the last central directory record overruns its end record")
    return records


def open_zip(file: IO[bytes], size: int, budget: Budget) -> zipfile.ZipFile:
    """``file`` as a zip, once its end record, entry count and central directory passed the
    checks above; ``budget`` takes its entries. Raises Rejection."""
    end = read_end_record(file, size)
    room = budget.room()
    budget.reserve_entries(end.entries)
    records = count_central_records(file, end, most=room)
    if records > room:
        raise Rejection(
            "too-many-files",
            f"the central directory holds more than {room} entries, its end record declares "
            f"{end.entries} (limit {budget.limits.max_files} files and directories)",
        )
    if records != end.entries:
        raise Rejection(
            "corrupt",
            f"the central directory holds {records} entries, its end record declares {end.entries}",
        )
    file.seek(0)
    try:
        zip_file = zipfile.ZipFile(file)
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,  # a "version needed to extract" above what zipfile knows
        struct.error,
    ) as exc:
        raise Rejection(
            "corrupt", f"the central directory cannot be read: {type(exc).__name__}: {exc}"
        ) from None
    infos = zip_file.infolist()
    if infos and min(info.header_offset for info in infos) != 0:
        zip_file.close()
        raise Rejection("corrupt", "data before the first entry (not a plain zip)")
    return zip_file
