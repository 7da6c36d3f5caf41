"""Publisher: verifying and publishing each package, the freshness monitor, the CDN purge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from .base import Broken, rule
from .env import SecretSettings, env_name
from .types import matching

CloudflareZoneId = Annotated[
    str, matching(r"^[0-9a-f]{32}$", "is not a Cloudflare zone id (32 hexadecimal digits)")
]
HttpUrl = Annotated[str, matching(r"^https?://[^\s/]+(/\S*)?$", "is not an http(s) URL")]


class PublisherSettings(SecretSettings):
    """Each package verified, published atomically and kept; the freshness monitor and its
    alerts; the CDN purge after each corte."""

    sidecar_policy: Literal["require", "if-present", "off"] = Field(
        default="if-present",
        description="NAME.zip.sha256 next to each package: require it, verify it when present, "
        "or ignore it.",
    )
    keep_releases: int = Field(
        default=10,
        ge=2,
        le=1000,
        description="Unpacked releases kept (every package stays archived).",
    )
    corte_period_minutes: int = Field(
        default=15,
        ge=1,
        le=120,
        description="Expected time between cortes, for the freshness monitor.",
    )
    publication_start: datetime | None = Field(
        default=None,
        description="Local start of publication, e.g. 2024-06-02T20:00. The monitor alerts only "
        "from then until 23:59 of the seventh day after; None: always.",
    )
    cdn_purge: Literal["none", "cloudflare", "command"] = Field(
        default="none", description="Purge the CDN after each corte: Cloudflare API or a command."
    )
    cloudflare_zone_id: CloudflareZoneId | None = Field(
        default=None, description="Cloudflare zone to purge."
    )
    cdn_purge_command: list[str] = Field(
        default=[], description="Command (argv) that purges the CDN, for cdn_purge = command."
    )
    alert_webhook: HttpUrl | None = Field(
        default=None, description="URL that receives a JSON POST when freshness changes level."
    )

    @field_validator("publication_start")
    @classmethod
    def _naive_local_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError(
                f"'{value.isoformat()}' must be a local time without offset "
                "(it is read in timezone)"
            )
        return value

    @rule("cdn_purge", "cloudflare_zone_id", "cdn_token")
    def _cloudflare_purge_has_zone_and_token(self) -> Iterator[Broken]:
        """`cdn_purge = "cloudflare"` needs `cloudflare_zone_id` and the `cdn_token` secret."""
        if self.cdn_purge == "cloudflare" and not (self.cloudflare_zone_id and self.cdn_token):
            yield Broken(
                "'cloudflare' needs cloudflare_zone_id and the token in .env "
                f"({env_name('cdn_token')})"
            )

    @rule("cdn_purge", "cdn_purge_command")
    def _command_purge_has_a_command(self) -> Iterator[Broken]:
        """`cdn_purge = "command"` needs `cdn_purge_command`."""
        if self.cdn_purge == "command" and not self.cdn_purge_command:
            yield Broken("'command' needs cdn_purge_command (an argv list)")
