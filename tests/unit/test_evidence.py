"""difusor evidence, offline: the matrix covers the calls' requirements and judges each one from
what was observed; the diagram shows every rule and service; compare names what changed."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from difusor import documents, hardening
from difusor.deploys.firewall import desired_rules
from difusor.evidence import diagram, document, firewall
from difusor.evidence.build import assemble
from difusor.evidence.command import exit_code
from difusor.evidence.compare import changes
from difusor.evidence.matrix import FAIL, MANUAL, PASS, REQUIREMENTS, WARN, evaluate
from difusor.settings import Settings

from .evidence_sample import lab_observed, lab_settings, suite_cases

REPO = Path(__file__).resolve().parents[2]

# Every requirement of the 2024 call the evidence must cover, and the 2018 TLS rule.
REQUIRED_CLAUSES = [
    "2024 II.A.a",
    "2024 II.A.b",
    "2024 II.A.c",
    "2024 II.A.d",
    "2024 II.B.a",
    "2024 II.B.b",
    "2024 II.B.c",
    "2024 II.B.d",
    "2024 II.B.e",
    "2024 II.C.a",
    "2024 II.C.b",
    "2024 II.C.c",
    "2024 II.C.d",
    "2024 II.C.e",
    "2024 I.E",
    "2024 I.H",
    "2024 III.c",
    "2024 VI.a",
    "2024 VI.b",
    "2024 VI.e",
    "2018 II (TLS)",
]
# What the lab cannot have (resources, Ubuntu, a public address) and what no server shows.
NOT_PASS_IN_THE_LAB = {
    "II.A.a": WARN,
    "II.A.c": WARN,
    "II.A.d": MANUAL,
    "II.B.a": WARN,
    "II.C.a": MANUAL,
    "II.C.b": WARN,
}


@pytest.fixture()
def settings(public_key) -> Settings:
    return lab_settings(public_key)


@pytest.fixture()
def observed(settings) -> dict:
    return lab_observed(settings)


def statuses(settings, observed) -> dict[str, str]:
    return {row["key"]: row["status"] for row in evaluate(settings, observed)}


def failing(settings, observed) -> set[str]:
    return {key for key, status in statuses(settings, observed).items() if status == FAIL}


def row(settings, observed, key) -> dict:
    return next(r for r in evaluate(settings, observed) if r["key"] == key)


# -- the matrix --------------------------------------------------------------------------------


def test_the_matrix_covers_every_requirement_of_the_calls():
    clauses = [requirement.clause for requirement in REQUIREMENTS]
    assert set(REQUIRED_CLAUSES) <= set(clauses)
    assert len({r.key for r in REQUIREMENTS}) == len(REQUIREMENTS)


def test_every_row_names_real_settings_and_a_control():
    for requirement in REQUIREMENTS:
        assert set(requirement.settings) <= set(Settings.model_fields), requirement.key
        assert requirement.control and requirement.title, requirement.key


@pytest.fixture(scope="module")
def host_suite_ids() -> list[str]:
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/host",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in collected.splitlines() if line.startswith("tests/host/")]


def test_every_test_a_row_cites_is_in_the_host_suite(host_suite_ids):
    cases = [{"id": test, "outcome": "passed"} for test in host_suite_ids]
    from difusor.evidence.matrix import matching_cases

    for requirement in REQUIREMENTS:
        for pattern in requirement.tests:
            assert matching_cases((pattern,), cases), (requirement.key, pattern)
    for family, patterns in document.DEVSEC_FAMILIES:
        assert matching_cases(patterns, cases), family


def test_a_converged_lab_host_passes_but_what_a_lab_cannot_have(settings, observed):
    assert statuses(settings, observed) == {
        r.key: NOT_PASS_IN_THE_LAB.get(r.key, PASS) for r in REQUIREMENTS
    }


def test_resources_warn_with_the_measured_value(settings, observed):
    assert row(settings, observed, "II.A.a")["measured"].startswith(
        "2 núcleos de 2.6 GHz medidos; se piden 8 de 2.0 GHz"
    )
    observed["resources"].update(cores=8, mhz=2400, rotational=False, memory_mb=15800)
    assert statuses(settings, observed)["II.A.a"] == PASS
    assert statuses(settings, observed)["II.A.b"] == PASS
    assert statuses(settings, observed)["II.A.c"] == PASS
    observed["resources"].update(memory_mb=8000, root_gb=40)
    assert row(settings, observed, "II.A.b")["status"] == WARN
    assert "7.8 GiB de RAM medidos" in row(settings, observed, "II.A.b")["measured"]
    assert row(settings, observed, "II.A.c")["status"] == WARN


def test_a_rule_added_by_hand_fails_only_the_firewall_row(settings, observed):
    observed["ufw"]["rules"].append("allow 8753/tcp")
    assert failing(settings, observed) == {"II.C.c-ufw"}
    assert (
        "reglas no previstas: allow 8753/tcp" in row(settings, observed, "II.C.c-ufw")["measured"]
    )


def test_ssh_opened_to_anyone_fails_the_ssh_port_row_too(settings, observed):
    observed["ufw"]["rules"].append("allow OpenSSH")
    assert failing(settings, observed) == {"II.C.c-ufw", "II.C.c-22"}
    assert "también abierto a: cualquier origen" in row(settings, observed, "II.C.c-22")["measured"]


def test_a_missing_rule_fails_the_firewall_and_its_port(settings, observed):
    observed["ufw"]["rules"].remove(
        "allow from 198.18.0.20 to any port 873 proto tcp comment 'difusor:ople'"
    )
    assert failing(settings, observed) == {"II.C.c-ufw", "II.C.c-873"}
    assert "faltan: 198.18.0.20" in row(settings, observed, "II.C.c-873")["measured"]


def test_sshd_stopped_fails_the_ssh_rows_with_what_was_measured(settings, observed):
    observed["services"]["ssh.service"]["active"] = False
    observed["reachability"]["22"] = {"open": False, "answer": "", "error": "conexión rechazada"}
    observed["sshd"] = {}  # sshd -T reads nothing while sshd is stopped
    assert failing(settings, observed) == {"II.B.c", "II.B.e", "II.C.c-22"}
    assert row(settings, observed, "II.B.c")["measured"].startswith(
        "sshd inactivo; puerto 22 no alcanzable desde 198.18.0.1 (conexión rechazada)"
    )
    assert row(settings, observed, "II.B.e")["measured"].startswith(
        "sshd inactivo: nadie entra por SSH, ni como root; root por SSH: configuración de sshd "
        "ilegible"
    )


def test_an_untrusted_operator_expects_22_and_873_closed(settings, observed):
    observed.update(operator_address="203.0.113.9", operator_trusted=False)
    for port in ("22", "873"):
        observed["reachability"][port] = {"open": False, "answer": "", "error": "sin respuesta"}
    assert failing(settings, observed) == set()
    observed["reachability"]["873"] = {"open": True, "answer": "@RSYNCD: 31.0", "error": ""}
    assert failing(settings, observed) == {"II.C.c-873"}
    assert "responde a un origen ajeno" in row(settings, observed, "II.C.c-873")["measured"]


def test_a_failed_host_test_fails_its_row_and_is_named(settings, observed):
    observed["suite"]["cases"] = suite_cases(failed=("test_nothing_else_allowed",))
    assert failing(settings, observed) == {"II.C.c-ufw"}
    assert (
        "pruebas fallidas: test_nothing_else_allowed"
        in row(settings, observed, "II.C.c-ufw")["measured"]
    )


def test_failed_tests_of_one_function_are_named_once_with_their_count(settings, observed):
    observed["suite"]["cases"] = [
        {"id": f"tests/host/test_ssh.py::test_sshd_effective_config[{key}]", "outcome": "failed"}
        for key in ("maxauthtries-2", "loglevel-VERBOSE", "x11forwarding-no")
    ] + [
        {"id": "tests/host/test_ssh.py::test_sshd_running_and_config_private", "outcome": "failed"}
    ]
    assert row(settings, observed, "II.B.c")["measured"].endswith(
        "; pruebas fallidas: test_sshd_effective_config (3), test_sshd_running_and_config_private"
    )


def test_old_tls_protocols_fail_the_2018_rule(settings, observed):
    observed["tls"]["accepted"]["tls_1_0"] = 4
    assert failing(settings, observed) == {"2018-TLS"}
    observed["tls"] = {"error": "sslyze no pudo conectar"}
    assert row(settings, observed, "2018-TLS")["measured"] == "sslyze no pudo conectar"


def test_an_altered_corte_fails_publication_without_manipulation(settings, observed):
    observed["publisher"]["integrity"]["mismatched"] = ["site/VER_GUB_2024.csv"]
    assert failing(settings, observed) == {"VI.b"}
    assert "site/VER_GUB_2024.csv" in row(settings, observed, "VI.b")["measured"]


def test_before_the_first_corte_the_placeholder_passes(settings, observed):
    observed["publisher"]["status"]["live"] = {"corte": None, "status": "waiting"}
    observed["publisher"]["integrity"] = None
    assert statuses(settings, observed)["I.H"] == PASS
    assert "aún sin corte" in row(settings, observed, "I.H")["measured"]
    assert statuses(settings, observed)["VI.b"] == PASS


def test_a_window_the_server_does_not_have_fails(public_key, observed):
    settings = lab_settings(public_key, publication_start="2024-06-02T20:00")
    assert failing(settings, observed) == {"VI.a"}
    observed["publisher"]["config"]["window_start"] = "2024-06-02T20:00"
    assert "del 2024-06-02 20:00 al 2024-06-09 23:59" in row(settings, observed, "VI.a")["measured"]


def test_embedding_follows_the_settings(settings, observed):
    observed["http"]["/"]["headers"]["content-security-policy"] = "frame-ancestors 'self'"
    assert failing(settings, observed) == {"VI.e"}


def test_public_address(settings, observed, public_key):
    observed["addresses"].append(
        {"interface": "eth1", "address": "2001:4860:4860::8888", "prefixlen": 64, "public": True}
    )
    assert statuses(settings, observed)["II.C.b"] == PASS
    production = lab_settings(
        public_key, rehearsal=False, tls_source="acme", ntp_clock_control=True
    )
    observed["addresses"].pop()
    assert statuses(production, observed)["II.C.b"] == MANUAL


def test_manual_rows_say_how_to_evidence_them_by_hand(settings, observed):
    for r in evaluate(settings, observed):
        if r["status"] == MANUAL:
            assert r["by_hand"], r["key"]


def test_no_contacts_is_a_warning(public_key, observed):
    settings = lab_settings(public_key, contacts=[])
    assert statuses(settings, observed)["IV.a.ii"] == WARN


# -- the firewall as rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule, port, admitted",
    [
        ("allow 22/tcp", 22, "any"),
        ("allow 22", 22, "any"),
        ("allow OpenSSH", 22, "any"),
        ("limit ssh", 22, "any"),
        ("allow from 10.0.0.0/8", 22, "10.0.0.0/8"),
        ("allow proto tcp from any to any port 80,443", 443, "any"),
        ("allow 20:30/tcp", 22, "any"),
        (
            "allow from 198.18.0.20 to any port 873 proto tcp comment 'difusor:ople'",
            873,
            "198.18.0.20",
        ),
        ("allow 22/udp", 22, None),
        ("deny 22/tcp", 22, None),
        ("allow out 22/tcp", 22, None),
        ("route allow 22/tcp", 22, None),
        ("allow 2222/tcp", 22, None),
    ],
)
def test_which_rules_let_a_port_in(rule, port, admitted):
    assert firewall.sources_for([rule], port) == ({admitted} if admitted else set())


# -- the diagram ---------------------------------------------------------------------------------


def test_the_diagram_has_every_rule_and_service_of_the_settings(settings):
    source = diagram.diagram_source(settings)
    for rule in desired_rules(settings):
        assert rule.replace("'", "&#x27;") in source or rule in source, rule
    for _, network in settings.networks():
        assert str(network) in source
    for text in (
        settings.portal_domain,
        *settings.ntp_servers,
        f"usuario «{settings.rsync_user}»",
        f"{settings.rate_limit_per_second} solicitudes/s",
        f"{settings.connection_limit} conexiones",
        "puertos públicos: 82",
        "de confianza: 81",
        "sshd",
        "rsync",
        "nginx",
        "Publicador",
        "archivo",
        "cuarentena",
        "chrony",
        "fail2ban",
        "Motor Docker",
        "CDN",
    ):
        assert text in source, text


def test_the_diagram_shows_the_server_as_read(settings, observed):
    observed["ufw"]["rules"].append("allow 8753/tcp")
    observed["docker"]["containers"] = [
        {
            "name": "resultados",
            "image": "prep/app:1",
            "state": "running",
            "ports": [
                {"host_ip": "0.0.0.0", "host_port": 8082, "container_port": 82, "proto": "tcp"}
            ],
        }
    ]
    observed["services"]["ssh.service"]["active"] = False
    source = diagram.diagram_source(settings, observed)
    assert "NO PREVISTA" in source and "allow 8753/tcp" in source
    assert "0.0.0.0:8082 → 82/tcp" in source and "prep/app:1" in source
    assert "INACTIVO" in source
    assert "Debian GNU/Linux 12 (bookworm)" in source and "2 núcleos de 2.6 GHz" in source
    assert "corte 2026-11-24T14:15:00-06:00" in source


def test_the_diagram_renders(settings, observed, tmp_path):
    svg, png = diagram.render(diagram.diagram_source(settings, observed), tmp_path)
    assert svg.read_text().lstrip().startswith("<?xml") and "prep.lab.test" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- compare ---------------------------------------------------------------------------------------


def test_the_same_run_compares_as_unchanged(settings, observed):
    evidence = assemble(settings, observed, "difusor-lab")
    assert changes(evidence, json.loads(json.dumps(evidence))) == []


def test_a_setting_change_shows_in_the_diagram_and_in_compare(settings, public_key):
    sources = {**settings.model_dump(mode="json")["trusted_sources"], "respaldo": ["192.0.2.0/28"]}
    changed = lab_settings(public_key, trusted_sources=sources)
    assert "192.0.2.0/28" in diagram.diagram_source(changed)
    assert "192.0.2.0/28" not in diagram.diagram_source(settings)

    old = assemble(settings, lab_observed(settings), "difusor-lab")
    new = assemble(changed, lab_observed(changed), "difusor-lab")
    lines = changes(old, new)
    assert "setting trusted_sources.respaldo: 192.0.2.0/28: added" in lines
    assert (
        "server firewall.rule: allow from 192.0.2.0/28 to any port 22 proto tcp "
        "comment 'difusor:respaldo': added"
    ) in lines


def test_compare_names_a_drift_on_the_server(settings, observed):
    old = json.loads(json.dumps(assemble(settings, observed, "difusor-lab")))
    observed["ufw"]["rules"].append("allow 8753/tcp")
    observed["services"]["ssh.service"]["active"] = False
    new = assemble(settings, observed, "difusor-lab")
    lines = changes(old, new)
    assert any(
        line.startswith("result 2024 II.C.c Cortafuegos") and "PASS -> FAIL" in line
        for line in lines
    )
    assert "server firewall.rule: allow 8753/tcp: added" in lines
    assert "server services.ssh.service.active: true -> false" in lines
    assert not any("setting" in line for line in lines)


def test_compare_says_once_that_a_section_was_not_read(settings, observed):
    """sshd -T reads nothing while sshd is stopped: one line, not every key gone."""
    old = json.loads(json.dumps(assemble(settings, observed, "difusor-lab")))
    observed["sshd"] = {}
    lines = changes(old, assemble(settings, observed, "difusor-lab"))
    assert [line for line in lines if line.startswith("server sshd")] == [
        "server sshd: not read now"
    ]
    assert "server sshd: read again" in changes(assemble(settings, observed, "difusor-lab"), old)


def test_exit_codes():
    assert exit_code(0) == 0
    assert exit_code(2) == 1
    assert exit_code(0, []) == 0
    assert exit_code(0, ["server firewall.rule: allow 8753/tcp: added"]) == 4
    assert exit_code(1, ["x"]) == 5


# -- the documents ---------------------------------------------------------------------------------


def test_every_deliberate_exception_is_in_the_annex():
    """Every exception table of difusor/hardening.py, whatever its area, row by row."""
    tables = {n: t for n, t in vars(hardening).items() if n.endswith("_EXCEPTIONS")}
    assert tables
    rows = {(r["control"], r["reason"]) for r in document.deliberate_exceptions()}
    assert rows == {(control, why) for table in tables.values() for control, why in table.items()}


def test_the_annex_counts_devsec_checks_as_the_suite_reported_them(observed):
    """Figures from the run, not written down: a test ported from one DevSec control (its id
    as the parameter) counts in its baseline, an expected failure as an exception; other
    tests that check a baseline count in their family; the rest is not DevSec."""
    observed["suite"]["cases"] = [
        {"id": f"tests/host/test_devsec_linux.py::test_{family}[{control}]", "outcome": outcome}
        for family, control, outcome in [
            ("os", "os-01", "passed"),
            ("package", "package-02", "failed"),
            ("sysctl", "sysctl-07", "xfailed"),
            ("sysctl", "sysctl-31a", "skipped"),
        ]
    ] + [
        {"id": "tests/host/test_devsec_ssh.py::test_sshd[sshd-48]", "outcome": "passed"},
        {"id": "tests/host/test_ssh.py::test_sshd_effective_config[x-1]", "outcome": "passed"},
        {"id": "tests/host/test_ssh.py::test_no_small_moduli", "outcome": "failed"},
        {"id": "tests/host/test_firewall.py::test_nothing_else_allowed", "outcome": "passed"},
    ]
    families = {f["family"]: f for f in document.hardening_annex(observed)["devsec"]}
    linux = families[document.DEVSEC_BASELINES["os"]]
    assert (linux["checks"], linux["passed"], linux["failed"]) == (4, 1, 1)
    assert (linux["xfailed"], linux["skipped"]) == (1, 1)
    assert families[document.DEVSEC_BASELINES["sshd"]]["passed"] == 1
    sshd_family = document.DEVSEC_FAMILIES[0][0]
    assert (families[sshd_family]["checks"], families[sshd_family]["failed"]) == (2, 1)
    assert len(families) == 3  # the firewall test is none of them


def test_the_documents(settings, observed, tmp_path):
    observed["lynis"] = {
        "hardening_index": 73,
        "tests_performed": 251,
        "version": "3.0.8",
        "finished": "2026-11-24 20:41:02",
        "warnings": [],
        "suggestions": [{"test": "AUTH-9230", "text": "Configure password hashing rounds"}],
    }
    observed["suite"]["cases"].append(
        {
            "id": "tests/host/test_devsec_linux.py::test_sysctl[sysctl-07]",
            "outcome": "xfailed",
            "message": "exception: tcp_timestamps kept on",
        }
    )
    evidence = assemble(settings, observed, "difusor-lab")
    svg, png = diagram.render(diagram.diagram_source(settings, observed), tmp_path)
    evidence["diagram"] = {"svg": svg.name, "png": png.name}
    written = document.write_documents(evidence, settings, tmp_path)
    assert {p.name for p in written} == {
        "evidence.json",
        "personal.csv",
        "cumplimiento.html",
        "cumplimiento.pdf",
    }
    assert json.loads((tmp_path / "evidence.json").read_text())["counts"] == evidence["counts"]
    with (tmp_path / "personal.csv").open(encoding="utf-8-sig") as stream:
        assert list(csv.reader(stream)) == [
            ["nombre", "rol", "telefono", "correo"],
            [
                "Coordinación del ensayo",
                "Coordinación",
                "+522280000101",
                "coordinacion@difusor.rehearsal.lab.test",
            ],
        ]
    text = " ".join(documents.pdf_text(tmp_path / "cumplimiento.pdf").split())
    for clause in REQUIRED_CLAUSES:
        assert clause in text, clause
    for heading in (
        "Matriz de cumplimiento",
        "Diagrama del servicio",
        "Personal del difusor",
        "Endurecimiento del servidor",
        "índice de endurecimiento 73,",
        "1 son excepciones documentadas",
        "DevSec linux-baseline",
        "net.ipv4.tcp_timestamps",
        "Coordinación del ensayo",
    ):
        assert heading in text, heading
    html = (tmp_path / "cumplimiento.html").read_text()
    assert "data:image/svg+xml;base64," in html and "<script" not in html


def test_the_command_wants_one_host_and_a_readable_old_run(tmp_path, monkeypatch, capsys):
    """Refused before any connection: the command line names what is wrong."""
    from difusor.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "hosts.py").write_text('web = ["prep1", "prep2"]\n')
    assert main(["evidence", "-i", "hosts.py"]) == 2
    assert "--host: the inventory has several hosts, name one (prep1, prep2)" in (
        capsys.readouterr().err
    )
    assert main(["evidence", "-i", "hosts.py", "--host", "prep1", "--compare", "old.json"]) == 2
    assert "--compare: 'old.json' is not an evidence.json" in capsys.readouterr().err
