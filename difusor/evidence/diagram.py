"""
The service diagram the institute asks for (2024 IV.a.i), drawn by Graphviz from the settings
and what was read on the server: readers, the CDN, the firewall's actual rules, nginx and the
live corte; the trusted networks, rsync, the publisher and its storage; SSH; NTP; Docker's
containers and their ports; the server's resources and operating system.

    source = diagram_source(settings, observed)     # DOT text (observed=None: as the settings
    render(source, out_dir)                          #  describe a converged server)

Rules on the server that the settings do not have are drawn in red, rules the settings have
and the server lacks in dashed red: the diagram shows drift as it is.
"""

from __future__ import annotations

import html
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import graphviz

from difusor import documents
from difusor.deploys.firewall import desired_rules
from difusor.deploys.receiver import RSYNC_MODULE
from difusor.evidence import firewall
from difusor.evidence.matrix import own_addresses
from difusor.settings import Settings

SVG_NAME = "diagrama-servicio.svg"
PNG_NAME = "diagrama-servicio.png"
FONT = "DejaVu Sans"
COLORS = {
    "outside": "#fdf1e3",
    "trusted": "#e6f2e6",
    "service": "#e4eef8",
    "storage": "#f1f1ec",
    "rule": "#ffffff",
    "drift": "#fde3e1",
    "edge": "#4b5966",
    "alert": "#c62828",
}
PORT_SERVICES = {22: "sshd", 80: "nginx", 443: "nginx", 873: "rsync"}


def _label(title: str, *lines: str, size: int = 9) -> str:
    """An HTML-like Graphviz label: a bold title and smaller lines, all escaped."""
    body = "".join(
        f'<br/><font point-size="{size}">{html.escape(line)}</font>' for line in lines if line
    )
    return f"<<b>{html.escape(title)}</b>{body}>"


def _ports_text(rule: firewall.Rule) -> str:
    if rule.ports is None:
        return "todos los puertos"
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in rule.ports)


def _rule_groups(settings: Settings, rules: list[str]) -> dict[tuple, list[firewall.Rule]]:
    """Rules grouped into one diagram node each: the host's own rules per source (a trusted
    source's IPv4 and IPv6 networks, every port), routes to containers per port, and each rule
    the settings do not have on its own."""
    wanted = set(desired_rules(settings))
    trusted = firewall.trusted_sources_as_rules(settings)
    groups: dict[tuple, list[firewall.Rule]] = defaultdict(list)
    for text in rules:
        rule = firewall.parse_rule(text)
        if text not in wanted:
            groups[("drift", text)].append(rule)
        elif rule.routed:
            groups[("route", _ports_text(rule))].append(rule)
        else:
            groups[("in", trusted.get(rule.source, ""))].append(rule)
    return groups


def _who(source: str, trusted: dict[str, str]) -> str:
    if source == firewall.ANY:
        return "cualquier origen"
    return f"«{trusted[source]}»" if source in trusted else source


class _Drawing:
    def __init__(self, settings: Settings, observed: dict[str, Any] | None):
        self.s = settings
        self.o = observed or {}
        self.observed = observed is not None
        self.graph = graphviz.Digraph("servicio", engine="dot")
        self.graph.attr(
            rankdir="TB",
            compound="true",
            nodesep="0.22",
            ranksep="0.55",
            fontname=FONT,
            fontsize="11",
            labelloc="t",
            labeljust="l",
            pad="0.25",
            label=_label(
                f"Diagrama del servicio de difusión: {settings.portal_domain}",
                "Generado por difusor evidence a partir de los ajustes"
                + (" y de lo leído en el servidor" if self.observed else " (servidor sin leer)"),
                size=10,
            ),
        )
        self.graph.attr("node", fontname=FONT, fontsize="10", shape="box", style="rounded,filled")
        self.graph.attr("edge", fontname=FONT, fontsize="8", color=COLORS["edge"], arrowsize="0.7")

    # -- outside the server

    def outside(self) -> None:
        g = self.graph
        g.node(
            "readers",
            _label("Lectores", "cualquier origen en Internet"),
            fillcolor=COLORS["outside"],
        )
        if self.s.cdn != "none" or self.s.cdn_networks:
            networks = [str(n) for n in self.s.cdn_networks]
            title = "CDN Cloudflare" if self.s.cdn == "cloudflare" else "CDN / proxy de confianza"
            g.node(
                "cdn",
                _label(title, "dirección real del lector en X-Forwarded-For", *networks),
                fillcolor=COLORS["outside"],
            )
            g.edge("readers", "cdn", label="HTTPS")
        with g.subgraph(name="cluster_trusted") as trusted:
            trusted.attr(
                label=_label("Redes de confianza", "técnicos e instituto, administradores"),
                style="rounded,dashed",
                color="#7aa37a",
            )
            for name, networks in self.s.trusted_sources.items():
                trusted.node(
                    f"source_{name}",
                    _label(f"«{name}»", *(str(n) for n in networks)),
                    fillcolor=COLORS["trusted"],
                )
        with g.subgraph(name="cluster_time") as time:
            time.attr(label=_label("Hora oficial (NTP)"), style="rounded,dashed", color="#9aa5b1")
            for server in self.s.ntp_servers:
                time.node(
                    f"ntp_{server}", _label(server, "servidor NTP"), fillcolor=COLORS["outside"]
                )
        if self.s.alert_webhook:
            g.node("webhook", _label("Alertas", self.s.alert_webhook), fillcolor=COLORS["outside"])

    # -- the server

    def server_label(self) -> str:
        title = f"Servidor {self.o.get('target', {}).get('name', '')}".strip()
        if not self.observed:
            return _label(title, "recursos y sistema: por leer en el servidor")
        r = self.o.get("resources", {})
        system = self.o.get("os", {}).get("pretty", "?")
        container = self.o.get("container", "none")
        lines = [
            system + (f" (contenedor {container})" if container not in ("none", None) else ""),
            f"{r.get('cores')} núcleos"
            + (f" de {r['mhz'] / 1000:.1f} GHz" if r.get("mhz") else "")
            + f" · {r.get('memory_mb', 0) / 1024:.1f} GiB de RAM · {r.get('root_gb')} GiB en /",
            "direcciones: " + ", ".join(a["address"] for a in own_addresses(self.o)),
        ]
        return _label(title, *lines)

    def server(self) -> None:
        g = self.graph
        with g.subgraph(name="cluster_server") as server:
            # The server's label at the bottom: edges come in through the top.
            server.attr(
                label=self.server_label(),
                labelloc="b",
                style="rounded",
                color="#123a5e",
                penwidth="1.5",
            )
            self.firewall_cluster(server)
            self.portal(server)
            self.receiver(server)
            self.access(server)
            self.docker(server)
            server.node(
                "chrony",
                _label("chrony", "cliente NTP", *self._state("chrony.service")),
                fillcolor=COLORS["service"],
            )
        for ntp in self.s.ntp_servers:
            # Drawn from the server's left, like every other peer; the connection goes out.
            g.edge(f"ntp_{ntp}", "chrony", dir="back", label="UDP 123 (salida)")
        if self.s.alert_webhook:
            g.edge("monitor", "webhook", label="HTTPS (salida)", style="dashed")

    def _state(self, unit: str) -> list[str]:
        if not self.observed:
            return []
        active = self.o.get("services", {}).get(unit, {}).get("active")
        return ["activo" if active else "INACTIVO"]

    def _node_color(self, unit: str, color: str) -> str:
        if self.observed and not self.o.get("services", {}).get(unit, {}).get("active"):
            return COLORS["drift"]
        return color

    def firewall_cluster(self, server: graphviz.Digraph) -> None:
        ufw = self.o.get("ufw", {})
        rules = ufw.get("rules", []) if self.observed else desired_rules(self.s)
        defaults = (
            ufw.get("defaults")
            if self.observed
            else {
                "incoming": "deny",
                "outgoing": "allow",
                "routed": "deny",
            }
        )
        state = ("activo" if ufw.get("active") else "INACTIVO") + " · " if self.observed else ""
        policy = (
            f"{state}entrada {defaults.get('incoming')} · salida {defaults.get('outgoing')} · "
            f"reenvío {defaults.get('routed')}"
        )
        with server.subgraph(name="cluster_firewall") as fw:
            fw.attr(
                label=_label(
                    "Cortafuegos (ufw)",
                    policy,
                    "reglas leídas del servidor" if self.observed else "reglas de los ajustes",
                ),
                labelloc="t",
                style="rounded,filled",
                fillcolor="#f7f9fb",
                color="#5a6470",
            )
            for number, (key, group) in enumerate(_rule_groups(self.s, rules).items()):
                self.rule_node(fw, f"rule_{number}", key, group)
            for number, text in enumerate(
                firewall.drift(self.s, rules).missing if self.observed else []
            ):
                fw.node(
                    f"missing_{number}",
                    _label("FALTA en el servidor", text),
                    fillcolor="#ffffff",
                    color=COLORS["alert"],
                    style="rounded,dashed",
                    tooltip=text,
                )
            jails = sorted(self.o.get("fail2ban", {})) if self.observed else ["sshd"]
            fw.node(
                "fail2ban",
                _label(
                    "fail2ban",
                    "bloquea a quien insiste en fallar",
                    "jaulas: " + (", ".join(jails) or "ninguna"),
                    *self._state("fail2ban.service"),
                ),
                fillcolor=self._node_color("fail2ban.service", COLORS["service"]),
            )

    def rule_node(
        self, fw: graphviz.Digraph, node: str, key: tuple, group: list[firewall.Rule]
    ) -> None:
        trusted = firewall.trusted_sources_as_rules(self.s)
        ports = sorted({_ports_text(rule) for rule in group}, key=lambda p: (len(p), p))
        proto = "TCP" if group[0].proto == "tcp" else group[0].proto.upper()
        if key[0] == "drift":
            rule = group[0]
            lines = [rule.text, f"{proto} {_ports_text(rule)} · " + _who(rule.source, trusted)]
            title, fill, color = "NO PREVISTA en los ajustes", COLORS["drift"], COLORS["alert"]
        elif key[0] == "route":
            sources = sorted({_who(rule.source, trusted) for rule in group})
            title = f"reenvío a Docker {proto} {ports[0]}"
            lines, fill, color = sources, COLORS["rule"], "#5a6470"
        else:
            title = f"entrada {proto} {', '.join(ports)}"
            owner = key[1]
            addresses = sorted({rule.source for rule in group}, key=len)
            lines = [f"«{owner}»", *addresses] if owner else ["cualquier origen"]
            fill, color = COLORS["rule"], "#5a6470"
        fw.node(
            node,
            _label(title, *lines),
            fillcolor=fill,
            color=color,
            shape="box",
            style="filled",
            tooltip="; ".join(rule.text for rule in group),
        )
        origins = []
        for rule in group:
            if rule.source == firewall.ANY:
                via_cdn = self.s.cdn == "cloudflare" and not rule.routed
                origins.append("cdn" if via_cdn else "readers")
                if self.s.cdn_networks and not rule.routed and self.s.cdn != "cloudflare":
                    origins.append("cdn")
            elif rule.source in trusted:
                origins.append(f"source_{trusted[rule.source]}")
            else:
                origins.append(f"origin_{node}")
                self.graph.node(
                    f"origin_{node}", _label(rule.source, "origen"), fillcolor=COLORS["drift"]
                )
        for origin in dict.fromkeys(origins):
            self.graph.edge(origin, node)
        targets = [target for rule in group for target in self.rule_targets(rule)]
        for target in dict.fromkeys(targets):
            self.graph.edge(node, target)

    def rule_targets(self, rule: firewall.Rule) -> list[str]:
        if rule.routed:
            containers = [
                f"container_{c['name']}"
                for c in self.containers()
                if any(rule.covers(p["container_port"], p["proto"]) for p in c["ports"])
            ]
            return containers or ["docker"]
        targets = []
        for port, service in PORT_SERVICES.items():
            if rule.covers(port) and service not in targets:
                targets.append(service)
        return targets

    def portal(self, server: graphviz.Digraph) -> None:
        nginx = self.o.get("nginx", {})
        protocols = (nginx.get("ssl_protocols") or ["TLSv1.2 TLSv1.3"])[0]
        server.node(
            "nginx",
            _label(
                "nginx (portal)",
                f"https://{self.s.portal_domain}/",
                f"{protocols.replace('TLSv', 'TLS ')} · HTTP/2 · HSTS",
                f"{self.s.rate_limit_per_second} solicitudes/s y {self.s.connection_limit} "
                "conexiones por lector",
                f"modo {self.s.portal_mode}, certificado {self.s.tls_source}",
                *self._state("nginx.service"),
            ),
            fillcolor=self._node_color("nginx.service", COLORS["service"]),
        )
        live = ((self.o.get("publisher", {}).get("status") or {}).get("live")) or {}
        live = live if live.get("corte") else {}
        corte = (
            [f"corte {live.get('corte')}", str(live.get("package"))]
            if live
            else ["página provisional (aún sin corte)"]
            if self.observed
            else ["/corte.json"]
        )
        server.node("corte", _label("Corte vigente", *corte), shape="note", fillcolor="#fffbe6")
        server.edge("nginx", "corte", label="sirve")
        if self.s.portal_mode == "proxy":
            server.node(
                "upstream",
                _label("Aplicación del instituto", self.s.proxy_upstream),
                fillcolor=COLORS["service"],
            )
            server.edge("nginx", "upstream", label="proxy (loopback)")

    def receiver(self, server: graphviz.Digraph) -> None:
        status = self.o.get("publisher", {}).get("status") or {}
        archive = self.o.get("publisher", {}).get("archive") or {}
        counted = self.observed and bool(status)
        server.node(
            "rsync",
            _label(
                "rsync (recepción)",
                f"módulo «{RSYNC_MODULE}», usuario «{self.s.rsync_user}»",
                f"hasta {self.s.rsync_max_connections} conexiones · sólo escritura",
                "deja los paquetes en incoming/",
                *self._state("rsync.service"),
            ),
            fillcolor=self._node_color("rsync.service", COLORS["service"]),
        )
        server.node(
            "publisher",
            _label(
                "Publicador",
                "verifica cada paquete y lo publica",
                "de forma atómica",
                *self._state("difusor-publisher.service"),
            ),
            fillcolor=self._node_color("difusor-publisher.service", COLORS["service"]),
        )
        server.node(
            "releases",
            _label(
                "releases",
                documents.counted(len(status.get("releases", [])), "versión", "versiones")
                if counted
                else "versiones publicadas",
                f"se conservan {self.s.keep_releases}",
            ),
            shape="cylinder",
            fillcolor=COLORS["storage"],
        )
        server.node(
            "archive",
            _label(
                "archivo",
                documents.counted(archive.get("published", 0), "paquete") + ", para siempre"
                if counted
                else "cada paquete, para siempre",
            ),
            shape="cylinder",
            fillcolor=COLORS["storage"],
        )
        server.node(
            "quarantine",
            _label(
                "cuarentena",
                documents.counted(len(status.get("quarantine", [])), "rechazado")
                if counted
                else "paquetes rechazados",
            ),
            shape="cylinder",
            fillcolor=COLORS["storage"],
        )
        server.node(
            "monitor",
            _label(
                "Monitor de frescura",
                f"cada minuto, periodo de {self.s.corte_period_minutes} min",
                *self._state("difusor-monitor.timer"),
            ),
            fillcolor=self._node_color("difusor-monitor.timer", COLORS["service"]),
        )
        server.edge("rsync", "publisher", label="paquete completo")
        server.edge("publisher", "corte", label="cambio atómico")
        server.edge("publisher", "releases")
        server.edge("publisher", "archive")
        server.edge("publisher", "quarantine", label="rechazados")
        server.edge("monitor", "corte", label="vigila", style="dashed")

    def access(self, server: graphviz.Digraph) -> None:
        sshd = self.o.get("sshd", {})
        operators = ", ".join(op.name for op in self.s.operators)
        server.node(
            "sshd",
            _label(
                "sshd (administración)",
                "sólo llaves" if not self.s.ssh_password_authentication else "llaves y contraseña",
                f"operadores: {operators}",
                f"root: {documents.counted(len(self.s.root_ssh_keys), 'llave')} del instituto",
                *([f"root: {sshd['permitrootlogin']}"] if sshd.get("permitrootlogin") else []),
                *self._state("ssh.service"),
            ),
            fillcolor=self._node_color("ssh.service", COLORS["service"]),
        )

    def containers(self) -> list[dict[str, Any]]:
        return [
            c for c in self.o.get("docker", {}).get("containers", []) if c.get("state") == "running"
        ]

    def docker(self, server: graphviz.Digraph) -> None:
        version = self.o.get("docker", {}).get("version") if self.observed else None
        with server.subgraph(name="cluster_docker") as docker:
            docker.attr(
                # at the bottom: the firewall's routes come in through the top
                label=_label("Docker", version or "aplicaciones del instituto"),
                labelloc="b",
                style="rounded,dashed",
                color="#5a6470",
            )
            policy = []
            if self.s.docker_public_ports:
                policy.append(
                    "puertos públicos: " + ", ".join(map(str, self.s.docker_public_ports))
                )
            if self.s.docker_trusted_ports:
                policy.append("de confianza: " + ", ".join(map(str, self.s.docker_trusted_ports)))
            running = self.containers()
            docker.node(
                "docker",
                _label(
                    "Motor Docker",
                    *policy,
                    documents.counted(len(running), "contenedor", "contenedores") + " en ejecución"
                    if self.observed
                    else "",
                    *self._state("docker.service"),
                ),
                fillcolor=self._node_color("docker.service", COLORS["service"]),
            )
            for container in running:
                published = [
                    f"{p['host_ip']}:{p['host_port']} → {p['container_port']}/{p['proto']}"
                    for p in container["ports"]
                ] or ["sin puertos publicados"]
                docker.node(
                    f"container_{container['name']}",
                    _label(container["name"], container["image"], *published),
                    fillcolor=COLORS["service"],
                )
                docker.edge(
                    "docker", f"container_{container['name']}", style="dotted", arrowhead="none"
                )

    def build(self) -> str:
        self.outside()
        self.server()
        return self.graph.source


def diagram_source(settings: Settings, observed: dict[str, Any] | None = None) -> str:
    """The diagram in Graphviz's DOT language."""
    return _Drawing(settings, observed).build()


def render(source: str, out_dir: Path) -> tuple[Path, Path]:
    """``diagrama-servicio.svg`` and ``.png`` (Graphviz's dot) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for name, fmt, extra in ((SVG_NAME, "svg", []), (PNG_NAME, "png", ["-Gdpi=110"])):
        path = out_dir / name
        subprocess.run(
            ["dot", f"-T{fmt}", *extra, "-o", str(path)],
            input=source.encode(),
            check=True,
            capture_output=True,
        )
        outputs.append(path)
    return outputs[0], outputs[1]
