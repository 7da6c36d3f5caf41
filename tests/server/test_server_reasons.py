"""Every rejection reason, from a package that earns it: the detail says the same thing as the
reason code (no ``truncated`` saying "File is not a zip file"), every code the publisher can
give is here and in server/README.md, and a malformed package is rejected, never an
incident that would hold back every later corte."""

import ast
import hashlib
import io
import os
import re
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from difusor_server.config import Config
from difusor_server.log import Logger
from difusor_server.publisher import Publisher
from srvtools import (
    Tree,
    corrupt_first_stored_member,
    csv_for,
    info,
    many_entries_zip,
    pkware_unix_extra,
    zip_bytes,
    zip_with_a_name_twice,
)

SERVER = Path(__file__).resolve().parents[2] / "server"
NAME = "20240602_2115_PREP_VER.zip"
LIVE = "20240602_2100_PREP_VER.zip"


def publish(tree: Tree) -> list[dict]:
    log = Logger(None, stream=io.StringIO())
    assert Publisher(Config(tree.config), log).run() == 0, log.lines
    return log.lines


def drop(tree: Tree, data: bytes, name: str = NAME) -> Path:
    (tree.incoming / name).write_bytes(data)
    return tree.incoming / name


def with_live_corte(tree: Tree) -> None:
    drop(tree, zip_bytes([("index.html", b"<html>21:00</html>")]), LIVE)
    assert [e["event"] for e in publish(tree)] == ["published"]


def central_record(data: bytes, index: int = 0) -> int:
    """Where the ``index``-th central directory record starts."""
    position = -1
    for _ in range(index + 1):
        position = data.index(b"PK\x01\x02", position + 1)
    return position


def patched(data: bytes, at: int, fmt: str, *values) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


def damaged_member(method: int) -> bytes:
    """A zip whose only member's compressed data is damaged half-way."""
    data = bytearray(
        zip_bytes([(info("data.json", method=method), os.urandom(4000).hex().encode())])
    )
    start = 30 + len("data.json") + 40
    for i in range(start, start + 30):
        data[i] ^= 0x5A
    return bytes(data)


def overrunning_member() -> bytes:
    """A stored member whose central record claims 5 MB: its data would run past the end."""
    data = zip_bytes([(info("data.json", method=zipfile.ZIP_STORED), b'{"votos": 1}' * 100)])
    return patched(data, central_record(data) + 20, "<2L", 5_000_000, 5_000_000)


def nested(inner: bytes, name: str = "20240602_2115_PREP_GUB_VER.zip") -> bytes:
    return zip_bytes([("index.html", b"ok"), (info(name, method=zipfile.ZIP_STORED), inner)])


def sidecar(tree: Tree, text: str) -> None:
    (tree.incoming / (NAME + ".sha256")).write_text(text)


def case_bad_name(tree):
    drop(tree, zip_bytes([("index.html", b"ok")]), "resultados.zip")


def case_not_regular_file(tree):
    os.mkfifo(tree.incoming / NAME)


def case_name_reused(tree):
    with_live_corte(tree)
    drop(tree, zip_bytes([("index.html", b"<html>other</html>")]), LIVE)


def case_older_corte(tree):
    with_live_corte(tree)
    drop(tree, zip_bytes([("index.html", b"ok")]), "20240602_2045_PREP_VER.zip")


def case_too_big_file(tree):
    tree.configure(limits={"max_total_bytes": 1000})
    drop(tree, zip_bytes([("a.bin", os.urandom(2000))]))


def case_too_big_uncompressed(tree):
    tree.configure(limits={"max_total_bytes": 50_000})
    drop(tree, zip_bytes([("a.json", b"{}" * 20_000), ("b.json", b"[]" * 20_000)]))


def case_sidecar_missing(tree):
    tree.configure(sidecar="require")
    drop(tree, zip_bytes([("index.html", b"ok")]))


def case_sidecar_mismatch(tree):
    drop(tree, zip_bytes([("index.html", b"ok")]))
    sidecar(tree, f"{'0' * 64}  {NAME}\n")


def case_sidecar_naming_another_file(tree):
    data = drop(tree, zip_bytes([("index.html", b"ok")])).read_bytes()
    sidecar(tree, f"{hashlib.sha256(data).hexdigest()}  20240602_2130_PREP_VER.zip\n")


def case_sidecar_invalid(tree):
    drop(tree, zip_bytes([("index.html", b"ok")]))
    sidecar(tree, "this is not a checksum\n")


def case_empty_file(tree):
    drop(tree, b"")


def case_not_a_zip(tree):
    drop(tree, b"<html>not a zip</html>\n" * 20)


def case_truncated(tree):
    """Cut where zipfile finds no end record at all: it says "File is not a zip file"."""
    data = zip_bytes([("a.bin", os.urandom(100_000))])
    drop(tree, data[:60_000])


def case_corrupt_data_before_the_zip(tree):
    drop(tree, b"MZ" + b"\0" * 510 + zip_bytes([("index.html", b"ok")]))


def case_corrupt_central_directory(tree):
    data = zip_bytes([("index.html", b"ok")])
    drop(tree, patched(data, central_record(data), "<4s", b"PK\x09\x09"))


def case_corrupt_zip_version(tree):
    data = zip_bytes([("index.html", b"ok")])
    drop(tree, patched(data, central_record(data) + 6, "<H", 99))


def case_corrupt_deflate_data(tree):
    drop(tree, damaged_member(zipfile.ZIP_DEFLATED))


def case_corrupt_bzip2_data(tree):
    drop(tree, damaged_member(zipfile.ZIP_BZIP2))


def case_corrupt_lzma_data(tree):
    drop(tree, damaged_member(zipfile.ZIP_LZMA))


def case_corrupt_overrunning_member(tree):
    drop(tree, overrunning_member())


def case_corrupt_nested(tree):
    inner = zip_bytes([("VER_GUB_2024.csv", b"x")])
    drop(tree, nested(patched(inner, central_record(inner), "<4s", b"PK\x09\x09")))


def case_truncated_nested(tree):
    drop(tree, nested(b"PK\x03\x04" + b"\0" * 200))


def case_bad_crc(tree):
    data = zip_bytes([(info("index.html", method=zipfile.ZIP_STORED), b"<html>" + b"x" * 200)])
    drop(tree, corrupt_first_stored_member(data))


def case_too_many_files(tree):
    tree.configure(limits={"max_files": 10})
    many_entries_zip(tree.incoming / NAME, 11)


def case_unsafe_path(tree):
    drop(tree, zip_bytes([("index.html", b"ok"), (info("data\\x.json"), b"{}")]))


def case_absolute_path(tree):
    drop(tree, zip_bytes([("index.html", b"ok"), (info("/etc/cron.d/x"), b"")]))


def case_path_traversal(tree):
    drop(tree, zip_bytes([("index.html", b"ok"), (info("data/../../x"), b"")]))


def case_symlink(tree):
    drop(tree, zip_bytes([("index.html", b"ok"), (info("p", mode=stat.S_IFLNK | 0o777), b"/x")]))


def case_device_file(tree):
    drop(tree, zip_bytes([("index.html", b"ok"), (info("d", mode=stat.S_IFCHR | 0o644), b"")]))


def case_special_file(tree):
    drop(tree, zip_bytes([("index.html", b"ok"), (info("f", mode=stat.S_IFIFO | 0o644), b"")]))


def case_hardlink(tree):
    entry = info("shadow", extra=pkware_unix_extra(b"/etc/shadow"))
    drop(tree, zip_bytes([("index.html", b"ok"), (entry, b"")]))


def case_encrypted(tree):
    data = zip_bytes([("index.html", b"ok")])
    record = central_record(data)
    (flags,) = struct.unpack_from("<H", data, record + 8)
    drop(tree, patched(data, record + 8, "<H", flags | 0x1))


def case_unsupported_compression(tree):
    data = zip_bytes([("index.html", b"ok")])
    drop(tree, patched(data, central_record(data) + 10, "<H", 99))


def case_duplicate_member(tree):
    drop(tree, zip_with_a_name_twice())


def case_path_conflict(tree):
    drop(tree, zip_bytes([("data", b"file"), ("data/x.json", b"{}")]))


def case_empty_zip(tree):
    drop(tree, zip_bytes([(info("a/", mode=stat.S_IFDIR | 0o755), b"")]))


def case_zip_bomb(tree):
    drop(tree, zip_bytes([("index.html", b"ok"), ("bomb.json", b"\0" * (20 << 20))]))


def case_nesting_too_deep(tree):
    tree.configure(limits={"max_nesting": 0})
    drop(tree, nested(zip_bytes([("VER_GUB_2024.csv", b"x")])))


def case_corte_mismatch(tree):
    drop(tree, zip_bytes([("VER_GUB_2024.csv", csv_for("02/06/2024 21:30 (UTC-6)"))]))


# reason, how a package earns it, what its detail must say (a regular expression, whole)
CASES = [
    ("bad-name", case_bad_name, r"not a package name YYYYMMDD_HHMM_\.\.\._STATE\.zip .*"),
    ("not-regular-file", case_not_regular_file, r"prw-.* entry in incoming"),
    ("name-reused", case_name_reused, r"a different package was already published under .*"),
    ("older-corte", case_older_corte, r"corte 2024-06-02T20:45:00-06:00 is older than .*"),
    ("too-big", case_too_big_file, r"the package file is \d+ bytes \(limit 1000\)"),
    ("too-big", case_too_big_uncompressed, r"80000 bytes uncompressed \(limit 50000\)"),
    ("sidecar-missing", case_sidecar_missing, r"no .*\.sha256 within 0 s and sidecar is 'require'"),
    ("sidecar-mismatch", case_sidecar_mismatch, r"sidecar says 0{64}, the file is [0-9a-f]{64}"),
    ("sidecar-mismatch", case_sidecar_naming_another_file, r"sidecar names '20240602_2130.*"),
    ("sidecar-invalid", case_sidecar_invalid, r"expected one line '<sha256 hex>  <name>'"),
    ("empty-file", case_empty_file, r"the file is empty \(0 bytes\)"),
    ("not-a-zip", case_not_a_zip, r"no zip signature at the start \(it begins b'<htm'\).*"),
    ("truncated", case_truncated, r"no end-of-central-directory record at the end of the file"),
    ("truncated", case_truncated_nested, r"nested '.*': no end-of-central-directory record .*"),
    ("corrupt", case_corrupt_data_before_the_zip, r"the central directory starts at byte .*"),
    ("corrupt", case_corrupt_central_directory, r"central directory record 1 is damaged"),
    ("corrupt", case_corrupt_zip_version, r"the central directory cannot be read: .*9\.9"),
    ("corrupt", case_corrupt_deflate_data, r"'data\.json': .*invalid.*"),
    ("corrupt", case_corrupt_bzip2_data, r"'data\.json': .*Invalid data stream"),
    ("corrupt", case_corrupt_lzma_data, r"'data\.json': .*Corrupt input data"),
    ("corrupt", case_corrupt_overrunning_member, r"'data\.json': its data runs past the end .*"),
    ("corrupt", case_corrupt_nested, r"nested '.*': central directory record 1 is damaged"),
    ("bad-crc", case_bad_crc, r"'index\.html': Bad CRC-32 .*"),
    ("too-many-files", case_too_many_files, r"11 files and directories \(limit 10\)"),
    ("unsafe-path", case_unsafe_path, r"backslash in 'data\\\\x\.json'"),
    ("absolute-path", case_absolute_path, r"absolute path '/etc/cron\.d/x'"),
    ("path-traversal", case_path_traversal, r"'\.\.' in 'data/\.\./\.\./x'"),
    ("symlink", case_symlink, r"symbolic link 'p'"),
    ("device-file", case_device_file, r"device file 'd'"),
    ("special-file", case_special_file, r"fifo or socket 'f'"),
    ("hardlink", case_hardlink, r"'shadow' carries a link target .*"),
    ("encrypted", case_encrypted, r"encrypted entry 'index\.html'"),
    ("unsupported-compression", case_unsupported_compression, r"method 99 for 'index\.html'"),
    ("duplicate-member", case_duplicate_member, r"'index\.html' appears twice"),
    ("path-conflict", case_path_conflict, r"'data' is both a file and a directory"),
    ("empty-zip", case_empty_zip, r"the zip holds no files"),
    ("zip-bomb", case_zip_bomb, r"'bomb\.json' expands 20971520 bytes from \d+ .*"),
    ("nesting-too-deep", case_nesting_too_deep, r"'20240602_2115_PREP_GUB_VER\.zip' would .*"),
    ("corte-mismatch", case_corte_mismatch, r"'VER_GUB_2024\.csv' says .*21:30.*"),
]


@pytest.mark.parametrize(
    "reason,make,detail", CASES, ids=[make.__name__[len("case_") :] for _, make, _ in CASES]
)
def test_each_reason_comes_with_a_detail_that_says_the_same(tree, reason, make, detail):
    make(tree)
    [event] = [e for e in publish(tree) if e["event"] != "published" or e["package"] != LIVE]
    assert (event["event"], event.get("reason")) == ("rejected", reason), event
    assert re.fullmatch(detail, event["detail"]), event["detail"]


def reason_codes_in_the_source() -> set[str]:
    codes = set()
    for path in (SERVER / "difusor_server").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Rejection"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                codes.add(str(node.args[0].value))
    return codes


def test_every_reason_code_is_here_and_in_the_readme():
    codes = reason_codes_in_the_source()
    assert codes == {reason for reason, _, _ in CASES}
    readme = (SERVER / "README.md").read_text()
    assert sorted(code for code in codes if f"`{code}`" not in readme) == []
