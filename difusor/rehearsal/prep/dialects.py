"""CSV dialects seen in PREP packages (see prep-format notes: delimiter, encoding, line ends...).

A dialect is chosen by a preset name or by tokens joined with ``+`` or ``,``, applied in
order over the ``ine`` preset, e.g. ``pipe+latin1+crlf`` or ``legacy``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    encoding: str = "utf-8"  # "utf-8", "utf-8-sig" (with BOM) or "latin-1"
    newline: str = "\n"
    sep_line: bool = False  # a first line "sep=|" before the title
    date_style: str = "dmy"  # dmy 02/06/2024, ymd 2024/06/02, dmy-short 2/6/2024
    thousands: bool = False  # summary values as 6,050,123
    pct_quote: bool = False  # summary percentages as '98.1234%
    guard: str = "quote"  # "quote": 'KEY, "excel": ="KEY"

    def format_date(self, dt, seconds: bool = False) -> str:
        t = dt.strftime("%H:%M:%S" if seconds else "%H:%M")
        if self.date_style == "ymd":
            return f"{dt.year:04d}/{dt.month:02d}/{dt.day:02d} {t}"
        if self.date_style == "dmy-short":
            return f"{dt.day}/{dt.month}/{dt.year:04d} {t}"
        return f"{dt.day:02d}/{dt.month:02d}/{dt.year:04d} {t}"

    def key(self, value: str) -> str:
        return f'="{value}"' if self.guard == "excel" else f"'{value}"


PRESETS: dict[str, Dialect] = {
    # comma, UTF-8 without BOM, LF, 'KEY guard
    "ine": Dialect(),
    # pipe-delimited, UTF-8 without BOM, LF
    "pipe": Dialect(delimiter="|"),
    # what spreadsheet-minded institutes ship: UTF-8 with BOM, CRLF
    "ople": Dialect(encoding="utf-8-sig", newline="\r\n"),
    # older files: ISO-8859-1, CRLF, sep= line, thousands separators, '...% and ="KEY"
    "legacy": Dialect(
        encoding="latin-1",
        newline="\r\n",
        sep_line=True,
        thousands=True,
        pct_quote=True,
        guard="excel",
        date_style="ymd",
    ),
    # pipe, ISO-8859-1, old Mac CR line ends, short dates
    "pipe-latin1-cr": Dialect(
        delimiter="|", encoding="latin-1", newline="\r", date_style="dmy-short"
    ),
}

# Dialect fields each token sets (strings and flags).
TOKENS: dict[str, dict[str, Any]] = {
    "comma": {"delimiter": ","},
    "pipe": {"delimiter": "|"},
    "utf8": {"encoding": "utf-8"},
    "utf8-bom": {"encoding": "utf-8-sig"},
    "latin1": {"encoding": "latin-1"},
    "lf": {"newline": "\n"},
    "crlf": {"newline": "\r\n"},
    "cr": {"newline": "\r"},
    "sep-line": {"sep_line": True},
    "dmy": {"date_style": "dmy"},
    "ymd": {"date_style": "ymd"},
    "dmy-short": {"date_style": "dmy-short"},
    "thousands": {"thousands": True},
    "pct-quote": {"pct_quote": True},
    "guard-quote": {"guard": "quote"},
    "guard-excel": {"guard": "excel"},
}


def parse_dialect(spec: str | Dialect | None) -> Dialect:
    """``None``/``""`` -> ine; a preset name; or tokens joined by ``+`` or ``,``."""
    if isinstance(spec, Dialect):
        return spec
    if not spec:
        return PRESETS["ine"]
    parts = [p.strip().lower() for p in spec.replace(",", "+").split("+") if p.strip()]
    dialect = PRESETS["ine"]
    for part in parts:
        if part in PRESETS:
            dialect = PRESETS[part]
        elif part in TOKENS:
            dialect = replace(dialect, **TOKENS[part])
        else:
            known = ", ".join(list(PRESETS) + list(TOKENS))
            raise ValueError(f"unknown dialect token {part!r} (known: {known})")
    return dialect
