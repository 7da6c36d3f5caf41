"""One evidence run: read the server, evaluate the matrix, draw the diagram, write the files."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from difusor import documents
from difusor.evidence import diagram, document
from difusor.evidence.matrix import counts, evaluate
from difusor.evidence.observe import observe
from difusor.inventory import InventoryHost
from difusor.remote import Remote, SshTarget
from difusor.settings import Settings
from difusor.settings.env import SecretSettings

FORMAT = 1


class EvidenceError(Exception):
    """The evidence could not be gathered at all (the server cannot be logged in to)."""


def settings_summary(settings: Settings) -> dict[str, Any]:
    """Every setting but the secrets, as JSON values."""
    return settings.model_dump(mode="json", exclude=set(SecretSettings.model_fields))


def assemble(settings: Settings, observed: dict[str, Any], host_name: str) -> dict[str, Any]:
    """evidence.json's content: the matrix with everything it was computed from."""
    rows = evaluate(settings, observed)
    cases = observed.get("suite", {}).get("cases", [])
    now = datetime.now(ZoneInfo(settings.timezone))
    return {
        "format": FORMAT,
        "generated": now.isoformat(timespec="seconds"),
        "generated_text": f"{documents.datetime_es(now)} ({settings.timezone})",
        "host": host_name,
        "address": observed.get("target", {}).get("address"),
        "domain": settings.portal_domain,
        "settings": settings_summary(settings),
        "rows": rows,
        "counts": counts(rows),
        "suite_counts": {
            "total": len(cases),
            **{o: sum(1 for c in cases if c["outcome"] == o) for o in document.OUTCOMES},
        },
        "contacts": [contact.model_dump() for contact in settings.contacts],
        "hardening": document.hardening_annex(observed),
        "observed": observed,
    }


def build_evidence(
    host: InventoryHost,
    out_dir: Path,
    inventory: str,
    remote: Remote | None = None,
    ca_file: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Gather the evidence of one host into ``out_dir``. ``remote``: an SSH connection already
    open to it (used as it is, and left open), else one is opened and closed here."""
    settings = host.settings()
    started = time.monotonic()
    with ExitStack() as stack:
        if remote is None:
            remote = stack.enter_context(Remote(SshTarget.from_host(host)))
        login = remote.run("true", privileged=False, timeout=60)
        if login.returncode != 0:
            why = " ".join(login.stderr.split()) or "no answer"
            raise EvidenceError(f"cannot log in to {host.name} over SSH ({why}): nothing measured")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="difusor-evidence-")))
        observed = observe(remote, settings, inventory, host.name, work, ca_file, progress)
    progress("documents")
    evidence = assemble(settings, observed, host.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    svg, png = diagram.render(diagram.diagram_source(settings, observed), out_dir)
    evidence["diagram"] = {"svg": svg.name, "png": png.name}
    evidence["seconds"] = round(time.monotonic() - started, 1)
    document.write_documents(evidence, settings, out_dir)
    return evidence
