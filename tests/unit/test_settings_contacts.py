"""The staff list (2024 IV.a.ii): validated like every other setting, one line per problem."""

import pytest

from difusor.settings import SettingsError, parse_settings

ANA = {
    "name": "Ana Pérez",
    "role": "Coordinación",
    "phone": "+52 228 123 4567",
    "email": "ana.perez@example.com.mx",
}


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


MALFORMED = [
    (
        "national_phone",
        {"phone": "228 123 4567"},
        "contacts[0].phone: '228 123 4567' is not a phone number in international format",
    ),
    (
        "mexican_mobile_one",
        {"phone": "+52 1 228 123 4567"},
        "contacts[0].phone: '+52 1 228 123 4567': a Mexican number has 10 digits after +52",
    ),
    (
        "short_mexican",
        {"phone": "+52 228 123 456"},
        "contacts[0].phone: '+52 228 123 456': a Mexican number has 10 digits after +52",
    ),
    (
        "letters_in_phone",
        {"phone": "+52 228 ABC 4567"},
        "contacts[0].phone: '+52 228 ABC 4567' is not a phone number in international format",
    ),
    (
        "too_long",
        {"phone": "+1 2345 6789 0123 4567"},
        "contacts[0].phone: '+1 2345 6789 0123 4567' is not a phone number",
    ),
    ("bad_email", {"email": "ana@"}, "contacts[0].email: 'ana@' is not an e-mail address"),
    ("blank_name", {"name": "   "}, "contacts[0].name: String should have at least 2 characters"),
    ("no_role", {"role": ""}, "contacts[0].role: String should have at least 2 characters"),
    ("unknown_field", {"cargo": "jefa"}, "contacts[0].cargo: unknown setting (value 'jefa')"),
]


@pytest.mark.parametrize("case, change, line", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_contacts_are_named(valid_data, case, change, line):
    with pytest.raises(SettingsError) as error:
        contacts_of(valid_data, dict(ANA, **change))
    assert any(problem.startswith(line) for problem in error.value.problems), error.value.problems
    assert len(error.value.problems) == 1


def test_a_missing_field_is_named(valid_data):
    without_email = {k: v for k, v in ANA.items() if k != "email"}
    with pytest.raises(SettingsError) as error:
        contacts_of(valid_data, ANA, without_email)
    assert error.value.problems == ["contacts[1].email: is required"]


def test_contacts_must_be_a_list_of_people(valid_data):
    with pytest.raises(SettingsError) as error:
        parse_settings(dict(valid_data, contacts={"ana": ANA}))
    assert error.value.problems[0].startswith("contacts: Input should be a valid list")
