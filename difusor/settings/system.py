"""System: packages (apt) and logs kept on the server."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from .base import SettingsModel


class SystemSettings(SettingsModel):
    """Packages (apt) and logs: how long the logs of election night are kept."""

    apt_proxy: str | None = Field(
        default=None, description="HTTP proxy for apt, e.g. http://proxy.example:3128."
    )
    log_retention_days: int = Field(
        default=120,
        ge=30,
        le=3650,
        description="Days of logs kept: long enough for the memoria técnica after election day.",
    )
    journal_max_use_mb: int = Field(
        default=2048, ge=64, le=65536, description="Cap on the persistent journal's disk use."
    )

    @field_validator("apt_proxy")
    @classmethod
    def _valid_proxy(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = re.match(r"^https?://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?/?$", value)
        if not match:
            raise ValueError(f"{value!r} is not an http(s)://host[:port] proxy URL")
        return value.rstrip("/")
