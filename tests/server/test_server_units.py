"""Pure functions of the publisher, and its promise to run on Python 3.10 with the standard
library."""

import ast
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from difusor_server.package import csv_corte, parse_corte_text, same_corte
from difusor_server.timeutil import corte_from_name, get_zone

SERVER = Path(__file__).resolve().parents[2] / "server" / "difusor_server"
ZONE = get_zone("America/Mexico_City")


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "02/06/2024 21:15 (UTC-6)",
            datetime(2024, 6, 2, 21, 15, tzinfo=timezone(timedelta(hours=-6))),
        ),
        (
            "2019/06/03 20:00 (UTC-5)",
            datetime(2019, 6, 3, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
        ),
        (
            "3/6/2019 01:29 (UTC-5)",
            datetime(2019, 6, 3, 1, 29, tzinfo=timezone(timedelta(hours=-5))),
        ),
        (
            "02/06/2024 21:15:00 UTC -06:00",
            datetime(2024, 6, 2, 21, 15, tzinfo=timezone(timedelta(hours=-6))),
        ),
        ('"02/06/2024 21:15 hrs."|||', datetime(2024, 6, 2, 21, 15)),
        ("GUBERNATURA", None),
        ("11030,10980,2,10810,98.0054", None),
    ],
)
def test_corte_line_parser(text, expected):
    assert parse_corte_text(text) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"GUBERNATURA\n02/06/2024 21:15 (UTC-6)\nA,B\n1,2\n\nCLAVE_CASILLA\n",
        b"\xef\xbb\xbfGUBERNATURA\r\n02/06/2024 21:15 (UTC-6)\r\n",
        b"sep=|\rGUBERNATURA\r2024/06/02 21:15 (UTC-6)\r",
        "DIPUTACIÓN LOCAL\n2/6/2024 21:15 (UTC-6)\n".encode("latin-1"),
        b"GUBERNATURA\n\n02/06/2024 21:15 (UTC-6)\n",  # blank line moved up
    ],
)
def test_csv_corte_in_every_dialect(head):
    dt, line = csv_corte(head)
    assert dt is not None and line is not None and "21:15" in line
    assert same_corte(datetime(2024, 6, 2, 21, 15, tzinfo=ZONE), dt)
    assert not same_corte(datetime(2024, 6, 2, 21, 30, tzinfo=ZONE), dt)


def test_names():
    assert corte_from_name("20240602_2115_PREP_VER.zip", ZONE) == datetime(
        2024, 6, 2, 21, 15, tzinfo=ZONE
    )
    corte = corte_from_name("20240602_2115_PREP_GUB_VER.zip", ZONE)
    assert corte is not None and corte.minute == 15
    for bad in (
        "20241302_2115_PREP_VER.zip",
        "20240602_2515_PREP_VER.zip",
        "PREP_VER.zip",
        "20240602_2115_PREP_VER.ZIP.txt",
        "20240602_2115_.zip",
        "../20240602_2115_PREP_VER.zip",
    ):
        assert corte_from_name(bad, ZONE) is None, bad


def test_runs_on_python_3_10_with_the_standard_library_only():
    stdlib = set(sys.stdlib_module_names)
    forbidden = (
        "tomllib",
        "datetime.UTC",
        "file_digest",
        "ExceptionGroup",
        "except*",
        "TaskGroup",
        "metadata_encoding",
        "typing.Self",
        "zipfile.Path",
    )
    modules = sorted(SERVER.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        source = path.read_text()
        tree = ast.parse(source, filename=str(path), feature_version=(3, 10))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.Match), f"{path.name}: match statement"
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in stdlib, f"{path.name} imports {name}"
        for word in forbidden:
            assert word not in source, f"{path.name} uses {word} (not in Python 3.10)"
        assert "fromisoformat(" not in source or path.name == "timeutil.py", (
            f"{path.name}: use timeutil.parse_iso (3.10's fromisoformat has no 'Z')"
        )


def test_every_function_has_type_hints():
    """mypy checks the hints; this makes sure there are hints to check."""
    missing = []
    for path in sorted(SERVER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            arguments += [a for a in (node.args.vararg, node.args.kwarg) if a]
            unannotated = [
                a.arg for a in arguments if a.annotation is None and a.arg not in ("self", "cls")
            ]
            if unannotated or node.returns is None:
                missing.append(f"{path.name}:{node.lineno} {node.name}")
    assert missing == []
