"""The synthetic PREP package generator: naming, nesting, dialects, and a summary that
reconciles exactly with the rows."""

import csv
import hashlib
import io
import itertools
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from difusor.rehearsal.prep import (
    SUMMARY_FIELDS,
    Series,
    data_columns,
    generate_series,
    make_package,
    parse_dialect,
)
from difusor.rehearsal.prep.reader import read_prep_csv, unguard


def outer(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def inner_files(path: Path) -> dict:
    """{election zip name: {member: bytes}} of a nested package."""
    out = {}
    with outer(path) as zf:
        for name in zf.namelist():
            with zipfile.ZipFile(io.BytesIO(zf.read(name))) as inner:
                out[name] = {m: inner.read(m) for m in inner.namelist()}
    return out


def trunc4(num, den):
    if den == 0:
        return "0.0000"
    # independent of the generator: exact decimal arithmetic, then cut
    from decimal import ROUND_DOWN, Decimal

    return str((Decimal(100) * num / den).quantize(Decimal("0.0001"), rounding=ROUND_DOWN))


def reconcile(rows: list[dict]) -> dict:
    """The 13 summary values computed from the rows alone."""
    esperadas = [r for r in rows if r["CONTABILIZADA"] != "2"]
    captured = [r for r in esperadas if r["CONTABILIZADA"] in ("0", "1")]
    counted = [r for r in esperadas if r["CONTABILIZADA"] == "1"]
    lista = sum(int(r["LISTA_NOMINAL"]) for r in counted)
    votos_s = sum(int(r["TOTAL_VOTOS_CALCULADO"]) for r in counted if r["TIPO_CASILLA"] != "S")
    return {
        "ACTAS_ESPERADAS": len(esperadas),
        "ACTAS_REGISTRADAS": sum(1 for r in rows if r["FECHA_HORA_ACOPIO"]),
        "ACTAS_FUERA_CATALOGO": sum(1 for r in rows if r["CONTABILIZADA"] == "2"),
        "ACTAS_CAPTURADAS": len(captured),
        "PORCENTAJE_ACTAS_CAPTURADAS": trunc4(len(captured), len(esperadas)),
        "ACTAS_CONTABILIZADAS": len(counted),
        "PORCENTAJE_ACTAS_CONTABILIZADAS": trunc4(len(counted), len(esperadas)),
        "PORCENTAJE_ACTAS_INCONSISTENCIAS": trunc4(
            sum(1 for r in captured if r["OBSERVACIONES"]), len(esperadas)
        ),
        "ACTAS_NO_CONTABILIZADAS": len(captured) - len(counted),
        "LISTA_NOMINAL_ACTAS_CONTABILIZADAS": lista,
        "TOTAL_VOTOS_C_CS": sum(int(r["TOTAL_VOTOS_CALCULADO"]) for r in counted),
        "TOTAL_VOTOS_S_CS": votos_s,
        "PORCENTAJE_PARTICIPACION_CIUDADANA": trunc4(votos_s, lista),
    }


def test_series_naming_nesting_and_sidecars(tmp_path):
    paths = generate_series(tmp_path, cortes=3, start="2024-06-02T20:00", actas=300, sidecar=True)
    assert [p.name for p in paths] == [
        "20240602_2000_PREP_VER.zip",
        "20240602_2015_PREP_VER.zip",
        "20240602_2030_PREP_VER.zip",
    ]
    for p in paths:
        side = p.with_name(p.name + ".sha256").read_text()
        assert side == f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
    files = inner_files(paths[1])
    assert list(files) == ["20240602_2015_PREP_GUB_VER.zip", "20240602_2015_PREP_DIP_LOC_VER.zip"]
    assert sorted(files["20240602_2015_PREP_GUB_VER.zip"]) == [
        "LEEME.txt",
        "VER_GUB_2024.csv",
        "VER_GUB_CANDIDATURAS_2024.csv",
    ]
    assert sorted(files["20240602_2015_PREP_DIP_LOC_VER.zip"]) == [
        "LEEME.txt",
        "VER_DIP_LOC_2024.csv",
        "VER_DIP_LOC_CANDIDATURAS_2024.csv",
    ]
    assert not list(tmp_path.glob(".*"))  # no temp files left


def test_csv_layout_lines_1_to_6(tmp_path):
    p = make_package(
        tmp_path, "2024-06-02T21:15", 0.5, actas=200, elections=["GUB"], fuera_catalogo=0
    )
    data = inner_files(p)["20240602_2115_PREP_GUB_VER.zip"]["VER_GUB_2024.csv"]
    lines = data.decode().split("\n")
    assert lines[0] == "GUBERNATURA"
    assert lines[1] == "02/06/2024 21:15 (UTC-6)"
    assert lines[2].split(",") == SUMMARY_FIELDS and len(SUMMARY_FIELDS) == 13
    assert len(lines[3].split(",")) == 13
    assert lines[4] == ""
    assert lines[5].split(",") == data_columns("GUB") and lines[5].startswith("CLAVE_CASILLA,")
    assert 45 <= len(data_columns("GUB")) <= 75
    assert len(lines) == 6 + 200 + 1 and lines[-1] == ""  # one row per expected acta, final newline


@pytest.mark.parametrize("fraction", [0.0, 0.37, 0.98, 1.0])
def test_summary_reconciles_exactly_with_rows(tmp_path, fraction):
    p = make_package(tmp_path, "2024-06-03T01:00", fraction, actas=3000, fuera_catalogo=3)
    for files in inner_files(p).values():
        csv_name = next(
            n
            for n in files
            if re.fullmatch(r"VER_[A-Z_]+_2024\.csv", n) and "CANDIDATURAS" not in n
        )
        parsed = read_prep_csv(files[csv_name])
        rows = parsed.rows
        expected = reconcile(rows)
        summary = {k: (v if isinstance(v, int) else str(v)) for k, v in parsed.summary.items()}
        assert summary == expected
        assert summary["ACTAS_ESPERADAS"] == 3000
        assert abs(summary["ACTAS_CAPTURADAS"] - round(3000 * fraction)) <= 40
        for r in rows:
            assert r["CONTABILIZADA"] in ("0", "1", "2", "-")
            clave = unguard(r["CLAVE_CASILLA"])
            assert r["CLAVE_CASILLA"].startswith("'")
            assert re.fullmatch(r"30\d{4}[BCES]\d{2}\d{2}", clave)
            assert clave[2:6] == f"{int(r['SECCION']):04d}" and clave[6] == r["TIPO_CASILLA"]
            assert unguard(r["CLAVE_ACTA"]) == clave + f"{int(r['TIPO_ACTA']):02d}"
            if r["CONTABILIZADA"] in ("0", "1", "2"):
                assert re.fullmatch(r"[0-9a-f]{64}", r["CODIGO_INTEGRIDAD"])
            else:
                assert r["CODIGO_INTEGRIDAD"] == "" and r["PAN"] == ""
        if fraction >= 0.98:
            assert summary["ACTAS_FUERA_CATALOGO"] == 3
            assert {r["CONTABILIZADA"] for r in rows} >= {"0", "1", "2"}
            assert any(
                r[p] in ("ILEGIBLE", "SIN DATO")
                for r in rows
                for p in ("PAN", "PRI", "MORENA", "MC")
            )


def test_capture_rises_through_a_series_to_about_98_percent(tmp_path):
    s = Series(cortes=9, actas=2000, elections=["GUB"])
    captured = [s.table("GUB", s.corte_time(i))[0]["ACTAS_CAPTURADAS"] for i in range(9)]
    assert captured[0] == 0
    assert captured == sorted(captured) and len(set(captured)) == 9
    assert 0.975 <= captured[-1] / 2000 <= 0.985
    # concave: most of the capture happens in the first half
    assert captured[4] > 0.6 * captured[-1]


def test_rows_present_from_the_first_corte_and_stable_once_captured(tmp_path):
    s = Series(cortes=5, actas=500, elections=["GUB"], fuera_catalogo=0)
    header = data_columns("GUB")
    tables = [
        [
            dict(zip(header, row.split(","), strict=True))
            for row in s.table("GUB", s.corte_time(i))[1]
        ]
        for i in range(5)
    ]
    assert [len(t) for t in tables] == [500] * 5
    for before, after in itertools.pairwise(tables):
        assert [r["CLAVE_ACTA"] for r in before] == [r["CLAVE_ACTA"] for r in after]
        for a, b in zip(before, after, strict=True):
            if a["CONTABILIZADA"] != "-":
                assert a == b  # once captured, a row does not change
    assert sum(r["CONTABILIZADA"] != "-" for r in tables[-1]) > sum(
        r["CONTABILIZADA"] != "-" for r in tables[1]
    )


@pytest.mark.parametrize(
    "dialect",
    [
        "ine",
        "pipe",
        "ople",
        "legacy",
        "pipe-latin1-cr",
        "pipe+utf8-bom+crlf",
        "comma,latin1,cr,thousands,pct-quote,guard-excel",
    ],
)
def test_dialects_parse_back(tmp_path, dialect):
    d = parse_dialect(dialect)
    p = make_package(
        tmp_path, "2024-06-02T22:30", 0.9, actas=1500, elections=["GUB"], dialect=dialect
    )
    files = inner_files(p)["20240602_2230_PREP_GUB_VER.zip"]
    data = files["VER_GUB_2024.csv"]
    assert data.startswith(b"\xef\xbb\xbf") == (d.encoding == "utf-8-sig")
    text = data.decode(d.encoding)
    if d.encoding == "latin-1":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really ISO-8859-1 (district names have accents)
    if d.newline == "\r\n":
        assert "\r\n" in text and text.count("\n") == text.count("\r\n")
    elif d.newline == "\r":
        assert "\n" not in text and "\r" in text
    else:
        assert "\r" not in text
    # plain csv module, with the dialect's delimiter, reads a row of the right width
    lines = text.splitlines()
    if d.sep_line:
        assert lines[0] == f"sep={d.delimiter}"
        lines = lines[1:]
    header = lines[5].split(d.delimiter)
    body = list(csv.reader(io.StringIO("\n".join(lines[6:])), delimiter=d.delimiter))
    assert all(len(r) == len(header) for r in body)
    parsed = read_prep_csv(data)
    assert parsed.delimiter == d.delimiter and len(parsed.rows) >= 1500
    assert parsed.summary == {k: parsed.summary[k] for k in SUMMARY_FIELDS}
    summary = {k: (v if isinstance(v, int) else str(v)) for k, v in parsed.summary.items()}
    assert summary == reconcile(parsed.rows)
    key = parsed.rows[0]["CLAVE_CASILLA"]
    assert key.startswith('="') if d.guard == "excel" else key.startswith("'")
    if d.thousands:
        assert re.search(r'"\d{1,3}(,\d{3})+"|\d{1,3}(,\d{3})+', lines[3])
    if d.pct_quote:
        assert "'" in lines[3] and "%" in lines[3]
    assert "22:30" in parsed.corte_line


def test_folder_and_flat_nesting(tmp_path):
    (tmp_path / "a").mkdir()
    p = make_package(tmp_path / "a", "2024-06-02T21:15", 0.5, actas=50, nesting="folder")
    names = outer(p).namelist()
    assert "20240602_2115_PREP_GUB_VER/VER_GUB_2024.csv" in names
    p = make_package(tmp_path / "b.zip", "2024-06-02T21:15", 0.5, actas=50, nesting="flat")
    assert p.name == "b.zip"
    assert {"VER_GUB_2024.csv", "VER_DIP_LOC_2024.csv", "LEEME.txt"} <= set(outer(p).namelist())


def test_deterministic_for_a_seed(tmp_path):
    a = make_package(tmp_path / "x.zip", "2024-06-02T21:15", 0.5, actas=300, seed=7)
    b = make_package(tmp_path / "y.zip", "2024-06-02T21:15", 0.5, actas=300, seed=7)
    c = make_package(tmp_path / "z.zip", "2024-06-02T21:15", 0.5, actas=300, seed=8)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_veracruz_size_is_fast_and_about_the_real_size(tmp_path):
    started = time.monotonic()
    p = make_package(tmp_path, "2024-06-03T19:45", 0.98)
    elapsed = time.monotonic() - started
    assert elapsed < 4.0  # well under 2 s on a quiet machine; leave room for a busy CI
    size = p.stat().st_size
    assert 1_500_000 < size < 5_000_000
    csv_bytes = inner_files(p)["20240603_1945_PREP_GUB_VER.zip"]["VER_GUB_2024.csv"]
    assert 2_500_000 < len(csv_bytes) < 4_500_000
    assert csv_bytes.count(b"\n") >= 11030 + 6


def test_cli(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "difusor.rehearsal.prep",
            "generate",
            "--out",
            str(tmp_path),
            "--cortes",
            "2",
            "--start",
            "2024-06-02T23:50",
            "--period-minutes",
            "10",
            "--actas",
            "100",
            "--elections",
            "GUB",
            "--dialect",
            "pipe+crlf",
            "--sidecar",
            "--seed",
            "3",
            "--state",
            "VER",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "20240602_2350_PREP_VER.zip",
        "20240602_2350_PREP_VER.zip.sha256",
        "20240603_0000_PREP_VER.zip",
        "20240603_0000_PREP_VER.zip.sha256",
    ]
    data = inner_files(tmp_path / "20240603_0000_PREP_VER.zip")["20240603_0000_PREP_GUB_VER.zip"][
        "VER_GUB_2024.csv"
    ]
    assert data.split(b"\r\n")[1] == b"03/06/2024 00:00 (UTC-6)" and b"|" in data
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "difusor.rehearsal.prep",
            "generate",
            "--out",
            str(tmp_path),
            "--cortes",
            "1",
            "--dialect",
            "semicolon",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "semicolon" in bad.stderr
