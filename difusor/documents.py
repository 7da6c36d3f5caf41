"""Spanish documents for the institute: HTML with the kit's page style -> PDF -> PNG pages.

Shared by every document the kit writes (the memoria técnica, the compliance document):
one page style (``document_templates/documents.css``, Letter paper, title page, running
header and page numbers), one base template (``base.html.j2``: a document extends it and
fills ``cover`` and ``content``), and the conversions:

    env = environment(Path(__file__).parent / "templates")
    html = env.get_template("mine.html.j2").render(title="...", ...)
    write_pdf(html, out / "mine.pdf")
    pages = pdf_to_png(out / "mine.pdf", out / "pages")   # to look at, or to test

The HTML is self-contained (style inline, images as ``data:`` URIs from :func:`image_uri`),
so it opens anywhere and WeasyPrint needs no network. WeasyPrint needs Pango (Debian:
libpango-1.0-0, libpangoft2-1.0-0) and fonts (fonts-dejavu-core); pdftoppm and pdftotext
come from poppler-utils.
"""

from __future__ import annotations

import base64
import re
import subprocess
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "document_templates"
_NUMBER_AND_UNIT = re.compile(r"(\d) (h|min|s)\b")  # in a duration (units_kept)

MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]


def environment(*template_dirs: Path) -> Environment:
    """Jinja environment over the documents' own templates and ``template_dirs``."""
    env = Environment(
        loader=FileSystemLoader([*map(str, template_dirs), str(TEMPLATES)]),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["page_style"] = (TEMPLATES / "documents.css").read_text(encoding="utf-8")
    env.filters.update(
        number=number,
        date_es=date_es,
        datetime_es=datetime_es,
        duration=duration,
        units_kept=units_kept,
    )
    return env


def number(value: float | int | None, decimals: int = 0) -> str:
    """1234567 -> '1,234,567' (Mexico: comma for thousands, point for decimals)."""
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """1 -> '1 paquete'; 3 -> '3 paquetes' (``plural`` when adding 's' is not Spanish)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def date_es(moment: datetime) -> str:
    """'2 de junio de 2024'."""
    return f"{moment.day} de {MONTHS[moment.month - 1]} de {moment.year}"


def datetime_es(moment: datetime, seconds: bool = False) -> str:
    """'2 de junio de 2024, 20:00' in the moment's own zone."""
    return (
        f"{date_es(moment)}, {moment:%H:%M:%S}" if seconds else f"{date_es(moment)}, {moment:%H:%M}"
    )


def duration(seconds: float | int | None) -> str:
    """3725 -> '1 h 02 min 05 s'; 65 -> '1 min 05 s'; 7 -> '7 s'; 0.42 -> '0.4 s'."""
    if seconds is None:
        return "—"
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours:,} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def units_kept(text: str) -> str:
    """'12 h 00 min 00 s' with each number tied to its unit (no-break spaces): a narrow table
    cell may then wrap it between units ('12 h 00 min' / '00 s'), never inside one."""
    return _NUMBER_AND_UNIT.sub("\\1\u00a0\\2", text)


def image_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def write_pdf(html: str, pdf: Path) -> None:
    """Render self-contained HTML to a PDF file with WeasyPrint."""
    from weasyprint import HTML  # imported here: loading Pango takes a moment

    pdf.parent.mkdir(parents=True, exist_ok=True)
    HTML(string=html, base_url=str(pdf.parent)).write_pdf(str(pdf))


def pdf_to_png(pdf: Path, out_dir: Path, dpi: int = 70) -> list[Path]:
    """Every page of ``pdf`` as ``out_dir/page-N.png`` (pdftoppm), in page order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(out_dir / "page")],
        check=True,
        capture_output=True,
    )
    return sorted(out_dir.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def pdf_text(pdf: Path) -> str:
    """The PDF's text in reading order (pdftotext), to check a document's content."""
    result = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    )
    return result.stdout
