"""A tolerant reader of PREP results CSVs (any of the dialects in ``dialects.py``)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field


@dataclass
class PrepCsv:
    title: str
    corte_line: str
    summary: dict
    header: list
    rows: list = field(default_factory=list)
    delimiter: str = ","
    encoding: str = "utf-8"
    newline: str = "\n"


def decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def summary_value(text: str):
    """'6,050,123' -> 6050123; "'98.1234%" -> '98.1234'; '11030' -> 11030."""
    t = text.strip().lstrip("'").rstrip("%").strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", t):
        t = t.replace(",", "")
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    return t


def unguard(key: str) -> str:
    """'300001B0100 or ="300001B0100" -> 300001B0100."""
    if key.startswith('="') and key.endswith('"'):
        return key[2:-1]
    return key.lstrip("'")


def read_prep_csv(data: bytes) -> PrepCsv:
    text, encoding = decode(data)
    newline = "\r\n" if "\r\n" in text[:4096] else "\r" if "\r" in text[:4096] else "\n"
    lines = text.splitlines()
    if lines and lines[0].lower().startswith("sep="):
        lines = lines[1:]
    header_at = next(
        i for i, line in enumerate(lines) if line.lstrip("\ufeff").startswith("CLAVE_CASILLA")
    )
    header_line = lines[header_at]
    delimiter = "|" if header_line.count("|") > header_line.count(",") else ","
    pre = [line for line in lines[:header_at] if line.strip()]
    title, corte_line = pre[0], pre[1]
    names = next(csv.reader([pre[2]], delimiter=delimiter))
    values = next(csv.reader([pre[3]], delimiter=delimiter))
    summary = {n: summary_value(v) for n, v in zip(names, values, strict=False)}
    body = "\n".join(lines[header_at:])
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    header = next(reader)
    rows = [dict(zip(header, r, strict=False)) for r in reader if r]
    return PrepCsv(title, corte_line, summary, header, rows, delimiter, encoding, newline)
