"""The staff list (2024 IV.a.ii): what a valid one becomes. Malformed contacts are among the
malformed settings of test_settings.py."""

import pytest

from difusor.settings import parse_settings

from .conftest import ANA


def contacts_of(valid_data, *contacts) -> list:
    return parse_settings(dict(valid_data, contacts=list(contacts))).contacts


def test_no_contacts_by_default(valid_data):
    assert parse_settings(valid_data).contacts == []


@pytest.mark.parametrize(
    "written, stored",
    [
        ("+52 228 123 4567", "+522281234567"),
        ("+52 (55) 1234-5678", "+525512345678"),
        ("+52.228.123.4567", "+522281234567"),
        ("+1 202 555 0143", "+12025550143"),
        ("+34 912 345 678", "+34912345678"),
    ],
)
def test_phones_are_kept_in_international_format(valid_data, written, stored):
    (contact,) = contacts_of(valid_data, dict(ANA, phone=written))
    assert contact.phone == stored


def test_names_and_roles_are_trimmed(valid_data):
    (contact,) = contacts_of(valid_data, dict(ANA, name="  Ana   Pérez ", role="Soporte  técnico"))
    assert (contact.name, contact.role) == ("Ana Pérez", "Soporte técnico")
