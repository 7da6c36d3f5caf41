"""Static tables for synthetic PREP data: states, elections, parties, district names."""

from __future__ import annotations

# abbreviation -> (ID_ENTIDAD, ENTIDAD)
STATES: dict[str, tuple[int, str]] = {
    "AGS": (1, "AGUASCALIENTES"),
    "BC": (2, "BAJA CALIFORNIA"),
    "BCS": (3, "BAJA CALIFORNIA SUR"),
    "CAMP": (4, "CAMPECHE"),
    "COAH": (5, "COAHUILA"),
    "COL": (6, "COLIMA"),
    "CHIS": (7, "CHIAPAS"),
    "CHIH": (8, "CHIHUAHUA"),
    "CDMX": (9, "CIUDAD DE MÉXICO"),
    "DGO": (10, "DURANGO"),
    "GTO": (11, "GUANAJUATO"),
    "GRO": (12, "GUERRERO"),
    "HGO": (13, "HIDALGO"),
    "JAL": (14, "JALISCO"),
    "MEX": (15, "MÉXICO"),
    "MICH": (16, "MICHOACÁN"),
    "MOR": (17, "MORELOS"),
    "NAY": (18, "NAYARIT"),
    "NL": (19, "NUEVO LEÓN"),
    "OAX": (20, "OAXACA"),
    "PUE": (21, "PUEBLA"),
    "QRO": (22, "QUERÉTARO"),
    "QROO": (23, "QUINTANA ROO"),
    "SLP": (24, "SAN LUIS POTOSÍ"),
    "SIN": (25, "SINALOA"),
    "SON": (26, "SONORA"),
    "TAB": (27, "TABASCO"),
    "TAMS": (28, "TAMAULIPAS"),
    "TLAX": (29, "TLAXCALA"),
    "VER": (30, "VERACRUZ"),
    "YUC": (31, "YUCATÁN"),
    "ZAC": (32, "ZACATECAS"),
}

# election code -> (title on line 1, TIPO_ACTA code, federal district labels?)
ELECTIONS: dict[str, tuple[str, int, bool]] = {
    "PRES": ("PRESIDENCIA DE LA REPÚBLICA", 1, True),
    "SEN": ("SENADURÍAS", 2, True),
    "DIP_FED": ("DIPUTACIONES FEDERALES", 3, True),
    "GUB": ("GUBERNATURA", 4, False),
    "GOB": ("GUBERNATURA", 4, False),
    "DIP_LOC": ("DIPUTACIONES LOCALES", 5, False),
    "AYUN": ("AYUNTAMIENTOS", 6, False),
    "ALC": ("ALCALDÍAS", 7, False),
}

# (column, base weight of the vote share)
PARTIES: list[tuple[str, float]] = [
    ("PAN", 0.16),
    ("PRI", 0.10),
    ("PRD", 0.03),
    ("PVEM", 0.08),
    ("PT", 0.06),
    ("MC", 0.08),
    ("MORENA", 0.36),
    ("FXM", 0.02),
    ("PAN_PRI_PRD", 0.012),
    ("PAN_PRI", 0.006),
    ("PAN_PRD", 0.003),
    ("PRI_PRD", 0.002),
    ("PVEM_PT_MORENA", 0.02),
    ("PVEM_PT", 0.004),
    ("PVEM_MORENA", 0.008),
    ("PT_MORENA", 0.006),
    ("NO_REGISTRADAS", 0.001),
    ("NULOS", 0.03),
]

# Thirty local-district names (synthetic data: used as labels only).
DISTRICT_NAMES = [
    "PÁNUCO",
    "TANTOYUCA",
    "TUXPAN",
    "ÁLAMO TEMAPACHE",
    "POZA RICA",
    "PAPANTLA",
    "MARTÍNEZ DE LA TORRE",
    "MISANTLA",
    "PEROTE",
    "XALAPA I",
    "XALAPA II",
    "COATEPEC",
    "EMILIANO ZAPATA",
    "VERACRUZ I",
    "VERACRUZ II",
    "BOCA DEL RÍO",
    "MEDELLÍN",
    "HUATUSCO",
    "CÓRDOBA",
    "ORIZABA",
    "CAMERINO Z. MENDOZA",
    "ZONGOLICA",
    "COSAMALOAPAN",
    "SANTIAGO TUXTLA",
    "SAN ANDRÉS TUXTLA",
    "COSOLEACAQUE",
    "ACAYUCAN",
    "MINATITLÁN",
    "COATZACOALCOS I",
    "COATZACOALCOS II",
]

OBS_COUNTED = ["Ilegible", "Sin dato", "Excede lista nominal"]
OBS_NOT_COUNTED = ["Sin acta", "Todos los campos ilegibles", "Sin dato", "Excede lista nominal"]
