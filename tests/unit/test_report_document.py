"""The memoria técnica's files from a small copy: report.json, CSVs, HTML and the PDF (rendered to
PNG and read back), the operator's notes, and that no reader address or cookie gets out."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from difusor import documents
from difusor.report import ReportOptions, build_report
from difusor.report.notes import NotesError, read_notes

from .test_report_events import SIMULACRO, at, journal_entry
from .test_report_traffic import line

WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)

FROM, TO = datetime(2024, 6, 2, 20, 0), datetime(2024, 6, 2, 23, 59, 59)
ADDRESSES = ["203.0.113.10", "203.0.113.11", "2001:db8::77", "198.51.100.200"]
CLIENT, AGENT = "198.51.100.7", "Mozilla/5.0 (X11; Linux x86_64)"  # test_report_traffic.line's
UNRETURNED = [
    "difusor=9A8B7C6D5E4F00010000000000000001",
    "difusor=9A8B7C6D5E4F00020000000000000002",
]
COOKIES = ["difusor=4F1C2B9A00000001DEADBEEF00000A01", "difusor=4F1C2B9A00000002CAFEBABE00000B02"]
AGENTS = ["Mozilla/5.0 LectorUnoSecreto", "Mozilla/5.0 LectorDosSecreto"]
NOTES = """## Criterios de mejora
- Contratar una CDN antes de la próxima elección.
- Ensayar la restauración del servidor.

## Comentarios y sugerencias
Que el instituto publique la suma de verificación
de cada paquete.
"""


def make_copy(root: Path, notes: bool) -> Path:
    logs = root / "var/log/nginx"
    logs.mkdir(parents=True)
    start = at("20:05:00")
    lines = []
    for n, (cookie, address, agent) in enumerate(zip(COOKIES, ADDRESSES, AGENTS, strict=False)):
        lines.append(line(start, "/", client=address, agent=agent, sent=cookie))
        for minute in range(1, 4):
            lines.append(
                line(
                    start + timedelta(minutes=minute * (n + 1)),
                    "/gubernatura/",
                    client=address,
                    agent=agent,
                    got=cookie,
                )
            )
    for address, cookie in zip(ADDRESSES[2:], UNRETURNED, strict=True):  # refusing cookies
        lines.append(line(start, "/", client=address, sent=cookie))
    lines += [line(at("21:30:00") + timedelta(seconds=s), "/", 502) for s in range(12)]
    (logs / "access.log").write_text("\n".join(lines) + "\n")
    publisher = root / "var/log/difusor"
    publisher.mkdir(parents=True)
    (publisher / "publisher.log").write_text("".join(json.dumps(r) + "\n" for r in SIMULACRO))
    (root / "journal.json").write_text(
        journal_entry("22:00:00", "nginx.service", "d9b373ed55a64feb8242e02dbe79a49c")
        + "\n"
        + journal_entry(
            "22:00:09", "nginx.service", "39f53479d3a045ac8e11786248231fbf", JOB_RESULT="done"
        )
        + "\n"
    )
    if notes:
        (root / "notas.md").write_text(NOTES)
    return root


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    built = {}
    for name in ("notes", "bare"):
        root = tmp_path_factory.mktemp(name)
        copy = make_copy(root / "copy", notes=name == "notes")
        report = build_report(
            copy,
            FROM,
            TO,
            root / "out",
            ReportOptions(difusor="prep.example.com.mx", cortes_until=datetime(2024, 6, 2, 21, 20)),
        )
        built[name] = (root / "out", report.data)
    return built


def test_report_json_has_the_issues_keys_and_hand_counted_figures(reports):
    _, data = reports["notes"]
    assert data["period"] == {
        "from": "2024-06-02T20:00:00-06:00",
        "to": "2024-06-02T23:59:59-06:00",
    }
    assert data["hits"] == 2 * 4 + 2 + 12
    assert data["page_views"] == 2 * 4 + 2
    assert data["visitors"] == 2 + 2 + 1  # two cookies; two addresses without; the 502s' reader
    assert data["visits"] == 5
    assert data["pages"] == [{"path": "/gubernatura/", "views": 6}, {"path": "/", "views": 4}]
    assert data["time_on_site"] == {
        "median_s": 180.0,  # visits of 180 s and 360 s; the 502s span 11 s
        "mean_s": 183.7,
        "single_request_visits": 2,
        "multi_request_visits": 3,
    }
    assert [c["package"] for c in data["cortes"]][:2] == [
        "20240602_2000_PREP_VER.zip",
        "20240602_2015_PREP_VER.zip",
    ]
    assert set(data["cortes"][0]) >= {"package", "corte", "received", "published", "delay_s"}
    assert [(r["package"], r["reason"]) for r in data["rejections"]] == [
        ("20240602_2030_PREP_VER.zip", "bad-crc")
    ]
    kinds = [(i["kind"], i["start"][11:19], i["end"][11:19]) for i in data["incidents"]]
    assert kinds == [
        ("stale", "20:15:00", "20:16:00"),
        ("stale", "20:30:00", "21:01:30"),
        ("rejected-package", "20:31:00", "21:01:30"),
        ("stale", "21:15:00", "21:16:00"),
        ("5xx-burst", "21:30:00", "21:31:00"),
        ("service-failure", "22:00:00", "22:00:09"),
    ]
    assert data["availability"]["window_s"] == 4 * 3600
    assert data["availability"]["stale_s"] == 60 + 1890 + 60
    assert data["source"]["visitors"] == "origin-logs"
    assert data["source"]["cortes"] == "publisher-log"


def test_csv_tables_match_report_json(reports):
    out, data = reports["notes"]
    with (out / "pages.csv").open(encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    assert rows == [{"path": p["path"], "views": str(p["views"])} for p in data["pages"]]
    with (out / "incidents.csv").open(encoding="utf-8-sig") as stream:
        incidents = list(csv.DictReader(stream))
    assert [r["kind"] for r in incidents] == [i["kind"] for i in data["incidents"]]
    assert incidents[1]["duration_s"] == "1890"
    for name in ("summary.csv", "hourly.csv", "cortes.csv", "rejections.csv"):
        assert (out / name).read_text(encoding="utf-8-sig").count("\n") >= 2


def test_no_reader_address_cookie_or_agent_leaves_the_engine(reports):
    for out, _ in reports.values():
        texts = [p.read_text(encoding="utf-8-sig") for p in out.iterdir() if p.suffix != ".pdf"]
        texts.append(documents.pdf_text(out / "memoria-tecnica.pdf"))
        texts.append((out / "memoria-tecnica.pdf").read_bytes().decode("latin-1"))
        cookies = [c.split("=")[1] for c in COOKIES + UNRETURNED]
        secrets = [*ADDRESSES, CLIENT, *cookies, *AGENTS, AGENT]
        for text in texts:
            for secret in secrets:
                assert secret not in text


def test_the_pdf_has_the_institutes_sections_in_order_and_real_pages(reports, tmp_path):
    out, _ = reports["notes"]
    text = documents.pdf_text(out / "memoria-tecnica.pdf")
    assert text.find("Memoria técnica de la difusión") < text.find("Contenido")
    headings = [
        "1. Incidencias que afectaron la publicación",
        "2. Estadísticas de visitas, páginas y hits",
        "3. Criterios de mejora y sugerencias",
        "4. Definiciones y fuentes",
        "Anexo A. Cortes publicados",
        "Anexo B. Páginas consultadas",
    ]
    positions = [text.rfind(h) for h in headings]  # the contents page names them first
    assert -1 not in positions and positions == sorted(positions)
    assert "prep.example.com.mx" in text
    assert "Contratar una CDN antes de la próxima elección." in text
    assert "Por escribir" not in text
    pages = documents.pdf_to_png(out / "memoria-tecnica.pdf", tmp_path, dpi=30)
    assert len(pages) >= 6
    for page in pages:
        with Image.open(page) as image:
            spread = ImageStat.Stat(image.convert("L")).stddev[0]
        assert spread > 5, f"{page.name} is blank"
    html = (out / "memoria-tecnica.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"#]*)"', html))


def test_tables_are_numbered_in_order_whichever_are_shown(reports):
    """Some tables appear only when they have rows (here the monitor's alerts do not)."""
    for out, _ in reports.values():
        html = (out / "memoria-tecnica.html").read_text()
        numbers = [int(n) for n in re.findall(r"<caption>Tabla (\d+)\.", html)]
        assert numbers == list(range(1, len(numbers) + 1))


def test_long_incident_durations_stay_inside_their_column(tmp_path):
    """A certificate renewal failing for hours: its duration ('3 h 40 min 00 s') must end
    before the effect column of the PDF's incidents table, on every page the table spans."""
    copy = make_copy(tmp_path / "copy", notes=False)
    failed, succeeded = "d9b373ed55a64feb8242e02dbe79a49c", "7ad2d189f7e94e70a38c781354912448"
    with (copy / "journal.json").open("a") as journal:
        journal.write(journal_entry("20:10:00", "certbot.service", failed) + "\n")
        journal.write(journal_entry("23:50:00", "certbot.service", succeeded) + "\n")
    out = tmp_path / "out"
    data = build_report(copy, FROM, TO, out, ReportOptions(difusor="prep.example.com.mx")).data
    assert max(i["duration_s"] for i in data["incidents"]) == 3 * 3600 + 40 * 60
    layout = subprocess.run(
        ["pdftotext", "-bbox", str(out / "memoria-tecnica.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    inside = []  # each duration shown between the end column and the effect column
    for page in layout.split("<page ")[1:]:
        words = [(float(x0), float(x1), text) for x0, _, x1, _, text in WORD.findall(page)]
        texts = [text for _, _, text in words]
        if "publicación" not in texts or "Duración" not in texts:
            continue
        end_column = words[texts.index("Fin")][0]
        effect_column = words[texts.index("Efecto")][0]
        for incident in data["incidents"]:
            tokens = documents.duration(incident["duration_s"]).split()
            for n in range(len(words) - len(tokens) + 1):
                if (
                    texts[n : n + len(tokens)] == tokens
                    and end_column < words[n][0] < effect_column
                ):
                    assert words[n + len(tokens) - 1][1] <= effect_column, (tokens, words[n])
                    inside.append(incident["duration_s"])
    assert set(inside) >= {i["duration_s"] for i in data["incidents"]}


def test_without_notes_the_improvement_section_says_what_to_write_and_the_measured_figures(reports):
    out, _ = reports["bare"]
    text = documents.pdf_text(out / "memoria-tecnica.pdf")
    assert "Por escribir" in text
    assert "## Criterios de mejora" in text
    assert re.search(r"Pico de carga: \d+ solicitudes en un segundo", text)
    assert "Paquetes rechazados: 1 (bad-crc: 1)" in text


def test_notes_are_sections_of_paragraphs_and_lists(tmp_path):
    notes = tmp_path / "notas.md"
    notes.write_text(NOTES + "\n# Incidencias\nLa falla de nginx fue un reinicio manual.\n")
    parsed = read_notes(notes)
    assert [b.items for b in parsed.get("improvement")] == [
        ["Contratar una CDN antes de la próxima elección.", "Ensayar la restauración del servidor."]
    ]
    assert [b.items for b in parsed.get("suggestions")] == [
        ["Que el instituto publique la suma de verificación de cada paquete."]
    ]
    assert parsed.get("incidents")[0].kind == "p"
    notes.write_text("## Conclusiones\ntexto\n")
    with pytest.raises(NotesError, match=r"notas.md:1: heading 'Conclusiones' is not one of"):
        read_notes(notes)
    notes.write_text("texto suelto\n## Incidencias\n")
    with pytest.raises(NotesError, match=r"notas.md:1: text before the first heading"):
        read_notes(notes)
