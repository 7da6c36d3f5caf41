"""Synthetic PREP dissemination packages (paquetes de difusión).

Shape (see the project's PREP format notes):

* outer zip ``YYYYMMDD_HHMM_PREP_VER.zip`` named after the corte (central Mexico local time),
  holding one zip per election ``YYYYMMDD_HHMM_PREP_GUB_VER.zip`` (or a folder, or the files
  at the top: ``nesting``), each with ``VER_GUB_2024.csv``, ``VER_GUB_CANDIDATURAS_2024.csv``
  and ``LEEME.txt``;
* results CSV: line 1 title, line 2 corte ``02/06/2024 21:15 (UTC-6)``, line 3 the 13 summary
  names, line 4 their values, line 5 blank, line 6 the data header (``CLAVE_CASILLA`` first),
  then one row per expected acta from the first corte on, filled as actas are captured.

The summary reconciles exactly with the rows:

* ``ACTAS_ESPERADAS``: rows whose CONTABILIZADA is not ``2``;
* ``ACTAS_REGISTRADAS``: rows with a FECHA_HORA_ACOPIO (in or out of the catalogue);
* ``ACTAS_FUERA_CATALOGO``: rows with CONTABILIZADA ``2``;
* ``ACTAS_CAPTURADAS``: rows with CONTABILIZADA ``0`` or ``1``;
* ``ACTAS_CONTABILIZADAS`` / ``ACTAS_NO_CONTABILIZADAS``: rows with ``1`` / ``0``;
* ``PORCENTAJE_ACTAS_CAPTURADAS``/``_CONTABILIZADAS``/``_INCONSISTENCIAS`` (captured rows
  with OBSERVACIONES): 100 x count / ACTAS_ESPERADAS, truncated to 4 decimals;
* ``LISTA_NOMINAL_ACTAS_CONTABILIZADAS``: sum of LISTA_NOMINAL over counted rows;
* ``TOTAL_VOTOS_C_CS`` / ``TOTAL_VOTOS_S_CS``: sum of TOTAL_VOTOS_CALCULADO over counted rows,
  with / without special casillas (TIPO_CASILLA ``S``);
* ``PORCENTAJE_PARTICIPACION_CIUDADANA``: 100 x TOTAL_VOTOS_S_CS /
  LISTA_NOMINAL_ACTAS_CONTABILIZADAS, truncated to 4 decimals.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import random
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from .catalog import DISTRICT_NAMES, ELECTIONS, OBS_COUNTED, OBS_NOT_COUNTED, PARTIES, STATES
from .dialects import Dialect, parse_dialect

TZ_NAME = "America/Mexico_City"
_EPOCH = datetime(1970, 1, 1)

SUMMARY_FIELDS = [
    "ACTAS_ESPERADAS",
    "ACTAS_REGISTRADAS",
    "ACTAS_FUERA_CATALOGO",
    "ACTAS_CAPTURADAS",
    "PORCENTAJE_ACTAS_CAPTURADAS",
    "ACTAS_CONTABILIZADAS",
    "PORCENTAJE_ACTAS_CONTABILIZADAS",
    "PORCENTAJE_ACTAS_INCONSISTENCIAS",
    "ACTAS_NO_CONTABILIZADAS",
    "LISTA_NOMINAL_ACTAS_CONTABILIZADAS",
    "TOTAL_VOTOS_C_CS",
    "TOTAL_VOTOS_S_CS",
    "PORCENTAJE_PARTICIPACION_CIUDADANA",
]
PERCENT_FIELDS = {
    "PORCENTAJE_ACTAS_CAPTURADAS",
    "PORCENTAJE_ACTAS_CONTABILIZADAS",
    "PORCENTAJE_ACTAS_INCONSISTENCIAS",
    "PORCENTAJE_PARTICIPACION_CIUDADANA",
}

PARTY_COLUMNS = [p for p, _ in PARTIES]
_HEAD = ["CLAVE_CASILLA", "CLAVE_ACTA", "ID_ENTIDAD", "ENTIDAD"]
_CASILLA = [
    "SECCION",
    "ID_CASILLA",
    "TIPO_CASILLA",
    "EXT_CONTIGUA",
    "UBICACION_CASILLA",
    "TIPO_ACTA",
    "TOTAL_BOLETAS_SOBRANTES",
    "TOTAL_PERSONAS_VOTARON",
    "TOTAL_REP_PARTIDO_CI_VOTARON",
    "TOTAL_VOTOS_SACADOS",
]
_TAIL = [
    "TOTAL_VOTOS_ASENTADO",
    "TOTAL_VOTOS_CALCULADO",
    "LISTA_NOMINAL",
    "REPRESENTANTES_PP_CI",
    "OBSERVACIONES",
    "CONTABILIZADA",
    "MECANISMOS_TRASLADO",
    "CODIGO_INTEGRIDAD",
    "FECHA_HORA_ACOPIO",
    "FECHA_HORA_CAPTURA",
    "FECHA_HORA_VERIFICACION",
    "ORIGEN",
    "DIGITALIZACION",
    "TIPO_DOCUMENTO",
    "COTEJADA",
]


def data_columns(election: str) -> list[str]:
    federal = ELECTIONS[election][2]
    district = (
        ["ID_DISTRITO_FEDERAL", "DISTRITO_FEDERAL"]
        if federal
        else ["ID_DISTRITO_LOCAL", "DISTRITO_LOCAL"]
    )
    return _HEAD + district + _CASILLA + PARTY_COLUMNS + _TAIL


def trunc_pct(num: int, den: int) -> str:
    """100 * num / den truncated (not rounded) to 4 decimals."""
    if den <= 0:
        return "0.0000"
    v = (num * 1_000_000) // den
    return f"{v // 10000}.{v % 10000:04d}"


def utc_offset_label(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


def package_name(corte: datetime, state: str = "VER", election: str | None = None) -> str:
    mid = f"PREP_{election}_" if election else "PREP_"
    return f"{corte:%Y%m%d_%H%M}_{mid}{state}.zip"


# ----------------------------------------------------------------------------- population


@dataclass
class _Acta:
    clave_casilla: str
    clave_acta: str
    prefix: list  # catalogue columns up to TIPO_ACTA
    tipo: str
    lista: int
    u: float  # capture rank in [0, 1): captured when the capture fraction passes it
    acq_min: int  # acopio this many minutes before it shows as captured
    cap_min: int  # captured this many minutes before verification
    # 0 clean, 1 counted with an ILEGIBLE cell, 2 counted with SIN DATO, 3 not counted,
    # 4 out of catalogue
    kind: int
    obs: str
    cells: list  # party cells as strings
    calc: int
    asentado: int
    boletas: int
    votaron: int
    reps: int
    sacados: int
    rep_pp: int
    traslado: str
    origen: str
    digital: str
    cotejada: str

    @property
    def counted(self) -> bool:
        return self.kind in (0, 1, 2)


def _casillas(rng: random.Random, n: int) -> list[tuple[int, str, int, int]]:
    """(section, type B/C/E/S, id, extension) approximating Veracruz 2024's mix."""
    out: list[tuple[int, str, int, int]] = []
    section = 0
    while len(out) < n:
        section += 1
        out.append((section, "B", 1, 0))
        k = rng.choices([0, 1, 2, 3, 4], weights=[35, 35, 18, 8, 4])[0]
        out.extend((section, "C", i, 0) for i in range(1, k + 1))
        if rng.random() < 0.15:
            out.append((section, "E", 1, 0))
            if rng.random() < 0.3:
                out.append((section, "E", 1, 1))
        if rng.random() < 0.019:
            out.append((section, "S", 1, 0))
    return out[:n]


@lru_cache(maxsize=8)
def _population(state: str, actas: int, elections: tuple, seed: int, fuera: int) -> dict:
    """Catalogue and per-acta results, independent of time and dialect (cached)."""
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; known: {', '.join(STATES)}")
    id_ent, ent = STATES[state]
    rng = random.Random(f"{seed}:{state}:{actas}")
    casillas = _casillas(rng, actas)
    n_sections = casillas[-1][0] if casillas else 1
    base_u = list(range(actas))
    rng.shuffle(base_u)
    district_w = []  # per district, a pool of normalised vote-share vectors
    for _ in range(30):
        base = [w * rng.uniform(0.6, 1.4) for _, w in PARTIES]
        pool = []
        for _ in range(16):
            jitter = [w * rng.uniform(0.85, 1.15) for w in base]
            total = sum(jitter)
            pool.append([w / total for w in jitter])
        district_w.append(pool)
    catalog = []
    for sec, tipo, cid, ext in casillas:
        district = min(29, (sec - 1) * 30 // max(n_sections, 1))
        lista = 0 if tipo == "S" else max(80, min(750, int(rng.gauss(560, 120))))
        catalog.append((sec, tipo, cid, ext, district, lista, rng.choice("12")))
    result = {}
    for election in elections:
        _title, tipo_acta, federal = ELECTIONS[election]
        erng = random.Random(f"{seed}:{state}:{actas}:{election}")
        rows: list[_Acta] = []
        for idx, (sec, tipo, cid, ext, district, lista, ubic) in enumerate(catalog):
            clave_casilla = f"{id_ent:02d}{sec:04d}{tipo}{cid:02d}{ext:02d}"
            rows.append(
                _make_acta(
                    erng,
                    clave_casilla,
                    tipo_acta,
                    id_ent,
                    ent,
                    district,
                    federal,
                    sec,
                    tipo,
                    cid,
                    ext,
                    ubic,
                    lista,
                    (base_u[idx] + erng.random()) / max(actas, 1),
                    district_w[district],
                    kind=None,
                    seed=seed,
                    election=election,
                )
            )
        extra: list[_Acta] = []
        for k in range(fuera):
            sec = n_sections + 1 + k
            clave_casilla = f"{id_ent:02d}{sec:04d}B01{0:02d}"
            extra.append(
                _make_acta(
                    erng,
                    clave_casilla,
                    tipo_acta,
                    id_ent,
                    ent,
                    erng.randrange(30),
                    federal,
                    sec,
                    "B",
                    1,
                    0,
                    "1",
                    0,
                    erng.uniform(0.0, 0.9),
                    district_w[0],
                    kind=4,
                    seed=seed,
                    election=election,
                )
            )
        result[election] = (rows, extra)
    return result


def _make_acta(
    rng,
    clave_casilla,
    tipo_acta,
    id_ent,
    ent,
    district,
    federal,
    sec,
    tipo,
    cid,
    ext,
    ubic,
    lista,
    u,
    weights,
    *,
    kind,
    seed,
    election,
) -> _Acta:
    dist_name = DISTRICT_NAMES[district] if not federal else f"DISTRITO FEDERAL {district + 1:02d}"
    clave_acta = f"{clave_casilla}{tipo_acta:02d}"
    prefix = [
        None,
        None,
        str(id_ent),
        ent,
        str(district + 1),
        dist_name,
        str(sec),
        str(cid),
        tipo,
        str(ext),
        ubic,
        str(tipo_acta),
    ]
    if kind is None:
        r = rng.random()
        kind = 0 if r < 0.95 else 1 if r < 0.975 else 2 if r < 0.98 else 3
    if tipo == "S":
        voters = 150 + int(rng.random() * 601)
    else:
        voters = int(lista * max(0.2, min(0.95, rng.gauss(0.58, 0.09))))
    rnd = rng.random
    shares = weights[int(rnd() * len(weights))]
    votes = [int(voters * w) for w in shares]
    votes[-1] += voters - sum(votes)  # remainder to NULOS
    cells = [str(v) for v in votes]
    obs = ""
    if kind == 1:
        obs = OBS_COUNTED[0]
        cells[rng.randrange(len(cells) - 2)] = "ILEGIBLE"
    elif kind == 2:
        obs = OBS_COUNTED[1]
        cells[rng.randrange(len(cells) - 2)] = "SIN DATO"
    elif kind == 3:
        obs = rng.choice(OBS_NOT_COUNTED)
        if obs == "Sin acta":
            cells = ["-"] * len(cells)
        elif obs == "Todos los campos ilegibles":
            cells = ["ILEGIBLE"] * len(cells)
        elif obs == "Sin dato":
            cells = ["SIN DATO"] * len(cells)
        else:  # exceeds the lista nominal
            cells = [str(v * 2 + 1) for v in votes]
    elif kind == 4:
        obs = "Fuera de catálogo"
        cells = ["-"] * len(cells)
    calc = voters if kind == 0 else sum(int(c) for c in cells if c.isdigit())
    asentado = calc if rnd() < 0.97 else max(0, calc + int(rnd() * 7) - 3)
    reps = int(rnd() * 5)
    boletas = max(0, (lista or 750) - voters)
    return _Acta(
        clave_casilla=clave_casilla,
        clave_acta=clave_acta,
        prefix=prefix,
        tipo=tipo,
        lista=lista,
        u=u,
        acq_min=5 + int(rnd() * 36),
        cap_min=1 + int(rnd() * 4),
        kind=kind,
        obs=obs,
        cells=cells,
        calc=calc,
        asentado=asentado,
        boletas=boletas,
        votaron=voters + reps,
        reps=reps,
        sacados=voters + reps,
        rep_pp=2 + int(rnd() * 9),
        traslado="DFI"[int(rnd() * 3)],
        origen="CASILLA" if rnd() < 0.7 else "CATD",
        digital="MOVIL" if rnd() < 0.7 else "ESCANER",
        cotejada="1" if rnd() < 0.9 else "0",
    )


# ----------------------------------------------------------------------------- time models


def series_capture_model(
    start: datetime, end: datetime, final: float, k: float = 3.0
) -> Callable[[float], datetime]:
    """A rising, concave capture curve from ``start`` (0 %) to ``end`` (``final``).

    An acta of rank u becomes captured (verified) at the time the curve passes u; ranks above
    ``final`` are captured after ``end``.
    """
    span = (end - start).total_seconds()
    norm = 1 - math.exp(-k)

    def when(u: float) -> datetime:
        if span <= 0:
            return start if u < final else start + timedelta(hours=12) * (u - final + 0.01)
        if u < final:
            x = -math.log(1 - (u / final) * norm) / k
            return start + timedelta(seconds=span * x)
        return end + timedelta(seconds=span * (u - final) / max(1e-9, 1 - final) + 60)

    return when


def fraction_capture_model(
    corte: datetime, fraction: float, span: timedelta = timedelta(hours=6)
) -> Callable[[float], datetime]:
    """Exactly ``fraction`` of ranks captured by ``corte``, spread over ``span`` before it."""
    fraction = max(0.0, min(1.0, fraction))

    def when(u: float) -> datetime:
        if u < fraction:
            return corte - span * (1 - u / fraction) if fraction else corte
        rest = (u - fraction) / max(1e-9, 1 - fraction)
        return corte + timedelta(minutes=1) + span * rest

    return when


# ----------------------------------------------------------------------------- static site


@dataclass(frozen=True)
class SiteSpec:
    """A static publication site beside the CSVs (HTML/JS/JSON/images), ``files`` files
    adding up to about ``bytes`` bytes in the zip. Only ``data/corte.json`` and a few data
    files change from one corte to the next."""

    files: int = 2000
    bytes: int = 100_000_000
    seed: int = 7


@lru_cache(maxsize=2)
def _site_static(spec: SiteSpec) -> tuple:
    rng = random.Random(spec.seed)
    n_bin = max(1, spec.files * 2 // 5)
    n_text = max(1, spec.files - n_bin - 4)
    text_each = 6_000
    bin_each = max(1, (spec.bytes - n_text * text_each // 4) // n_bin)
    out = []
    words = [
        "casilla",
        "seccion",
        "distrito",
        "votos",
        "actas",
        "partido",
        "coalicion",
        "resultado",
        "entidad",
        "municipio",
        "porcentaje",
        "participacion",
    ]
    for i in range(n_text):
        kind = ("html", "js", "json")[i % 3]
        folder = {"html": "distritos", "js": "assets/js", "json": "data/secciones"}[kind]
        body = " ".join(
            rng.choice(words) + str(rng.randrange(10_000)) for _ in range(text_each // 10)
        )
        if kind == "html":
            text = (
                '<!doctype html><html lang="es"><head><meta charset="utf-8">'
                f"<title>{i}</title></head><body><p>{body}</p></body></html>\n"
            )
        elif kind == "js":
            text = f"/* module {i} */\nexport const data{i} = {body!r};\n"
        else:
            text = f'{{"id": {i}, "texto": "{body}"}}\n'
        out.append((f"{folder}/{kind}{i:05d}.{kind}", text.encode(), zipfile.ZIP_DEFLATED))
    for i in range(n_bin):
        ext = ("png", "woff2", "jpg")[i % 3]
        out.append((f"assets/img/a{i:05d}.{ext}", rng.randbytes(bin_each), zipfile.ZIP_STORED))
    return tuple(out)


def _site_files(spec: SiteSpec, corte: datetime, summaries: dict) -> list:
    files = list(_site_static(spec))
    stamp = corte.isoformat()
    files.append(
        (
            "index.html",
            (
                '<!doctype html><html lang="es"><head><meta charset="utf-8"><title>PREP</title>'
                '</head><body><script src="assets/js/app.js"></script>'
                f"<p>Corte {stamp}</p></body></html>\n"
            ).encode(),
            zipfile.ZIP_DEFLATED,
        )
    )
    files.append(
        (
            "assets/js/app.js",
            b"fetch('data/corte.json?'+Math.random()).then(r=>r.json());\n",
            zipfile.ZIP_DEFLATED,
        )
    )
    files.append(("data/corte.json", f'{{"corte": "{stamp}"}}\n'.encode(), zipfile.ZIP_DEFLATED))
    import json

    files.append(
        (
            "data/resumen.json",
            json.dumps({"corte": stamp, "resumen": summaries}, ensure_ascii=False).encode(),
            zipfile.ZIP_DEFLATED,
        )
    )
    return files


# ----------------------------------------------------------------------------- series


class Series:
    """A series of cortes (or one standalone corte) with the same population and dialect."""

    def __init__(
        self,
        *,
        start: datetime | str = "2024-06-02T20:00",
        cortes: int = 97,
        period_minutes: int = 15,
        state: str = "VER",
        actas: int = 11030,
        elections: Sequence[str] | str = ("GUB", "DIP_LOC"),
        dialect: Dialect | str | None = None,
        seed: int = 2024,
        final_capture: float = 0.98,
        fuera_catalogo: int | None = None,
        nesting: str = "zip",
        timezone: str = TZ_NAME,
        capture_model: Callable[[float], datetime] | None = None,
        site: SiteSpec | None = None,
        compresslevel: int = 6,
    ):
        self.tz = ZoneInfo(timezone)
        self.start = _local(start, self.tz)
        self._offset = (self.start.utcoffset() or timedelta(0)).total_seconds()
        self.cortes = max(1, int(cortes))
        self.period = timedelta(minutes=period_minutes)
        self.state = state.upper()
        self.actas = int(actas)
        if isinstance(elections, str):
            elections = [e for e in elections.replace("+", ",").split(",") if e]
        self.elections = tuple(e.strip().upper() for e in elections)
        for e in self.elections:
            if e not in ELECTIONS:
                raise ValueError(f"unknown election {e!r}; known: {', '.join(ELECTIONS)}")
        if nesting not in ("zip", "folder", "flat"):
            raise ValueError("nesting must be zip, folder or flat")
        self.nesting = nesting
        self.dialect = parse_dialect(dialect)
        self.seed = seed
        self.site = site
        self.compresslevel = compresslevel
        if fuera_catalogo is None:
            fuera_catalogo = self.actas // 5000
        self.population = _population(
            self.state, self.actas, self.elections, seed, int(fuera_catalogo)
        )
        end = self.corte_time(self.cortes - 1)
        self.model = capture_model or series_capture_model(self.start, end, final_capture)
        self._times: dict = {}
        self._rows: dict = {}
        for election, (rows, extra) in self.population.items():
            self._times[election] = (
                [self._acta_times(a) for a in rows],
                [self._acta_times(a) for a in extra],
            )

    # -- time
    def corte_time(self, i: int) -> datetime:
        return self.start + self.period * i

    def corte_times(self) -> list[datetime]:
        return [self.corte_time(i) for i in range(self.cortes)]

    def _acta_times(self, a: _Acta) -> tuple:
        """(acopio, captured, verified) as POSIX timestamps."""
        verified = float(int(self.model(a.u).timestamp()))
        captured = verified - 60 * a.cap_min
        acopio = captured - 60 * a.acq_min
        return acopio, captured, verified

    def _fmt(self, ts: float) -> str:
        # local wall time at the series' UTC offset (no DST change within an election night)
        return self.dialect.format_date(_EPOCH + timedelta(seconds=ts + self._offset), True)

    # -- rows
    def _row(self, election: str, extra: bool, i: int, state: int) -> str:
        key = (election, extra, i, state)
        row = self._rows.get(key)
        if row is not None:
            return row
        d = self.dialect
        rows, extras = self.population[election]
        a = (extras if extra else rows)[i]
        acopio, captured, verified = self._times[election][1 if extra else 0][i]
        prefix = list(a.prefix)
        prefix[0] = d.key(a.clave_casilla)
        prefix[1] = d.key(a.clave_acta)
        n = len(PARTY_COLUMNS)
        if state == 0:  # not yet registered
            fields = (
                prefix
                + [""] * (4 + n)
                + ["", "", str(a.lista), "", "", "-", "", "", "", "", "", "", "", "", ""]
            )
        elif state == 1:  # registered (acopio), not yet captured
            fields = (
                prefix
                + [""] * (4 + n)
                + [
                    "",
                    "",
                    str(a.lista),
                    "",
                    "",
                    "-",
                    a.traslado,
                    "",
                    self._fmt(acopio),
                    "",
                    "",
                    a.origen,
                    "",
                    "",
                    "",
                ]
            )
        else:
            contab = "2" if a.kind == 4 else "1" if a.counted else "0"
            fields = [
                *prefix,
                str(a.boletas),
                str(a.votaron),
                str(a.reps),
                str(a.sacados),
                *a.cells,
                str(a.asentado),
                str(a.calc),
                str(a.lista),
                str(a.rep_pp),
                a.obs,
                contab,
                a.traslado,
                hashlib.sha256(f"{self.seed}|{election}|{a.clave_acta}|acta".encode()).hexdigest(),
                self._fmt(acopio),
                self._fmt(captured),
                self._fmt(verified),
                a.origen,
                a.digital,
                "ACTA PREP",
                a.cotejada,
            ]
        row = d.delimiter.join(fields)
        self._rows[key] = row
        return row

    def table(self, election: str, corte: datetime) -> tuple[dict, list[str]]:
        """(summary values as ints, data rows as text) for one election at one corte."""
        rows, _ = self.population[election]
        times, extra_times = self._times[election]
        cutoff = corte.timestamp()
        out = []
        esperadas = len(rows)
        registradas = fuera = capturadas = contab = inconsist = 0
        lista = votos_c = votos_s = 0
        for i, a in enumerate(rows):
            acopio, _, verified = times[i]
            if verified <= cutoff:
                state = 2
                capturadas += 1
                registradas += 1
                if a.obs:
                    inconsist += 1
                if a.counted:
                    contab += 1
                    lista += a.lista
                    votos_c += a.calc
                    if a.tipo != "S":
                        votos_s += a.calc
            elif acopio <= cutoff:
                state = 1
                registradas += 1
            else:
                state = 0
            out.append(self._row(election, False, i, state))
        for i, (_, _, verified) in enumerate(extra_times):
            if verified <= cutoff:
                fuera += 1
                registradas += 1
                out.append(self._row(election, True, i, 2))
        summary = {
            "ACTAS_ESPERADAS": esperadas,
            "ACTAS_REGISTRADAS": registradas,
            "ACTAS_FUERA_CATALOGO": fuera,
            "ACTAS_CAPTURADAS": capturadas,
            "PORCENTAJE_ACTAS_CAPTURADAS": trunc_pct(capturadas, esperadas),
            "ACTAS_CONTABILIZADAS": contab,
            "PORCENTAJE_ACTAS_CONTABILIZADAS": trunc_pct(contab, esperadas),
            "PORCENTAJE_ACTAS_INCONSISTENCIAS": trunc_pct(inconsist, esperadas),
            "ACTAS_NO_CONTABILIZADAS": capturadas - contab,
            "LISTA_NOMINAL_ACTAS_CONTABILIZADAS": lista,
            "TOTAL_VOTOS_C_CS": votos_c,
            "TOTAL_VOTOS_S_CS": votos_s,
            "PORCENTAJE_PARTICIPACION_CIUDADANA": trunc_pct(votos_s, lista),
        }
        return summary, out

    def results_csv(self, election: str, corte: datetime) -> tuple[bytes, dict]:
        d = self.dialect
        summary, rows = self.table(election, corte)
        values = []
        for f in SUMMARY_FIELDS:
            v = summary[f]
            if f in PERCENT_FIELDS:
                values.append(f"'{v}%" if d.pct_quote else v)
            else:
                values.append(f"{v:,}" if d.thousands else str(v))
        head = io.StringIO()
        w = csv.writer(head, delimiter=d.delimiter, lineterminator=d.newline)
        if d.sep_line:
            head.write(f"sep={d.delimiter}{d.newline}")
        title = ELECTIONS[election][0]
        head.write(title + d.newline)
        head.write(f"{d.format_date(corte)} ({utc_offset_label(corte)}){d.newline}")
        w.writerow(SUMMARY_FIELDS)
        w.writerow(values)
        head.write(d.newline)
        head.write(d.delimiter.join(data_columns(election)) + d.newline)
        text = head.getvalue() + d.newline.join(rows) + (d.newline if rows else "")
        return text.encode(d.encoding), summary

    def candidaturas_csv(self, election: str) -> bytes:
        d = self.dialect
        id_ent, ent = STATES[self.state]
        federal = ELECTIONS[election][2]
        districted = election not in ("GUB", "GOB", "PRES", "SEN")
        lines = []
        if districted:
            dcols = (
                ["ID_DISTRITO_FEDERAL", "DISTRITO_FEDERAL"]
                if federal
                else ["ID_DISTRITO_LOCAL", "DISTRITO_LOCAL"]
            )
            lines.append(
                [
                    "ID_ENTIDAD",
                    "ENTIDAD",
                    *dcols,
                    "PARTIDO_CI",
                    "CANDIDATURA_PROPIETARIA",
                    "CANDIDATURA_SUPLENTE",
                ]
            )
            for dist in range(30):
                name = DISTRICT_NAMES[dist] if not federal else f"DISTRITO FEDERAL {dist + 1:02d}"
                for p in PARTY_COLUMNS[:-2]:
                    lines.append(
                        [
                            str(id_ent),
                            ent,
                            str(dist + 1),
                            name,
                            p,
                            f"CANDIDATURA {p} {dist + 1:02d}",
                            f"SUPLENCIA {p} {dist + 1:02d}",
                        ]
                    )
        else:
            lines.append(["ID_ENTIDAD", "ENTIDAD", "PARTIDO_CI", "CANDIDATURA_PROPIETARIA"])
            for p in PARTY_COLUMNS[:-2]:
                lines.append([str(id_ent), ent, p, f"CANDIDATURA {p}"])
        return (
            d.newline.join(d.delimiter.join(r) for r in lines).encode(d.encoding)
            + d.newline.encode()
        )

    def leeme(self, election: str) -> bytes:
        d = self.dialect
        title = ELECTIONS[election][0]
        enc = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 con BOM", "latin-1": "ISO-8859-1"}[d.encoding]
        text = [
            f"PROGRAMA DE RESULTADOS ELECTORALES PRELIMINARES - {title}",
            "",
            "Datos sintéticos de prueba (no son resultados reales).",
            f"Archivo de resultados: {self.state}_{election}_{{AÑO}}.csv",
            "Línea 1: elección. Línea 2: fecha y hora del corte con su desplazamiento UTC.",
            "Líneas 3 y 4: nombres y valores del resumen. Línea 6: encabezado de datos.",
            f"Separador de campos: {'|' if d.delimiter == '|' else 'coma'}. Codificación: {enc}.",
            "CONTABILIZADA: 1 contabilizada, 0 capturada no contabilizada, 2 fuera de catálogo, "
            "- sin capturar.",
            "CODIGO_INTEGRIDAD: SHA-256 de la imagen del acta.",
        ]
        return (d.newline.join(text) + d.newline).encode(d.encoding)

    # -- packages
    def name(self, corte: datetime, election: str | None = None) -> str:
        return package_name(corte, self.state, election)

    def package_bytes(self, corte: datetime) -> bytes:
        """The outer zip for one corte, in memory."""
        corte = _local(corte, self.tz)
        stamp = corte.replace(tzinfo=None).timetuple()[:6]
        year = corte.year
        members: list[tuple[str, bytes, int]] = []
        summaries = {}
        for election in self.elections:
            data, summary = self.results_csv(election, corte)
            summaries[election] = dict(summary)
            files = [
                (f"{self.state}_{election}_{year}.csv", data, zipfile.ZIP_DEFLATED),
                (
                    f"{self.state}_{election}_CANDIDATURAS_{year}.csv",
                    self.candidaturas_csv(election),
                    zipfile.ZIP_DEFLATED,
                ),
                ("LEEME.txt", self.leeme(election), zipfile.ZIP_DEFLATED),
            ]
            inner = self.name(corte, election)
            if self.nesting == "zip":
                members.append(
                    (inner, _zip_bytes(files, stamp, self.compresslevel), zipfile.ZIP_STORED)
                )
            elif self.nesting == "folder":
                folder = inner[:-4]
                members.extend((f"{folder}/{n}", b, c) for n, b, c in files)
            else:
                members.extend(f for f in files if f[0] != "LEEME.txt")
                if not any(m[0] == "LEEME.txt" for m in members):
                    members.append(files[2])
        if self.site is not None:
            members.extend(_site_files(self.site, corte, summaries))
        return _zip_bytes(members, stamp, self.compresslevel)

    def write(
        self,
        corte: int | datetime,
        out_dir: str | os.PathLike,
        *,
        sidecar: bool = False,
        name: str | None = None,
    ) -> Path:
        """Write the package of corte ``corte`` (index or datetime) into ``out_dir``.

        The file appears atomically (written under a dot-name, then renamed), and its
        ``.sha256`` sidecar, when asked for, appears before it."""
        if isinstance(corte, int):
            corte = self.corte_time(corte)
        corte = _local(corte, self.tz)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = self.package_bytes(corte)
        name = name or self.name(corte)
        if sidecar:
            write_sidecar(out / name, data)
        _atomic_write(out / name, data)
        return out / name


def _local(value: datetime | str, tz) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value.astimezone(tz)


def _zip_bytes(files: Iterable[tuple[str, bytes, int]], stamp, level: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = method
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            zf.writestr(
                info,
                data,
                compress_type=method,
                compresslevel=level if method == zipfile.ZIP_DEFLATED else None,
            )
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_sidecar(zip_path: str | os.PathLike, data: bytes | None = None) -> Path:
    """``NAME.zip.sha256`` holding ``<hex>  <NAME.zip>`` like sha256sum."""
    zip_path = Path(zip_path)
    if data is None:
        data = zip_path.read_bytes()
    side = zip_path.with_name(zip_path.name + ".sha256")
    _atomic_write(side, f"{hashlib.sha256(data).hexdigest()}  {zip_path.name}\n".encode())
    return side


# ----------------------------------------------------------------------------- API


def generate_series(
    out_dir: str | os.PathLike,
    cortes: int = 97,
    *,
    start: datetime | str = "2024-06-02T20:00",
    period_minutes: int = 15,
    state: str = "VER",
    actas: int = 11030,
    elections: Sequence[str] | str = ("GUB", "DIP_LOC"),
    dialect: Dialect | str | None = None,
    seed: int = 2024,
    sidecar: bool = False,
    final_capture: float = 0.98,
    nesting: str = "zip",
    site: SiteSpec | None = None,
) -> list[Path]:
    """Write ``cortes`` packages every ``period_minutes`` from ``start``; returns their paths."""
    series = Series(
        start=start,
        cortes=cortes,
        period_minutes=period_minutes,
        state=state,
        actas=actas,
        elections=elections,
        dialect=dialect,
        seed=seed,
        final_capture=final_capture,
        nesting=nesting,
        site=site,
    )
    return [series.write(i, out_dir, sidecar=sidecar) for i in range(series.cortes)]


def make_package(
    path: str | os.PathLike,
    corte_datetime: datetime | str,
    capture_fraction: float = 0.5,
    *,
    state: str = "VER",
    actas: int = 11030,
    elections: Sequence[str] | str = ("GUB", "DIP_LOC"),
    dialect: Dialect | str | None = None,
    seed: int = 2024,
    sidecar: bool = False,
    nesting: str = "zip",
    fuera_catalogo: int | None = None,
    site: SiteSpec | None = None,
    timezone: str = TZ_NAME,
) -> Path:
    """Write one package at ``path`` (a file path, or a directory to get the standard name)
    for the corte ``corte_datetime`` (local time if naive) with ``capture_fraction`` of the
    actas captured."""
    tz = ZoneInfo(timezone)
    corte = _local(corte_datetime, tz)
    series = Series(
        start=corte,
        cortes=1,
        state=state,
        actas=actas,
        elections=elections,
        dialect=dialect,
        seed=seed,
        fuera_catalogo=fuera_catalogo,
        nesting=nesting,
        timezone=timezone,
        site=site,
        capture_model=fraction_capture_model(corte, capture_fraction),
    )
    path = Path(path)
    if path.is_dir():
        return series.write(corte, path, sidecar=sidecar)
    return series.write(corte, path.parent, sidecar=sidecar, name=path.name)
