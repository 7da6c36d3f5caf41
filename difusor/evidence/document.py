"""The evidence's files: evidence.json, personal.csv, cumplimiento.html and .pdf (Spanish)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from difusor import documents, hardening
from difusor.evidence.matrix import STATUS_NAMES, STATUSES, case_matches, tests_by_module
from difusor.settings import Settings

TEMPLATES = Path(__file__).resolve().parent / "templates"
JSON_NAME = "evidence.json"
CSV_NAME = "personal.csv"
HTML_NAME = "cumplimiento.html"
PDF_NAME = "cumplimiento.pdf"
CONTACT_COLUMNS = ["nombre", "rol", "telefono", "correo"]

# A host test that ports one DevSec control takes the control's id as its parameter
# (``test_sysctl[sysctl-07]``): its family names the baseline.
DEVSEC_CONTROL = re.compile(r"\[(os|package|sysctl|sshd)-[0-9a-z]+\]$")
DEVSEC_BASELINES = {
    "os": "DevSec linux-baseline: controles os, package y sysctl",
    "package": "DevSec linux-baseline: controles os, package y sysctl",
    "sysctl": "DevSec linux-baseline: controles os, package y sysctl",
    "sshd": "DevSec ssh-baseline: controles sshd del servidor",
}
# The host suite's tests that check what the DevSec baselines ask without a control id each.
DEVSEC_FAMILIES = [
    (
        "Línea base SSH (servidor): configuración efectiva de sshd",
        ("tests/host/test_ssh.py::test_sshd_*", "tests/host/test_ssh.py::test_no_small_moduli"),
    ),
    ("Línea base Linux: sysctl de red", ("tests/host/test_base.py::test_network_sysctl*",)),
    ("Línea base Linux: sysctl del kernel", ("tests/host/test_base.py::test_kernel_sysctl*",)),
    (
        "Línea base nginx: configuración efectiva",
        (
            "tests/host/test_portal.py::test_nginx_*",
            "tests/host/test_portal.py::test_no_stock_site",
        ),
    ),
]
OUTCOMES = ("passed", "failed", "xfailed", "skipped")


def write_json(evidence: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(evidence, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_contacts(settings: Settings, path: Path) -> Path:
    """The staff list (2024 IV.a.ii), UTF-8 with BOM so spreadsheets read the accents."""
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CONTACT_COLUMNS)
        writer.writerows([c.name, c.role, c.phone, c.email] for c in settings.contacts)
    return path


def deliberate_exceptions() -> list[dict[str, str]]:
    """Every ``*_EXCEPTIONS`` table of difusor/hardening.py: what is not applied, and why."""
    rows = []
    for name in sorted(vars(hardening)):
        table = getattr(hardening, name)
        if name.endswith("_EXCEPTIONS") and isinstance(table, dict):
            area = name.removesuffix("_EXCEPTIONS").replace("_", " ").lower()
            rows += [{"area": area, "control": k, "reason": v} for k, v in table.items()]
    return rows


def devsec_family(case_id: str) -> str | None:
    """The DevSec family a host test reports on, or None."""
    control = DEVSEC_CONTROL.search(case_id)
    if control:
        return DEVSEC_BASELINES[control.group(1)]
    return next(
        (title for title, patterns in DEVSEC_FAMILIES if case_matches(case_id, patterns)),
        None,
    )


def hardening_annex(observed: dict[str, Any]) -> dict[str, Any]:
    """The hardening figures as measured in this run: the host suite's DevSec checks by family
    (passed, failed, documented exceptions, not applicable), the server's last Lynis report,
    and every deliberate exception of difusor/hardening.py."""
    tallies: dict[str, dict[str, int]] = {}
    for case in observed.get("suite", {}).get("cases", []):
        family = devsec_family(case["id"])
        if family:
            tally = tallies.setdefault(family, dict.fromkeys(OUTCOMES, 0))
            tally[case["outcome"]] += 1
    families = [
        {"family": family, "checks": sum(tally.values()), **tally}
        for family, tally in tallies.items()
    ]
    return {
        "devsec": families,
        "lynis": observed.get("lynis"),
        "exceptions": deliberate_exceptions(),
    }


def setting_text(value: Any) -> str:
    """A setting's value, short, for the matrix."""
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "sí" if value else "no"
    if isinstance(value, dict):
        return ", ".join(
            f"{k} ({len(v)})" if isinstance(v, list) else f"{k}" for k, v in value.items()
        )
    if isinstance(value, list):
        items = [
            item.get("name", str(item)) if isinstance(item, dict) else str(item) for item in value
        ]
        return ", ".join(items[:4]) + (f" y {len(items) - 4} más" if len(items) > 4 else "")
    return str(value)


def render_html(evidence: dict[str, Any], diagram_svg: bytes) -> str:
    env = documents.environment(TEMPLATES)
    env.filters["setting"] = setting_text
    env.filters["test_names"] = tests_by_module
    return env.get_template("cumplimiento.html.j2").render(
        title="Evidencia de cumplimiento",
        e=evidence,
        o=evidence["observed"],
        statuses=STATUSES,
        status_names=STATUS_NAMES,
        diagram=documents.image_uri(diagram_svg, "image/svg+xml"),
    )


def write_documents(evidence: dict[str, Any], settings: Settings, out_dir: Path) -> list[Path]:
    """evidence.json, personal.csv, cumplimiento.html and cumplimiento.pdf in ``out_dir``
    (the diagram is already there)."""
    svg = (out_dir / evidence["diagram"]["svg"]).read_bytes()
    html = render_html(evidence, svg)
    (out_dir / HTML_NAME).write_text(html, encoding="utf-8")
    documents.write_pdf(html, out_dir / PDF_NAME)
    return [
        write_json(evidence, out_dir / JSON_NAME),
        write_contacts(settings, out_dir / CSV_NAME),
        out_dir / HTML_NAME,
        out_dir / PDF_NAME,
    ]
