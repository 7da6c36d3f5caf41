"""
The compliance matrix: one row per requirement of the 2024 call (and the 2018 TLS rule), each
with the settings that implement it, the control on the host, the host tests that check it,
and the live result with what was measured.

Statuses: ``PASS`` met, as measured; ``WARN`` the kit's part is in place but the server falls
short of something only its owner can change (resources, a certificate about to expire);
``FAIL`` not met on the server as it is now; ``MANUAL`` the kit cannot measure it from the
server: the row says how to evidence it by hand.

Pure: ``evaluate(settings, observed)`` from the dict that ``observe`` reads.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from difusor import documents
from difusor.deploys.firewall import PUBLIC_TCP_PORTS
from difusor.deploys.portal import content_security_policy
from difusor.evidence import firewall
from difusor.hardening import MINIMUM_RESOURCES
from difusor.preflight import unsupported_system
from difusor.settings import Settings

PASS, WARN, FAIL, MANUAL = "PASS", "WARN", "FAIL", "MANUAL"
STATUSES = (PASS, WARN, FAIL, MANUAL)
STATUS_NAMES = {
    PASS: "cumple",
    WARN: "advertencia",
    FAIL: "no cumple",
    MANUAL: "verificación manual",
}
CERTIFICATE_MARGIN_DAYS = 14

Observed = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    status: str
    measured: str


@dataclass(frozen=True)
class Requirement:
    key: str  # unique, e.g. "II.C.c-873"
    clause: str  # as the call numbers it, e.g. "2024 II.C.c"
    title: str  # what is asked, in the kit's words (Spanish)
    settings: tuple[str, ...]  # the settings that implement it
    control: str  # what on the server implements it (Spanish)
    tests: tuple[str, ...]  # host suite test ids that check it (fnmatch patterns)
    check: Callable[[Settings, Observed], Finding]
    by_hand: str = ""  # how to evidence by hand what the kit cannot measure
    measured_by: str = "medición directa del servidor"  # where no host test checks it


# -- helpers -----------------------------------------------------------------------------------


def _active(o: Observed, unit: str) -> bool:
    return bool(o.get("services", {}).get(unit, {}).get("active"))


def _reach(o: Observed, port: int) -> dict[str, Any]:
    return o.get("reachability", {}).get(str(port), {})


def _reach_text(o: Observed, port: int) -> str:
    probe = _reach(o, port)
    where = o.get("operator_address") or "el equipo del operador"
    if probe.get("open"):
        answer = f" ({probe['answer']})" if probe.get("answer") else ""
        return f"alcanzable desde {where}{answer}"
    return f"no alcanzable desde {where} ({probe.get('error') or 'sin medir'})"


# Interfaces of the host's own containers: not addresses the server is reached at.
CONTAINER_INTERFACES = ("docker", "br-", "veth")


def own_addresses(o: Observed) -> list[dict[str, Any]]:
    return [
        a
        for a in o.get("addresses", [])
        if not str(a.get("interface", "")).startswith(CONTAINER_INTERFACES)
    ]


def _listing(items: list[str], empty: str = "ninguno") -> str:
    return ", ".join(items) if items else empty


def _gib(megabytes: int) -> str:
    return f"{megabytes / 1024:.1f}".replace(".0", "") + " GiB"


def _worst(*statuses: str) -> str:
    order = {PASS: 0, MANUAL: 1, WARN: 2, FAIL: 3}
    return max(statuses, key=order.__getitem__)


# -- II.A server resources ---------------------------------------------------------------------


def check_cpu(s: Settings, o: Observed) -> Finding:
    r = o.get("resources", {})
    cores, mhz = r.get("cores"), r.get("mhz")
    clock = f" de {mhz / 1000:.1f} GHz" if mhz else " (frecuencia no disponible)"
    wanted = MINIMUM_RESOURCES["cores"], MINIMUM_RESOURCES["mhz"] / 1000
    enough = (cores or 0) >= wanted[0] and (not mhz or mhz >= MINIMUM_RESOURCES["mhz"])
    text = f"{cores} núcleos{clock} medidos; se piden {wanted[0]} de {wanted[1]:.1f} GHz"
    return Finding(PASS if enough else WARN, text)


def check_memory(s: Settings, o: Observed) -> Finding:
    memory = o.get("resources", {}).get("memory_mb") or 0
    enough = memory >= MINIMUM_RESOURCES["memory_mb"]
    return Finding(PASS if enough else WARN, f"{_gib(memory)} de RAM medidos; se piden 16 GB")


def check_storage(s: Settings, o: Observed) -> Finding:
    r = o.get("resources", {})
    size = r.get("root_gb") or 0
    kind = {
        False: "de estado sólido",
        True: "reportado como rotacional (en una máquina virtual puede ser un SSD: confírmelo "
        "con el proveedor)",
        None: "de tipo no determinado",
    }[r.get("rotational")]
    enough = size >= MINIMUM_RESOURCES["root_gb"] and r.get("rotational") is False
    text = f"{size} GiB en /, disco {kind}; se piden 100 GB de estado sólido"
    return Finding(PASS if enough else WARN, text)


def not_measurable(s: Settings, o: Observed) -> Finding:
    return Finding(MANUAL, "no se puede medir desde el servidor")


# -- II.B software -----------------------------------------------------------------------------


def check_os(s: Settings, o: Observed) -> Finding:
    system = o.get("os", {})
    container = o.get("container", "none")
    where = f" (contenedor {container})" if container not in ("none", None) else ""
    text = f"{system.get('pretty')}{where}"
    if unsupported_system(system.get("name"), system.get("major"), system.get("minor")):
        return Finding(FAIL, f"{text}: el kit no lo soporta")
    if system.get("name") != "Ubuntu":
        return Finding(WARN, f"{text}: Linux, pero la convocatoria pide Ubuntu (22.04 LTS)")
    return Finding(PASS, text)


def check_docker(s: Settings, o: Observed) -> Finding:
    docker = o.get("docker", {})
    running = [c for c in docker.get("containers", []) if c.get("state") == "running"]
    version = docker.get("version") or "Docker no instalado"
    if not _active(o, "docker.service"):
        return Finding(FAIL, f"{version}; el servicio docker no está activo")
    containers = documents.counted(len(running), "contenedor", "contenedores")
    return Finding(PASS, f"{version}, activo; {containers} en ejecución")


def check_ssh(s: Settings, o: Observed) -> Finding:
    sshd = o.get("sshd", {})
    active = _active(o, "ssh.service")
    reach = _reach(o, 22).get("open")
    methods = ["llave" if sshd.get("pubkeyauthentication") == "yes" else ""]
    if sshd.get("passwordauthentication") == "yes":
        methods.append("contraseña")
    text = (
        f"sshd {'activo' if active else 'inactivo'}; puerto 22 {_reach_text(o, 22)}; "
        f"acceso por {' y '.join(m for m in methods if m) or 'ningún método'}"
    )
    expect_reach = o.get("operator_trusted") is not False
    return Finding(PASS if active and (reach or not expect_reach) else FAIL, text)


def check_ntp(s: Settings, o: Observed) -> Finding:
    chrony = o.get("chrony", {})
    sources = chrony.get("sources", [])
    outgoing = o.get("ufw", {}).get("defaults", {}).get("outgoing")
    text = (
        f"servidores configurados: {_listing(sources)}; salida UDP 123: "
        f"{'permitida' if outgoing == 'allow' else f'política de salida {outgoing}'}"
    )
    if not _active(o, "chrony.service"):
        return Finding(FAIL, f"chrony no está activo; {text}")
    if sorted(sources) != sorted(s.ntp_servers):
        return Finding(FAIL, f"{text}; los ajustes dicen {_listing(list(s.ntp_servers))}")
    if outgoing != "allow":
        return Finding(FAIL, text)
    if chrony.get("leap_status") != "Normal":
        return Finding(WARN, f"chrony activo pero aún sin sincronizar; {text}")
    offset = chrony.get("offset_seconds") or 0.0
    # 'C6120014 (198.18.0.20)': the reference's id and, in parentheses, its address
    reference = str(chrony.get("reference", "")).partition("(")[2].rstrip(")") or "?"
    return Finding(
        PASS,
        f"chrony sincronizado con {reference} "
        f"(estrato {chrony.get('stratum')}, desfase {offset:+.6f} s); {text}",
    )


def check_root(s: Settings, o: Observed) -> Finding:
    access = o.get("access", {})
    # sshd -T reads nothing while sshd is stopped (its runtime directory goes with it)
    login = o.get("sshd", {}).get("permitrootlogin", "configuración de sshd ilegible")
    keys = access.get("root_keys", 0)
    sudo = access.get("sudo_members", [])
    by_key = login in ("without-password", "prohibit-password")
    text = (
        f"root por SSH: {'sólo con llave' if by_key else login}"
        f", {documents.counted(keys, 'llave')} del instituto para root; sudo sin contraseña: "
        f"{_listing(sudo, 'nadie')}"
    )
    if keys != len(s.root_ssh_keys):
        return Finding(FAIL, f"{text}; los ajustes tienen {len(s.root_ssh_keys)} llaves")
    expected = sorted(op.name for op in s.operators if op.sudo)
    if sorted(sudo) != expected:
        return Finding(FAIL, f"{text}; los ajustes dan sudo a {_listing(expected, 'nadie')}")
    if not _active(o, "ssh.service"):
        return Finding(FAIL, f"sshd inactivo: nadie entra por SSH, ni como root; {text}")
    has_root = (keys and login != "no") or sudo
    return Finding(PASS if has_root else FAIL, text)


# -- II.C network and security -----------------------------------------------------------------


def check_public_ip(s: Settings, o: Observed) -> Finding:
    addresses = own_addresses(o)
    public = [a["address"] for a in addresses if a.get("public")]
    if public:
        return Finding(PASS, f"dirección pública en el servidor: {_listing(public)}")
    own = _listing([a["address"] for a in addresses])
    resolved = o.get("dns", {}).get("addresses", [])
    if s.rehearsal:
        return Finding(WARN, f"ensayo: sólo direcciones reservadas ({own})")
    return Finding(
        MANUAL,
        f"el servidor sólo tiene direcciones privadas ({own}); {s.portal_domain} resuelve a "
        f"{_listing(resolved, 'nada')}: puede estar detrás de NAT",
    )


def check_firewall(s: Settings, o: Observed) -> Finding:
    ufw = o.get("ufw", {})
    rules = ufw.get("rules", [])
    defaults = ufw.get("defaults", {})
    policy = (
        f"entrada {defaults.get('incoming')}, salida {defaults.get('outgoing')}, "
        f"reenvío {defaults.get('routed')}; IPv6 {'sí' if ufw.get('ipv6') else 'no'}"
    )
    if not ufw.get("active"):
        return Finding(FAIL, f"ufw inactivo; {policy}")
    drift = firewall.drift(s, rules)
    expected_policy = defaults == {"incoming": "deny", "outgoing": "allow", "routed": "deny"}
    text = f"ufw activo; {policy}; {len(rules)} reglas"
    problems = []
    if drift.unexpected:
        problems.append("reglas no previstas: " + "; ".join(drift.unexpected))
    if drift.missing:
        problems.append("reglas que faltan: " + "; ".join(drift.missing))
    if not expected_policy or not ufw.get("ipv6"):
        problems.append("políticas distintas de las del kit")
    if problems:
        return Finding(FAIL, f"{text}; " + "; ".join(problems))
    return Finding(PASS, f"{text}, exactamente las de los ajustes")


def check_public_ports(s: Settings, o: Observed) -> Finding:
    rules = o.get("ufw", {}).get("rules", [])
    parts, ok = [], True
    for port in PUBLIC_TCP_PORTS:
        sources = firewall.sources_for(rules, port)
        reach = _reach(o, port).get("open")
        ok = ok and firewall.ANY in sources and bool(reach)
        who = "cualquier origen" if firewall.ANY in sources else _listing(sorted(sources), "nadie")
        parts.append(f"TCP {port} abierto a {who}, {_reach_text(o, port)}")
    if not _active(o, "nginx.service"):
        return Finding(FAIL, "nginx inactivo; " + "; ".join(parts))
    return Finding(PASS if ok else FAIL, "; ".join(parts))


def _trusted_port(s: Settings, o: Observed, port: int, unit: str, name: str) -> Finding:
    rules = o.get("ufw", {}).get("rules", [])
    sources = firewall.sources_for(rules, port)
    trusted = firewall.trusted_sources_as_rules(s)
    strangers = sorted(sources - set(trusted))
    named = ", ".join(f"{source} ({trusted[source]})" for source in sorted(sources & set(trusted)))
    text = f"TCP {port} sólo desde redes de confianza: {named or 'ninguna'}"
    operator_trusted = o.get("operator_trusted")
    reach = _reach(o, port).get("open")
    operator = "de confianza" if operator_trusted else "fuera de las redes de confianza"
    text += f"; {_reach_text(o, port)} ({operator})"
    problems = []
    if strangers:
        problems.append(
            "también abierto a: " + ", ".join(strangers).replace(firewall.ANY, "cualquier origen")
        )
    if set(trusted) - sources:
        problems.append("faltan: " + ", ".join(sorted(set(trusted) - sources)))
    if operator_trusted is not None and bool(reach) != operator_trusted:
        problems.append(
            "no responde a un origen de confianza"
            if operator_trusted
            else "responde a un origen ajeno"
        )
    if not _active(o, unit):
        problems.append(f"{name} inactivo")
    if problems:
        return Finding(FAIL, f"{text}; " + "; ".join(problems))
    return Finding(PASS, text)


def check_ssh_port(s: Settings, o: Observed) -> Finding:
    return _trusted_port(s, o, 22, "ssh.service", "sshd")


def check_rsync_port(s: Settings, o: Observed) -> Finding:
    return _trusted_port(s, o, 873, "rsync.service", "rsync")


def check_intrusions(s: Settings, o: Observed) -> Finding:
    jails = o.get("fail2ban", {})
    listed = ", ".join(
        f"{name} ({jail.get('currently_banned', 0)} bloqueos vigentes, "
        f"{jail.get('total_banned', 0)} en total)"
        for name, jail in sorted(jails.items())
    )
    if not _active(o, "fail2ban.service") or not jails:
        return Finding(FAIL, "fail2ban inactivo o sin jaulas")
    return Finding(PASS, f"fail2ban activo, jaulas: {listed}; nunca bloquea las redes de confianza")


def check_url(s: Settings, o: Observed) -> Finding:
    page = o.get("http", {}).get("/", {})
    url = f"https://{s.portal_domain}/"
    certificate = o.get("certificate") or {}
    dns = o.get("dns", {})
    resolved = (
        f"el nombre resuelve a {_listing(dns['addresses'])}"
        if dns.get("addresses")
        else "el nombre aún no resuelve desde aquí"
    )
    if page.get("status") != 200 or not page.get("verified"):
        problem = page.get("error") or f"respuesta {page.get('status')}"
        return Finding(FAIL, f"{url}: {problem}; {resolved}")
    expires = _expiry(certificate.get("not_after"))
    text = (
        f"{url} responde {page['status']} con certificado válido para el nombre "
        f"(emisor {_common_name(certificate.get('issuer', '?'))}, vence {expires:%Y-%m-%d}); "
        f"{resolved}"
        if expires
        else f"{url} responde {page['status']} con certificado válido; {resolved}"
    )
    if expires and expires - datetime.now(timezone.utc) < timedelta(days=CERTIFICATE_MARGIN_DAYS):
        return Finding(
            WARN, f"{text}: el certificado vence en menos de {CERTIFICATE_MARGIN_DAYS} días"
        )
    if not dns.get("addresses") and not s.rehearsal:
        return Finding(WARN, text)
    return Finding(PASS, text)


def _common_name(distinguished: str) -> str:
    """'C = US, O = Let's Encrypt, CN = R11' -> 'R11' (the whole name when it has no CN)."""
    for part in distinguished.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "CN":
            return value.strip()
    return distinguished


def _expiry(not_after: str | None) -> datetime | None:
    """openssl's 'Jun  2 12:00:00 2031 GMT'."""
    try:
        moment = datetime.strptime(not_after or "", "%b %d %H:%M:%S %Y %Z")
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc)


def check_ddos(s: Settings, o: Observed) -> Finding:
    nginx = o.get("nginx", {})
    limited = bool(nginx.get("limit_req")) and bool(nginx.get("limit_conn"))
    cdn = {"cloudflare": "CDN Cloudflare delante del portal"}.get(s.cdn, "sin CDN ni WAF")
    text = (
        f"límites por dirección en nginx: {s.rate_limit_per_second} solicitudes/s y "
        f"{s.connection_limit} conexiones; {cdn} (opcionales)"
    )
    return Finding(PASS if limited else WARN, text if limited else f"sin límites en nginx; {cdn}")


# -- I, III, VI: operation ---------------------------------------------------------------------


def check_logging(s: Settings, o: Observed) -> Finding:
    nginx = o.get("nginx", {})
    json_log = any("difusor_json" in value for value in nginx.get("access_log", []))
    visitor = "on" in nginx.get("userid", [])
    text = (
        "registro JSON de cada solicitud (página, hora, visitante por cookie, corte); "
        f"conservado {s.log_retention_days} días; visitantes, páginas, listado y permanencia "
        "se calculan con difusor.report"
    )
    if not (json_log and visitor and _active(o, "nginx.service")):
        return Finding(FAIL, "el registro de accesos de nginx no es el del kit")
    return Finding(PASS, text)


def _corte(o: Observed) -> dict[str, Any] | None:
    """The live corte's stamp; None before the first corte (the placeholder is live)."""
    live = (o.get("publisher", {}).get("status") or {}).get("live") or {}
    return live if live.get("corte") else None


def check_latest_corte(s: Settings, o: Observed) -> Finding:
    publishing = _active(o, "difusor-publisher.service") and _active(o, "difusor-monitor.timer")
    stamp = o.get("http", {}).get("/corte.json", {})
    health = (o.get("publisher", {}).get("status") or {}).get("health") or {}
    live = _corte(o)
    if not publishing:
        return Finding(FAIL, "el publicador o el monitor de frescura no están activos")
    if not live:
        return Finding(
            PASS,
            "aún sin corte: el portal muestra la página provisional; publicador y monitor de "
            "frescura activos",
        )
    served = stamp.get("status") == 200 and live.get("package", "") in stamp.get("body", "")
    text = (
        f"corte vigente {live.get('corte')} ({live.get('package')}), mostrado en /corte.json "
        f"y en la cabecera X-PREP-Corte; monitor de frescura: {health.get('level', '?')}"
    )
    if not served:
        return Finding(
            FAIL, f"{text}; /corte.json no lo sirve ({stamp.get('error') or stamp.get('status')})"
        )
    if health.get("status") == "stale":
        return Finding(WARN, f"{text}, {health.get('missed_periods')} periodos sin corte nuevo")
    return Finding(PASS, text)


def check_continuity(s: Settings, o: Observed) -> Finding:
    publisher = o.get("publisher", {})
    archive = publisher.get("archive") or {}
    status = publisher.get("status") or {}
    alerts = "webhook de alertas configurado" if s.alert_webhook else "sin webhook de alertas"
    published = documents.counted(
        archive.get("published", 0), "paquete publicado", "paquetes publicados"
    )
    rejected = documents.counted(archive.get("rejected", 0), "rechazado")
    releases = documents.counted(
        len(status.get("releases", [])), "versión lista", "versiones listas"
    )
    text = (
        f"{published} y {rejected} en el archivo; {releases} para volver atrás; monitor de "
        f"frescura cada minuto, {alerts}"
    )
    if not _active(o, "difusor-monitor.timer"):
        return Finding(FAIL, f"{text}; el monitor no está activo")
    return Finding(PASS, text)


def check_window(s: Settings, o: Observed) -> Finding:
    config = o.get("publisher", {}).get("config") or {}
    wanted = s.publication_start.isoformat(timespec="minutes") if s.publication_start else None
    if config.get("window_start") != wanted:
        return Finding(
            FAIL,
            f"el servidor vigila desde {config.get('window_start')}, los ajustes dicen {wanted}: "
            "despliegue de nuevo",
        )
    if s.publication_start:
        end = (s.publication_start + timedelta(days=7)).date()
        window = f"monitor de publicación del {s.publication_start:%Y-%m-%d %H:%M} al {end} 23:59"
    else:
        window = "monitor de publicación permanente (publication_start sin fijar)"
    return Finding(
        PASS,
        f"{window}; cada corte se publica al llegar y el último queda publicado; ningún paquete "
        "se borra del archivo",
    )


def check_unaltered(s: Settings, o: Observed) -> Finding:
    integrity = o.get("publisher", {}).get("integrity")
    page = o.get("http", {}).get("/", {})
    public = (
        "portal público y gratuito, sin autenticación (HTTP 200)"
        if page.get("status") == 200
        else f"el portal no respondió ({page.get('error') or page.get('status')})"
    )
    if page.get("status") != 200:
        return Finding(FAIL, public)
    if not integrity:
        return Finding(
            PASS, f"{public}; aún sin corte: se verificará contra su manifiesto con el primero"
        )
    bad = integrity.get("mismatched", []) + integrity.get("missing", [])
    text = (
        f"{public}; corte {integrity.get('package')}: {integrity.get('files')} archivos "
        f"({integrity.get('bytes', 0) / 1e6:.1f} MB) idénticos byte a byte a su manifiesto "
        "(sha256)"
    )
    if bad:
        return Finding(FAIL, f"{public}; archivos alterados o ausentes: {_listing(bad[:10])}")
    if not integrity.get("archived_sha256_ok"):
        return Finding(FAIL, f"{text}; el paquete archivado no coincide con su sha256")
    return Finding(PASS, f"{text}; paquete archivado íntegro")


def check_embedding(s: Settings, o: Observed) -> Finding:
    headers = o.get("http", {}).get("/", {}).get("headers", {})
    policy = headers.get("content-security-policy", "")
    wanted = content_security_policy(s).split(";", 1)[0]
    frame = headers.get("x-frame-options")
    text = f"Content-Security-Policy: {policy.split(';', 1)[0] or 'ausente'}"
    if wanted not in policy or (frame and frame.upper() == "DENY"):
        return Finding(FAIL, f"{text}; se esperaba {wanted}")
    sites = _listing(list(s.embed_origins), "sólo el propio portal")
    return Finding(PASS, f"{text} (sitios que pueden embeber: {sites})")


def check_tls(s: Settings, o: Observed) -> Finding:
    tls = o.get("tls", {})
    if tls.get("error"):
        return Finding(FAIL, tls["error"])
    accepted = tls.get("accepted", {})
    names = {
        "ssl_2_0": "SSL 2.0",
        "ssl_3_0": "SSL 3.0",
        "tls_1_0": "TLS 1.0",
        "tls_1_1": "TLS 1.1",
        "tls_1_2": "TLS 1.2",
        "tls_1_3": "TLS 1.3",
    }
    on = [names[p] for p in names if accepted.get(p)]
    old = [names[p] for p in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1") if accepted.get(p)]
    mozilla = (
        "conforme al perfil intermedio de Mozilla"
        if tls.get("mozilla_intermediate")
        else "no conforme al perfil intermedio de Mozilla: " + "; ".join(tls.get("issues", []))
    )
    text = f"protocolos aceptados: {_listing(on)}; {mozilla}"
    ok = not old and bool(accepted.get("tls_1_2")) and tls.get("mozilla_intermediate")
    return Finding(PASS if ok else FAIL, text)


def check_contacts(s: Settings, o: Observed) -> Finding:
    if not s.contacts:
        return Finding(WARN, "sin personal registrado: agregue contacts a los ajustes")
    roles = Counter(contact.role for contact in s.contacts)
    text = ", ".join(f"{n} de {role}" for role, n in roles.items())
    people = "1 persona" if len(s.contacts) == 1 else f"{len(s.contacts)} personas"
    return Finding(PASS, f"{people} ({text}) en personal.csv")


# -- the requirements --------------------------------------------------------------------------

HOST = "tests/host/"

REQUIREMENTS: list[Requirement] = [
    Requirement(
        "II.A.a",
        "2024 II.A.a",
        "Servidor con 8 núcleos de 2.0 GHz o más",
        (),
        "revisión previa del despliegue (umbral MINIMUM_RESOURCES de difusor/hardening.py)",
        (),
        check_cpu,
    ),
    Requirement(
        "II.A.b",
        "2024 II.A.b",
        "16 GB de memoria RAM",
        (),
        "revisión previa del despliegue (MINIMUM_RESOURCES)",
        (),
        check_memory,
    ),
    Requirement(
        "II.A.c",
        "2024 II.A.c",
        "100 GB de almacenamiento en estado sólido",
        (),
        "revisión previa del despliegue (MINIMUM_RESOURCES)",
        (),
        check_storage,
        "Si el disco es SSD pero se reporta como rotacional, adjunte la ficha del plan del "
        "proveedor.",
    ),
    Requirement(
        "II.A.d",
        "2024 II.A.d",
        "Opcional: redundancia de energía y climatización",
        (),
        "fuera del servidor (centro de datos)",
        (),
        not_measurable,
        "Adjunte la ficha técnica o el contrato del centro de datos o del proveedor de nube que "
        "describa la redundancia eléctrica (UPS, planta) y de climatización.",
    ),
    Requirement(
        "II.B.a",
        "2024 II.B.a",
        "Sistema operativo Linux Ubuntu estable (recomendado 22.04 LTS)",
        (),
        "el despliegue se niega a correr en un sistema no soportado",
        (),
        check_os,
    ),
    Requirement(
        "II.B.b",
        "2024 II.B.b",
        "Plataforma Docker instalada para desplegar aplicaciones",
        ("docker_source", "docker_public_ports", "docker_trusted_ports"),
        "Docker con daemon.json endurecido; puertos publicados dentro del cortafuegos "
        "(DOCKER-USER)",
        (HOST + "test_docker.py::*",),
        check_docker,
    ),
    Requirement(
        "II.B.c",
        "2024 II.B.c",
        "Acceso por SSH para la configuración",
        ("operators", "ssh_password_authentication"),
        "sshd según la línea base SSH de DevSec, cuentas de operadores con llave",
        (
            HOST + "test_ssh.py::test_packages*",
            HOST + "test_ssh.py::test_sshd_*",
            HOST + "test_ssh.py::test_no_small_moduli",
            HOST + "test_ssh.py::test_operators_have_keys_and_sudo",
        ),
        check_ssh,
    ),
    Requirement(
        "II.B.d",
        "2024 II.B.d",
        "Cliente NTP (salida UDP 123)",
        ("ntp_servers", "timezone"),
        "chrony con los servidores de los ajustes, sin puerto de comandos",
        (HOST + "test_time.py::*",),
        check_ntp,
    ),
    Requirement(
        "II.B.e",
        "2024 II.B.e",
        "Usuario con privilegios de root",
        ("root_ssh_keys", "operators"),
        "llaves del instituto en /etc/ssh/authorized_keys.d/root; sudo sin contraseña",
        (
            HOST + "test_ssh.py::test_root_keys_are_exactly_the_settings",
            HOST + "test_ssh.py::test_only_current_operators_hold_sudo",
            HOST + "test_ssh.py::test_sudoers_valid_and_passwordless",
        ),
        check_root,
    ),
    Requirement(
        "II.C.a",
        "2024 II.C.a",
        "Enlace de 100 Mbps simétricos",
        (),
        "fuera del servidor (enlace del proveedor)",
        (),
        not_measurable,
        "Adjunte el contrato o la constancia del proveedor (100 Mbps de subida y de bajada) y "
        "una medición en ambos sentidos desde el servidor (p. ej. iperf3 contra un servidor del "
        "proveedor).",
    ),
    Requirement(
        "II.C.b",
        "2024 II.C.b",
        "Dirección IP pública",
        ("portal_domain",),
        "—",
        (),
        check_public_ip,
        "Si el servidor está detrás de NAT, adjunte la asignación de la IP pública del "
        "proveedor y su traducción a este servidor.",
    ),
    Requirement(
        "II.C.c-ufw",
        "2024 II.C.c",
        "Cortafuegos: todo cerrado salvo lo que la convocatoria permite",
        ("trusted_sources", "docker_public_ports", "docker_trusted_ports"),
        "ufw: entrada denegada por omisión, sólo las reglas de los ajustes (una regla añadida "
        "a mano se retira en el siguiente despliegue)",
        (
            HOST + "test_firewall.py::test_active_with_default_policies",
            HOST + "test_firewall.py::test_nothing_else_allowed",
            HOST + "test_firewall.py::test_firewall_enabled_at_boot",
        ),
        check_firewall,
    ),
    Requirement(
        "II.C.c-web",
        "2024 II.C.c",
        "TCP 80 (HTTP) y 443 (HTTPS) para cualquier origen",
        ("portal_domain",),
        "ufw allow 80/tcp y 443/tcp; nginx escucha en IPv4 e IPv6",
        (
            HOST + "test_firewall.py::test_public_ports_open_to_anyone*",
            HOST + "test_portal.py::test_nginx_valid_running_and_listening",
        ),
        check_public_ports,
    ),
    Requirement(
        "II.C.c-22",
        "2024 II.C.c",
        "TCP 22 (SSH) sólo para las direcciones de confianza",
        ("trusted_sources",),
        "ufw: una regla por red de confianza; fail2ban nunca bloquea esas redes",
        (HOST + "test_firewall.py::test_trusted_ports_only_for_trusted_sources[[]22[]]",),
        check_ssh_port,
    ),
    Requirement(
        "II.C.c-873",
        "2024 II.C.c",
        "TCP 873 (rsync) sólo para las direcciones de confianza",
        ("trusted_sources", "rsync_user"),
        "ufw por fuera y 'hosts allow' de rsync por dentro; módulo de sólo escritura con "
        "contraseña",
        (HOST + "test_firewall.py::test_trusted_ports_only_for_trusted_sources[[]873[]]",),
        check_rsync_port,
    ),
    Requirement(
        "II.C.c-ips",
        "2024 II.C.c",
        "Detección y prevención de intrusiones",
        ("trusted_sources",),
        "fail2ban bloquea en el cortafuegos a quien insiste en fallar",
        (HOST + "*::test_fail2ban*",),
        check_intrusions,
        "Si además hay un cortafuegos perimetral con IPS del proveedor, adjunte su configuración.",
    ),
    Requirement(
        "II.C.d",
        "2024 II.C.d",
        "URL de acceso al portal de difusión",
        ("portal_domain", "tls_source"),
        "nginx sólo HTTPS con certificado del nombre del portal (ACME con renovación)",
        (
            HOST + "test_portal.py::test_certificate_matches_settings",
            HOST + "test_portal.py::test_no_stock_site",
        ),
        check_url,
    ),
    Requirement(
        "II.C.e",
        "2024 II.C.e",
        "Opcional: filtro contra denegación de servicio y WAF",
        ("rate_limit_per_second", "connection_limit", "cdn", "cdn_networks"),
        "límites de solicitudes y conexiones por lector en nginx; CDN opcional",
        (HOST + "test_portal.py::test_nginx_effective_config[[]limit_*",),
        check_ddos,
        "Un filtro DDoS volumétrico o un WAF los da la CDN o el proveedor: adjunte su "
        "contratación si la tiene.",
    ),
    Requirement(
        "I.E",
        "2024 I.E",
        "Registro de visitantes, páginas consultadas, su listado y el tiempo de permanencia",
        ("log_retention_days",),
        "registro de accesos JSON de nginx con cookie de visitante; rotación diaria",
        (
            HOST + "test_portal.py::test_nginx_effective_config[[]log_format*",
            HOST + "test_portal.py::test_nginx_effective_config[[]userid*",
            HOST + "test_portal.py::test_logs_rotate_daily_with_retention",
        ),
        check_logging,
    ),
    Requirement(
        "I.H",
        "2024 I.H",
        "Publicar el último corte, con su fecha y hora, cuatro veces por hora",
        ("corte_period_minutes", "sidecar_policy"),
        "el publicador publica cada paquete al llegar, de forma atómica; /corte.json",
        (),
        check_latest_corte,
    ),
    Requirement(
        "III.c",
        "2024 III.c",
        "Revisar los requerimientos, pruebas de continuidad y procedimientos de operación y "
        "contingencia",
        ("keep_releases", "alert_webhook"),
        "archivo de todos los paquetes, versiones anteriores para volver atrás, monitor de "
        "frescura con alertas",
        (),
        check_continuity,
        "Los procedimientos de operación y contingencia son documentos del difusor: adjúntelos.",
    ),
    Requirement(
        "VI.a",
        "2024 VI.a",
        "Publicar desde las 20:00 del día de la elección y mantener los últimos resultados "
        "hasta el 9 de junio, 23:59",
        ("publication_start", "timezone"),
        "ventana de vigilancia del monitor; el último corte nunca se retira",
        (),
        check_window,
    ),
    Requirement(
        "VI.b",
        "2024 VI.b",
        "Resultados públicos, gratuitos y sin manipulación",
        ("sidecar_policy",),
        "cada paquete se verifica y se publica byte a byte; manifiesto sha256 por archivo",
        (),
        check_unaltered,
    ),
    Requirement(
        "VI.e",
        "2024 VI.e",
        "Las páginas pueden mostrarse embebidas en el portal del difusor",
        ("embed_origins",),
        "Content-Security-Policy frame-ancestors con los sitios de los ajustes",
        (),
        check_embedding,
    ),
    Requirement(
        "2018-TLS",
        "2018 II (TLS)",
        "Comunicación segura con TLS 1.2 o superior",
        ("tls_source",),
        "nginx con TLS 1.2 y 1.3 según el perfil intermedio de Mozilla",
        (HOST + "test_portal.py::test_nginx_effective_config[[]ssl_*",),
        check_tls,
    ),
    Requirement(
        "IV.a.ii",
        "2024 IV.a.ii",
        "Listado del personal de coordinación y soporte técnico",
        ("contacts",),
        "personal.csv y su sección en este documento",
        (),
        check_contacts,
        measured_by="los ajustes (contacts), validados como todos",
    ),
]


def case_matches(case_id: str, patterns: tuple[str, ...]) -> bool:
    """Whether a host test's id matches one of the patterns (fnmatch, case-sensitive)."""
    return any(fnmatch.fnmatchcase(case_id, pattern) for pattern in patterns)


def matching_cases(patterns: tuple[str, ...], cases: list[dict[str, str]]) -> list[dict[str, str]]:
    return [case for case in cases if case_matches(case["id"], patterns)]


def tests_by_module(tests: list[dict[str, str]]) -> dict[str, list[str]]:
    """Test functions by module, parameters folded into a count: {'test_ssh.py':
    ['test_packages (4)', 'test_no_small_moduli']}."""
    counted: dict[str, dict[str, int]] = {}
    for test in tests:
        module, _, function = test["id"].removeprefix("tests/host/").partition("::")
        functions = counted.setdefault(module, {})
        name = function.split("[", 1)[0]
        functions[name] = functions.get(name, 0) + 1
    return {
        module: [f"{name} ({n})" if n > 1 else name for name, n in functions.items()]
        for module, functions in counted.items()
    }


def evaluate(settings: Settings, observed: Observed) -> list[dict[str, Any]]:
    """The rows of the matrix: each requirement's finding, combined with its host tests (a
    failed test makes the row FAIL)."""
    suite = observed.get("suite", {})
    rows = []
    for requirement in REQUIREMENTS:
        finding = requirement.check(settings, observed)
        cases = matching_cases(requirement.tests, suite.get("cases", []))
        failed = [c for c in cases if c["outcome"] == "failed"]
        status, measured = finding.status, finding.measured
        if failed:
            status = _worst(status, FAIL)
            measured += "; pruebas fallidas: " + ", ".join(
                name for names in tests_by_module(failed).values() for name in names
            )
        rows.append(
            {
                "key": requirement.key,
                "clause": requirement.clause,
                "title": requirement.title,
                "settings": list(requirement.settings),
                "control": requirement.control,
                "tests": [{"id": c["id"], "outcome": c["outcome"]} for c in cases],
                "status": status,
                "measured": measured,
                "by_hand": requirement.by_hand,
                "measured_by": requirement.measured_by,
            }
        )
    return rows


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    tally = Counter(row["status"] for row in rows)
    return {status: tally.get(status, 0) for status in STATUSES}
