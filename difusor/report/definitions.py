"""The memoria técnica's definitions: one place for the code, the tests and the report's text.

Every figure of the report is computed from these values, and the report prints
:data:`TEXT` (Spanish, for the institute) so a reader knows exactly what was counted.
"""

from __future__ import annotations

import re

# A page view is a successful GET of a document: a path ending in one of these.
PAGE_PATTERN = r"(/|\.html?)$"
PAGE_METHOD = "GET"
PAGE_STATUSES = "2xx o 304"  # successful, or not modified (the browser's copy is current)

# A visit ends after this long without a request (Matomo's and Plausible's convention).
VISIT_GAP_S = 30 * 60

# A minute with at least this many 5xx responses is a burst (an incident).
BURST_5XX_PER_MINUTE = 10

TEXT = {
    "hit": "Hit: toda solicitud registrada por el servidor en el periodo, con cualquier código "
    "de respuesta (páginas, hojas de estilo, imágenes, archivos de datos, errores).",
    "page_view": "Página consultada: una solicitud GET exitosa (código 2xx, o 304 cuando el "
    "navegador ya tenía la versión vigente) de un documento, es decir, de una ruta que termina en "
    "«/», «.html» o «.htm»{extra}.",
    "visitor": "Visitante: una cookie de visitante anónima distinta (la asigna el servidor y no "
    "contiene datos personales). Quien rechaza las cookies se cuenta aparte, como un visitante "
    "por dirección de cliente y navegador (user agent) en cada día.",
    "visit": "Visita: las solicitudes de un mismo visitante sin una pausa mayor de 30 minutos "
    "entre dos consecutivas; una pausa más larga inicia una visita nueva.",
    "time_on_site": "Tiempo de permanencia: de la primera a la última solicitud de una visita. "
    "La mediana y el promedio se calculan sobre las visitas de dos o más solicitudes; las visitas "
    "de una sola solicitud (sin duración medible) se cuentan aparte.",
    "stale": "Corte vencido: el corte publicado tiene más de un periodo ({period} min) de "
    "antigüedad{grace}; a los tres periodos ({critical} min) el nivel es crítico.",
    "burst": "Ráfaga de errores 5xx: un minuto con {burst} o más respuestas 5xx del servidor.",
}


def page_regex(extra_patterns: tuple[str, ...] = ()) -> str:
    """The page-view pattern (RE2/Python syntax), with the setting's extra patterns."""
    for pattern in extra_patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"page_patterns: {pattern!r} is not a valid pattern ({exc})") from exc
    return "|".join([PAGE_PATTERN, *(f"(?:{p})" for p in extra_patterns)])


def texts(
    extra_patterns: tuple[str, ...], period_minutes: int, grace_minutes: int, burst: int
) -> dict[str, str]:
    """:data:`TEXT` with this report's values filled in."""
    extra = (
        " (y además las que coinciden con " + ", ".join(f"«{p}»" for p in extra_patterns) + ")"
        if extra_patterns
        else ""
    )
    grace = f", descontados {grace_minutes} min de tolerancia" if grace_minutes else ""
    return {
        **TEXT,
        "page_view": TEXT["page_view"].format(extra=extra),
        "stale": TEXT["stale"].format(
            period=period_minutes, grace=grace, critical=3 * period_minutes
        ),
        "burst": TEXT["burst"].format(burst=burst),
    }
