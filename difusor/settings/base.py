"""
The base of every settings model: unknown keys are refused, validated values are final, and
the cross-field rules are checked together.

A rule is a method marked ``@rule("field", "other_field", ...)`` that yields one ``Broken`` for
each way the settings break it. Its line is reported at the first field it names (or below it,
``Broken.at``); every field it names is one whose origin (group_data file, inventory, ``.env``)
explains the problem. All broken rules are reported at once, not only the first.

Example::

    @rule("tls_source", "tls_certificate_file", "tls_key_file")
    def _provided_certificate_has_its_files(self) -> Iterator[Broken]:
        \"\"\"`tls_source = "provided"` needs both `tls_certificate_file` and `tls_key_file`.\"\"\"
        if self.tls_source == "provided" and not (self.tls_certificate_file and self.tls_key_file):
            yield Broken("'provided' needs tls_certificate_file and tls_key_file")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FunctionType
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

# The pydantic error type of a broken rule; its context carries the fields the rule names.
RULE_ERROR = "rule"


@dataclass(frozen=True)
class Broken:
    """One way a rule is broken: why (quoting the value), and where below the rule's first
    field, e.g. ``("instituto", 0)`` for ``trusted_sources.instituto[0]``."""

    message: str
    at: tuple[str | int, ...] = ()


RuleCheck = Callable[[Any], Iterator[Broken]]

# Every rule method -> the fields it names.
_RULE_FIELDS: dict[RuleCheck, tuple[str, ...]] = {}


def rule(*fields: str) -> Callable[[RuleCheck], RuleCheck]:
    """Mark a settings model method as a cross-field rule about ``fields``."""

    def mark(check: RuleCheck) -> RuleCheck:
        _RULE_FIELDS[check] = fields
        return check

    return mark


def rules_of(model: type) -> dict[str, RuleCheck]:
    """The rules of a model by method name, its bases' first."""
    rules: dict[str, RuleCheck] = {}
    for klass in reversed(model.__mro__):
        rules.update(
            (name, value)
            for name, value in vars(klass).items()
            if isinstance(value, FunctionType) and value in _RULE_FIELDS
        )
    return rules


def rule_fields(check: RuleCheck) -> tuple[str, ...]:
    return _RULE_FIELDS[check]


class SettingsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _rules_hold(self) -> SettingsModel:
        broken = [
            InitErrorDetails(
                type=PydanticCustomError(
                    RULE_ERROR, "{message}", {"message": problem.message, "fields": fields}
                ),
                loc=(fields[0], *problem.at),
                input=getattr(self, fields[0]),
            )
            for check in rules_of(type(self)).values()
            for fields in [rule_fields(check)]
            for problem in check(self)
        ]
        if broken:
            raise ValidationError.from_exception_data(type(self).__name__, broken)
        return self
