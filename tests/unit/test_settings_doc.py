"""docs/settings.md: generated from the concern models, every setting and rule in it once."""

import re
from pathlib import Path

from difusor.settings import Settings
from difusor.settings.base import rules_of
from difusor.settings.doc import SECTIONS, own_fields, own_rules, settings_markdown

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_settings_reference_is_current():
    assert REFERENCE.read_text() == settings_markdown(), (
        "run: python -m difusor.settings.doc > docs/settings.md"
    )


def test_every_setting_is_documented_once_under_its_concern():
    rows = re.findall(r"^\| `(\w+)` \|", settings_markdown(), flags=re.MULTILINE)
    assert sorted(rows) == sorted(Settings.model_fields)
    assert all(own_fields(model) for _, model in SECTIONS)


def test_every_rule_of_the_concerns_holds_in_the_settings_model():
    # A rule named like another concern's rule would replace it in the composed model.
    documented = [rule for _, model in SECTIONS for rule in own_rules(model)]
    assert len(documented) == len(rules_of(Settings))
    assert '- `tls_source = "selfsigned"` only with `rehearsal = True`' in settings_markdown()


def test_one_heading_per_concern():
    headings = re.findall(r"^## (.+)$", settings_markdown(), flags=re.MULTILINE)
    assert headings == [heading for heading, _ in SECTIONS]
