"""
Secrets: read only from ``.env`` or the environment (``DIFUSOR_RSYNC_PASSWORD``), never
from group_data or the inventory, which live in git.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from .base import SettingsModel

# Prefix of the environment variables (and .env keys) that carry secrets.
ENV_PREFIX = "DIFUSOR_"


def env_name(field: str) -> str:
    """The .env key of a secret field: rsync_password -> DIFUSOR_RSYNC_PASSWORD."""
    return ENV_PREFIX + field.upper()


class SecretSettings(SettingsModel):
    """Passwords and tokens: only from `.env` or the environment (`DIFUSOR_` and the setting's
    name in capitals), never from group_data or the inventory, which live in git."""

    rsync_password: SecretStr | None = Field(
        default=None,
        description="Password of the institute's rsync upload account (required to deploy).",
    )
    cdn_token: SecretStr | None = Field(
        default=None,
        description="Cloudflare API token: Cache Purge for the purge after each corte, and "
        "Analytics Read for the memoria técnica's figures behind the CDN.",
    )
