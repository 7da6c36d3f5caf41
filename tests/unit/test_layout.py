"""The product code never depends on the rehearsal tooling (README: Layout)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "difusor"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_product_code_does_not_import_the_rehearsal_tooling():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(
            m for m in imported_modules(path) if m.startswith("difusor.rehearsal")
        )
        for path in PACKAGE.rglob("*.py")
        if "rehearsal" not in path.relative_to(PACKAGE).parts
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_scan_sees_product_modules():
    assert imported_modules(PACKAGE / "deploys" / "ssh.py") >= {"difusor.operations"}
