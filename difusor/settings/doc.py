"""
Write docs/settings.md from the settings models, so the reference cannot drift from the code.

    python -m difusor.settings.doc > docs/settings.md
"""

from __future__ import annotations

import inspect
import ipaddress
from collections.abc import Callable, Iterable

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .access import AccessSettings
from .base import rules_of
from .clock import TimeSettings
from .contacts import ContactSettings
from .docker import DockerSettings
from .env import SecretSettings, env_name
from .intrusion import IntrusionSettings
from .portal import PortalSettings
from .publisher import PublisherSettings
from .receiver import ReceiverSettings
from .rehearsal import RehearsalSettings
from .system import SystemSettings

# One section per concern, in the order a new server's settings are written.
SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("Portal", PortalSettings),
    ("Access", AccessSettings),
    ("Time", TimeSettings),
    ("System", SystemSettings),
    ("Receiver", ReceiverSettings),
    ("Intrusion prevention", IntrusionSettings),
    ("Publisher", PublisherSettings),
    ("Docker", DockerSettings),
    ("Contacts", ContactSettings),
    ("Secrets", SecretSettings),
    ("Rehearsal", RehearsalSettings),
]


def declared_here(
    model: type[BaseModel], names: Callable[[type[BaseModel]], Iterable[str]]
) -> list[str]:
    """The names ``names(model)`` lists that none of the model's bases already has."""
    inherited = {
        name for base in model.__bases__ if issubclass(base, BaseModel) for name in names(base)
    }
    return [name for name in names(model) if name not in inherited]


def own_fields(model: type[BaseModel]) -> list[str]:
    return declared_here(model, lambda cls: cls.model_fields)


def own_rules(model: type[BaseModel]) -> list[str]:
    """The cross-field rules the model declares, in words (each rule's docstring)."""
    rules = rules_of(model)
    return [
        " ".join((inspect.getdoc(rules[name]) or name).split())
        for name in declared_here(model, rules_of)
    ]


def default_text(name: str, field: FieldInfo) -> str:
    required = field.default is PydanticUndefined
    if name in SecretSettings.model_fields:
        return ("**required**, " if required else "") + f"from `.env`: `{env_name(name)}`"
    if required:
        return "**required**"
    if isinstance(field.default, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return f"`{str(field.default)!r}`"
    return f"`{field.default!r}`"


def section_markdown(heading: str, model: type[BaseModel]) -> list[str]:
    lines = [
        f"## {heading}",
        "",
        inspect.getdoc(model) or "",
        "",
        "| setting | default | description |",
        "|---|---|---|",
    ]
    for name in own_fields(model):
        field = model.model_fields[name]
        lines.append(f"| `{name}` | {default_text(name, field)} | {field.description or ''} |")
    rules = own_rules(model)
    if rules:
        lines += ["", "Rules:", ""] + [f"- {rule}" for rule in rules]
    return [*lines, ""]


def settings_markdown() -> str:
    lines = [
        "# Settings",
        "",
        "Generated from `difusor/settings/` by `python -m difusor.settings.doc`.",
        "Set them in `group_data/*.py` or per host in the inventory; secrets only in `.env`.",
        "Every setting is a key of its own (`portal_domain = ...`): the sections only group",
        "them by concern. `difusor check` validates them with no connection, each problem with",
        "the file it came from; the deploy runs the same check before it connects.",
        "",
    ]
    for heading, model in SECTIONS:
        lines += section_markdown(heading, model)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
