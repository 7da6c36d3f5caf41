"""The operator's notes: a small Markdown file merged into the memoria técnica.

Headings (``#`` or ``##``, accents and case ignored) name the sections; text under them is
paragraphs (separated by a blank line) and lists (lines starting with ``-`` or ``*``)::

    ## Presentación
    Texto libre al inicio del documento (opcional).

    ## Incidencias
    Notas sobre las incidencias (causas, acciones tomadas); se agregan a la sección 1.

    ## Criterios de mejora
    - Criterios de mejora y planeación para futuras elecciones (VII.a.iii).

    ## Comentarios y sugerencias
    Comentarios y sugerencias para convocatorias posteriores.

No other markup: the text is shown as written (it is escaped, never interpreted as HTML).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = {
    "presentacion": "intro",
    "incidencias": "incidents",
    "criterios de mejora": "improvement",
    "comentarios y sugerencias": "suggestions",
}

# The file's name in the copy and the headings, for messages and the report's guidance.
HEADINGS = ("Presentación", "Incidencias", "Criterios de mejora", "Comentarios y sugerencias")


class NotesError(ValueError):
    pass


@dataclass(frozen=True)
class Block:
    kind: str  # "p" or "ul"
    items: list[str]


@dataclass(frozen=True)
class Notes:
    sections: dict[str, list[Block]] = field(default_factory=dict)

    def get(self, section: str) -> list[Block]:
        return self.sections.get(section, [])


def _key(heading: str) -> str:
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    return " ".join(text.lower().split())


def read_notes(path: Path | None) -> Notes:
    if path is None:
        return Notes()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotesError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
    sections: dict[str, list[Block]] = {}
    current: list[Block] | None = None
    paragraph: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        heading = re.match(r"#{1,3}\s+(.*)", line)
        bullet = re.match(r"[-*]\s+(.*)", line)
        if heading:
            name = SECTIONS.get(_key(heading.group(1)))
            if name is None:
                raise NotesError(
                    f"{path}:{number}: heading {heading.group(1)!r} is not one of: "
                    + ", ".join(HEADINGS)
                )
            current = sections.setdefault(name, [])
            paragraph = []
        elif not line:
            paragraph = []
        elif current is None:
            raise NotesError(
                f"{path}:{number}: text before the first heading (start with one of: "
                + ", ".join(HEADINGS)
                + ")"
            )
        elif bullet:
            if not current or current[-1].kind != "ul" or paragraph:
                current.append(Block("ul", []))
            current[-1].items.append(bullet.group(1))
            paragraph = []
        elif current and current[-1].kind == "ul" and not paragraph and raw[:1].isspace():
            current[-1].items[-1] += " " + line  # a list item continued on the next line
        else:
            if not paragraph:
                current.append(Block("p", paragraph))
            paragraph.append(line)
    return Notes(
        {
            name: [Block(b.kind, [" ".join(b.items)] if b.kind == "p" else b.items) for b in blocks]
            for name, blocks in sections.items()
        }
    )
