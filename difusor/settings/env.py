"""
Secrets: read only from ``.env`` or the environment (``DIFUSOR_RSYNC_PASSWORD``), never
from group_data or the inventory, which live in git.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, SecretStr, field_validator

from .base import SettingsModel

# Prefix of the environment variables (and .env keys) that carry secrets.
ENV_PREFIX = "DIFUSOR_"

# rsync's daemon authentication is a challenge-response over an unencrypted connection: one
# captured upload lets anyone guess the password offline, so only length protects it.
MIN_RSYNC_PASSWORD_LENGTH = 16


def env_name(field: str) -> str:
    """The .env key of a secret field: rsync_password -> DIFUSOR_RSYNC_PASSWORD."""
    return ENV_PREFIX + field.upper()


class SecretSettings(SettingsModel):
    """Passwords and tokens: only from `.env` or the environment (`DIFUSOR_` and the setting's
    name in capitals), never from group_data or the inventory, which live in git."""

    # pydantic's own error text would quote a refused password.
    model_config = ConfigDict(hide_input_in_errors=True)

    rsync_password: SecretStr = Field(
        description="Password of the institute's rsync upload account, at least "
        f"{MIN_RSYNC_PASSWORD_LENGTH} characters: rsync's challenge can be guessed offline from "
        "one captured upload.",
    )
    cdn_token: SecretStr | None = Field(
        default=None,
        description="Cloudflare API token: Cache Purge for the purge after each corte, and "
        "Analytics Read for the memoria técnica's figures behind the CDN.",
    )

    @field_validator("rsync_password")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        length = len(value.get_secret_value())
        if length < MIN_RSYNC_PASSWORD_LENGTH:
            # Never the password itself: its length says what is wrong.
            raise ValueError(
                f"has {length} characters; at least {MIN_RSYNC_PASSWORD_LENGTH} are required "
                "(rsync's challenge can be guessed offline from one captured upload)"
            )
        return value
