"""Contacts: the difusor's staff for coordination and technical support (2024 IV.a.ii)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .base import SettingsModel
from .types import Email

# What people write between the digits of a phone number.
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
# ITU-T E.164: a country code and the national number, 15 digits at most.
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Mexico dials 10 national digits after +52 since 2019 (no more "1" for mobiles).
_MEXICO = "+52"
_MEXICO_DIGITS = 10


def international_phone(value: str) -> str:
    """``'+52 (228) 123-4567'`` -> ``'+522281234567'`` (E.164), or ValueError quoting it."""
    digits = _PHONE_SEPARATORS.sub("", value)
    if not _E164.match(digits):
        raise ValueError(
            f"{value!r} is not a phone number in international format "
            "('+' and the country code, e.g. '+52 228 123 4567')"
        )
    if digits.startswith(_MEXICO) and len(digits) - len(_MEXICO) != _MEXICO_DIGITS:
        raise ValueError(
            f"{value!r}: a Mexican number has {_MEXICO_DIGITS} digits after +52 "
            "(e.g. '+52 228 123 4567')"
        )
    return digits


class Contact(BaseModel):
    """One person of the difusor's staff, as the institute's staff list asks for them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=2, max_length=120, description="Full name.")
    role: str = Field(
        min_length=2,
        max_length=120,
        description="Role or position, e.g. 'Coordinación' or 'Soporte técnico'.",
    )
    phone: str = Field(description="Phone in international format, e.g. '+52 228 123 4567'.")
    email: Email = Field(description="E-mail address.")

    @field_validator("name", "role", mode="before")
    @classmethod
    def _trimmed(cls, value: object) -> object:
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("phone")
    @classmethod
    def _international(cls, value: str) -> str:
        return international_phone(value)


class ContactSettings(SettingsModel):
    """The staff the institute reaches on election night: name, role, phone and e-mail of the
    people in charge of coordination and technical support (2024 IV.a.ii, V.a). `difusor
    evidence` writes them to `personal.csv` and the compliance document."""

    contacts: list[Contact] = Field(
        default=[],
        description="Staff list: [{'name', 'role', 'phone', 'email'}]. The phone in "
        "international format ('+52 228 123 4567': spaces, dots, dashes and parentheses allowed, "
        "kept as E.164), a Mexican one with 10 digits after +52; name and role 2 to 120 "
        "characters.",
    )
