"""
Loading the settings of a host: pyinfra host data (``group_data/`` plus the inventory) and
secrets from ``.env`` or the environment, validated together into one ``Settings``, or one
``SettingsError`` naming every bad field, its value and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError
from pyinfra.api.exceptions import DeployError

from .base import RULE_ERROR, SettingsModel
from .env import ENV_PREFIX, SecretSettings, env_name
from .model import Settings


@dataclass(frozen=True)
class Problem:
    """One problem in the settings: the setting (``trusted_sources.ople[0]``), why, quoting
    the value, and the top-level settings whose origins explain it."""

    field: str
    message: str
    keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SettingsError(DeployError):
    """Bad settings: one line per problem, each naming the field and the value."""

    def __init__(self, problems: list[str], details: list[Problem] | None = None):
        self.problems = problems
        self.details = details or []
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))

    @classmethod
    def of(cls, details: list[Problem]) -> SettingsError:
        return cls([str(problem) for problem in details], details)


def pyinfra_reserved_keys() -> set[str]:
    """Host data keys that belong to pyinfra itself (connectors, global arguments)."""
    from pyinfra.api.arguments import all_global_arguments
    from pyinfra.api.connectors import get_all_connectors

    keys = {name for name, _ in all_global_arguments()}
    for connector in get_all_connectors().values():
        keys.update(getattr(connector, "data_meta", {}))
    return keys


def env_file(path: str | os.PathLike | None = None) -> Path:
    """The secrets file: ``path``, else ``$DIFUSOR_ENV_FILE``, else ``.env``."""
    return Path(path or os.environ.get(f"{ENV_PREFIX}ENV_FILE", ".env"))


def secret_sources(path: str | os.PathLike | None = None) -> dict[str, tuple[str, str]]:
    """Each secret that is set: its value and where it came from (the environment first)."""
    file = env_file(path)
    in_file = dotenv_values(file) if file.is_file() else {}
    found = {}
    for name in SecretSettings.model_fields:
        key = env_name(name)
        if os.environ.get(key):
            found[name] = (os.environ[key], f"environment ({key})")
        elif in_file.get(key):
            found[name] = (str(in_file[key]), str(file))
    return found


def read_secrets(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Secret fields from ``.env`` (or ``$DIFUSOR_ENV_FILE``), overridden by the environment."""
    return {name: value for name, (value, _) in secret_sources(path).items()}


def _setting_path(location: tuple[str | int, ...]) -> str:
    path = ""
    for part in location:
        if part == "[key]":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "settings"


def problems_of(error: ValidationError) -> list[Problem]:
    """One problem per pydantic error: the setting's path, what is wrong, the value."""
    problems = []
    for item in error.errors():
        key = str(item["loc"][0]) if item["loc"] else ""
        secret = key in SecretSettings.model_fields
        keys: tuple[str, ...] = (key,) if key else ()
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == RULE_ERROR:
            keys = tuple(item["ctx"]["fields"])
        elif item["type"] == "extra_forbidden":
            message = f"unknown setting (value {item['input']!r})"
        elif item["type"] == "missing":
            where = f": set {env_name(key)} in .env or the environment" if secret else ""
            message = f"is required{where}"
        elif item["type"] != "value_error" and not secret:
            # pydantic's own messages never quote the value; ours (value_error) always do.
            message = f"{message} (got {item['input']!r})"
        problems.append(Problem(_setting_path(item["loc"]), message, keys))
    return problems


def _rules_of_sound_concerns(values: dict[str, Any], error: ValidationError) -> list[Problem]:
    """Rules run only once every field is valid: when some are not, the rules of each concern
    whose own fields all are, checked on that concern alone, so every problem shows at once."""
    if any(item["type"] == RULE_ERROR for item in error.errors()):
        return []
    bad = {item["loc"][0] for item in error.errors() if item["loc"]}
    found: list[Problem] = []
    # the concerns in the order of docs/settings.md
    concerns = [base for base in reversed(Settings.__bases__) if issubclass(base, SettingsModel)]
    for concern in concerns:
        fields = concern.model_fields
        if bad & fields.keys():
            continue
        try:
            concern.model_validate({key: values[key] for key in fields if key in values})
        except ValidationError as concern_error:
            found += [problem for problem in problems_of(concern_error) if problem not in found]
    return found


def parse_settings(data: dict[str, Any], secrets: dict[str, str] | None = None) -> Settings:
    """Validate host data plus secrets (by default those of ``.env`` and the environment);
    raise SettingsError naming every bad field."""
    reserved = pyinfra_reserved_keys()
    ours = {
        key: value
        for key, value in data.items()
        if key not in reserved and not key.startswith("_") and not callable(value)
    }
    leaked = [key for key in ours if key in SecretSettings.model_fields]
    problems = [
        Problem(key, f"secrets come from .env ({env_name(key)}), not host data", (key,))
        for key in leaked
    ]
    if secrets is None:
        secrets = read_secrets()
    values = {key: value for key, value in ours.items() if key not in leaked} | secrets
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        problems += [
            problem
            for problem in problems_of(error) + _rules_of_sound_concerns(values, error)
            # a secret written in host data is one problem, not also a missing one
            if not (problem.field in leaked and problem.message.startswith("is required"))
        ]
        raise SettingsError.of(problems) from None
    if problems:
        raise SettingsError.of(problems)
    return settings
