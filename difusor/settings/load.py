"""
Loading the settings of a host: pyinfra host data (``group_data/`` plus the inventory) and
secrets from ``.env`` or the environment, validated together into one ``Settings``, or one
``SettingsError`` naming every bad field and its value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError
from pyinfra.api.exceptions import DeployError

from .env import ENV_PREFIX, SecretSettings, env_name
from .model import Settings


class SettingsError(DeployError):
    """Bad settings: one line per problem, each naming the field and the value."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


def pyinfra_reserved_keys() -> set[str]:
    """Host data keys that belong to pyinfra itself (connectors, global arguments)."""
    from pyinfra.api.arguments import all_global_arguments
    from pyinfra.api.connectors import get_all_connectors

    keys = {name for name, _ in all_global_arguments()}
    for connector in get_all_connectors().values():
        keys.update(getattr(connector, "data_meta", {}))
    return keys


def read_secrets(env_file: str | os.PathLike | None = None) -> dict[str, str]:
    """Secret fields from ``.env`` (or ``$DIFUSOR_ENV_FILE``), overridden by the environment."""
    path = Path(env_file or os.environ.get(f"{ENV_PREFIX}ENV_FILE", ".env"))
    values = dict(dotenv_values(path)) if path.is_file() else {}
    values.update(os.environ)
    secrets = {}
    for name in SecretSettings.model_fields:
        value = values.get(env_name(name))
        if value:
            secrets[name] = value
    return secrets


def format_errors(error: ValidationError) -> list[str]:
    """One readable line per pydantic error: the field path, what is wrong, the value."""
    lines = []
    for item in error.errors():
        location = ""
        for part in item["loc"]:
            if part == "[key]":
                continue
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else part)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown setting (value {item['input']!r})"
        elif item["type"] == "missing":
            message = "is required"
        elif (
            "input" in item and repr(item["input"]) not in message and item["type"] != "value_error"
        ):
            message = f"{message} (got {item['input']!r})"
        lines.append(f"{location or 'settings'}: {message}")
    return lines


def parse_settings(data: dict[str, Any], secrets: dict[str, str] | None = None) -> Settings:
    """Validate host data plus secrets; raise SettingsError naming every bad field."""
    reserved = pyinfra_reserved_keys()
    ours = {
        key: value
        for key, value in data.items()
        if key not in reserved and not key.startswith("_") and not callable(value)
    }
    leaked = [key for key in ours if key in SecretSettings.model_fields]
    if leaked:
        raise SettingsError(
            [f"{key}: secrets come from .env ({env_name(key)}), not host data" for key in leaked]
        )
    try:
        return Settings.model_validate({**ours, **(secrets or {})})
    except ValidationError as error:
        raise SettingsError(format_errors(error)) from None
