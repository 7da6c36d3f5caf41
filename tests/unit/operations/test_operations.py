"""Every custom operation against its cases (see harness.py for the case format)."""

from __future__ import annotations

import pkgutil
from importlib import import_module
from pathlib import Path

import pytest

import difusor.operations

from .harness import load_case, run_operation

CASES_DIR = Path(__file__).parent
CASES = sorted(CASES_DIR.glob("*.*/*.json"))


@pytest.mark.parametrize("path", CASES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_operation(path: Path):
    case = load_case(path)
    outcome = run_operation(path.parent.name, case["kwargs"], case["facts"])
    assert outcome.commands == case["commands"]
    assert outcome.noop_description == case.get("noop_description")
    if not outcome.commands:
        assert outcome.noop_description, "an operation that changes nothing says so (host.noop)"


def test_every_operation_has_cases():
    operations = {
        f"{module.name}.{name}"
        for module in pkgutil.iter_modules(difusor.operations.__path__)
        for name, value in vars(import_module(f"difusor.operations.{module.name}")).items()
        if hasattr(value, "_inner") and value.__module__ == f"difusor.operations.{module.name}"
    }
    with_cases = {path.parent.name for path in CASES}
    assert operations, "no operations found"
    assert operations - with_cases == set()
