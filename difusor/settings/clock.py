"""Time: the server's time zone and its NTP sources (chrony)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from zoneinfo import available_timezones

from pydantic import Field, field_validator

from .base import Broken, rule
from .rehearsal import RehearsalSettings
from .types import NtpServer


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


class TimeSettings(RehearsalSettings):
    """The server's time zone and clock (chrony): cortes carry the institute's local time."""

    timezone: str = Field(
        default="America/Mexico_City",
        description="Server time zone; the institute publishes in central Mexico time.",
    )
    ntp_servers: list[NtpServer] = Field(
        default=["0.mx.pool.ntp.org", "1.mx.pool.ntp.org", "2.mx.pool.ntp.org"],
        min_length=1,
        description="NTP servers or pools for chrony.",
    )
    ntp_clock_control: bool = Field(
        default=True,
        description="Let chrony set the clock. Only a rehearsal container turns this off "
        "(it shares the host's clock), so chrony runs with -x.",
    )

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Mexico_City)")
        return value

    @rule("ntp_clock_control", "rehearsal")
    def _clock_control_off_only_in_rehearsals(self) -> Iterator[Broken]:
        """`ntp_clock_control = False` only with `rehearsal = True`: a server sets its clock."""
        if not self.ntp_clock_control and not self.rehearsal:
            yield Broken(
                "False is only for rehearsal inventories (set rehearsal=True): a server sets "
                "its own clock"
            )
