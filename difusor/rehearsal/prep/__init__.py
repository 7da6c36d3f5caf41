"""Synthetic PREP dissemination packages for tests and benchmarks.

    python -m difusor.rehearsal.prep generate --out DIR --cortes N [--start 2024-06-02T20:00] ...

or from Python: :func:`generate_series`, :func:`make_package`, :class:`Series`.
"""

from .dialects import PRESETS, Dialect, parse_dialect
from .generator import (
    SUMMARY_FIELDS,
    Series,
    SiteSpec,
    data_columns,
    generate_series,
    make_package,
    package_name,
    trunc_pct,
    write_sidecar,
)
from .reader import PrepCsv, read_prep_csv, unguard

__all__ = [
    "PRESETS",
    "SUMMARY_FIELDS",
    "Dialect",
    "PrepCsv",
    "Series",
    "SiteSpec",
    "data_columns",
    "generate_series",
    "make_package",
    "package_name",
    "parse_dialect",
    "read_prep_csv",
    "trunc_pct",
    "unguard",
    "write_sidecar",
]
