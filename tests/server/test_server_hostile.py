"""Hostile packages that must cost no more than the limits allow: a central directory listing
more entries than the limit is refused from the end record, before zipfile parses it (zipfile
keeps every entry in memory: a million entries took 728 MB and 13 s to refuse)."""

import hashlib
import io
import os
import zipfile

import pytest
from difusor_server.config import Config
from difusor_server.log import Logger
from difusor_server.publisher import Publisher
from srvtools import csv_for, info, many_entries_zip, with_zip64_end, zip_bytes

NAME = "20240602_2115_PREP_VER.zip"


@pytest.fixture()
def parsed(monkeypatch) -> list[int]:
    """The entry count of every central directory zipfile parses."""
    seen: list[int] = []
    original = zipfile.ZipFile._RealGetContents  # type: ignore[attr-defined]  # private, spied on

    def spy(self):
        original(self)
        seen.append(len(self.filelist))

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", spy)
    return seen


def publish_in_process(tree) -> list[dict]:
    log = Logger(None, stream=io.StringIO())
    assert Publisher(Config(tree.config), log).run() == 0
    return log.lines


def test_more_entries_than_the_limit_are_refused_before_zipfile_parses_them(tree, parsed):
    tree.configure(limits={"max_files": 100})
    many_entries_zip(tree.incoming / NAME, 5000)
    [event] = publish_in_process(tree)
    assert event["event"] == "rejected" and event["reason"] == "too-many-files"
    assert "5000" in event["detail"] and "limit 100" in event["detail"]
    assert parsed == []


def test_a_nested_zip_with_too_many_entries_is_refused_before_it_is_parsed(tree, parsed):
    tree.configure(limits={"max_files": 100})
    nested = many_entries_zip(tree.staging / "nested.zip", 500).read_bytes()
    (tree.incoming / NAME).write_bytes(
        zip_bytes(
            [
                ("index.html", b"<html></html>"),
                (info("20240602_2115_PREP_GUB_VER.zip", method=zipfile.ZIP_STORED), nested),
            ]
        )
    )
    [event] = publish_in_process(tree)
    assert event["reason"] == "too-many-files"
    assert event["detail"] == (
        "nested '20240602_2115_PREP_GUB_VER.zip': 502 files and directories (limit 100)"
    )
    assert parsed == [2]  # the package itself, not its nested zip


@pytest.mark.parametrize(
    "holds,declared,reason",
    [(5000, 5, "too-many-files"), (8, 5, "corrupt"), (5, 8, "corrupt")],
)
def test_an_end_record_that_misstates_the_entry_count_is_refused(
    tree, parsed, holds, declared, reason
):
    """zipfile reads the central directory to its end whatever count the end record gives."""
    tree.configure(limits={"max_files": 100})
    many_entries_zip(tree.incoming / NAME, holds, declared=declared)
    [event] = publish_in_process(tree)
    assert event["reason"] == reason, event
    assert str(declared) in event["detail"]
    assert parsed == []


def test_an_oversized_central_directory_record_is_refused_before_it_is_parsed(tree, parsed):
    padding = b"\x99\x99" + (60_000).to_bytes(2, "little") + os.urandom(60_000)
    (tree.incoming / NAME).write_bytes(
        zip_bytes([("index.html", b"ok"), (info("data.json", extra=padding), b"{}")])
    )
    [event] = publish_in_process(tree)
    assert event["reason"] == "corrupt"
    assert "data.json" in event["detail"] and "60004 bytes" in event["detail"]
    assert parsed == []


@pytest.mark.parametrize("ending", ["zip64 end records", "an archive comment"])
def test_a_plain_package_with_a_rarer_ending_is_published(tree, ending):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("VER_GUB_2024.csv", csv_for("02/06/2024 21:15 (UTC-6)"))
        if ending == "an archive comment":
            zf.comment = b"PREP Veracruz, corte 21:15"
    data = buf.getvalue()
    (tree.incoming / NAME).write_bytes(
        with_zip64_end(data) if ending == "zip64 end records" else data
    )
    [event] = publish_in_process(tree)
    assert event["event"] == "published", event


# ----------------------------------------------------------------------------- sidecars


def sidecar_for(path) -> str:
    return f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"


def test_the_sidecar_of_a_package_refused_for_its_name_goes_with_it(tree):
    package = tree.staging / "resultados.zip"
    package.write_bytes(zip_bytes([("index.html", b"<html></html>")]))
    (tree.staging / "resultados.zip.sha256").write_text(sidecar_for(package))
    tree.put(package, sidecar=tree.staging / "resultados.zip.sha256")
    [event] = tree.publish().events
    assert event["reason"] == "bad-name" and event["sidecar"] == "resultados.zip.sha256"
    assert os.listdir(tree.incoming) == []
    quarantined = tree.quarantine / (event["quarantine"] + ".sha256")
    archived = tree.archive / (event["archived"] + ".sha256")
    assert quarantined.read_text() == archived.read_text() == sidecar_for(package)
    assert [r["event"] for r in tree.log_records()] == ["rejected"]


def test_the_sidecar_of_a_symlink_goes_with_it_to_quarantine(tree, tmp_path):
    target = tmp_path / "elsewhere.zip"
    target.write_bytes(zip_bytes([("index.html", b"<html></html>")]))
    os.symlink(target, tree.incoming / NAME)
    (tree.incoming / (NAME + ".sha256")).write_text(sidecar_for(target))
    [event] = tree.publish().events
    assert event["reason"] == "not-regular-file" and event["sidecar"] == NAME + ".sha256"
    assert os.listdir(tree.incoming) == []
    assert (tree.quarantine / (event["quarantine"] + ".sha256")).read_text() == sidecar_for(target)


def test_a_sidecar_arriving_after_its_badly_named_package_is_refused_too(tree):
    package = tree.staging / "resultados.zip"
    package.write_bytes(zip_bytes([("index.html", b"<html></html>")]))
    tree.put(package)
    assert [e["reason"] for e in tree.publish().events] == ["bad-name"]
    (tree.incoming / "resultados.zip.sha256").write_text(sidecar_for(package))
    [event] = tree.publish().events
    assert event["event"] == "rejected" and event["reason"] == "bad-name"
    assert event["package"] == "resultados.zip.sha256"
    assert os.listdir(tree.incoming) == []
    assert (tree.archive / event["archived"]).read_text() == sidecar_for(package)
