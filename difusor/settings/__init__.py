"""
The one settings model of difusor.

Everything a deploy needs comes from here: pyinfra host data (``group_data/`` plus the
inventory) and secrets from ``.env``, validated together before any operation runs. Every
default lives in this package, with its reason in the field description; ``docs/settings.md``
lists them for operators, concern by concern.

- ``types``, ``ssh_keys``: field types and their validators;
- ``access``, ``clock``, ``system``, ``portal``, ``receiver``, ``intrusion``, ``publisher``,
  ``docker``, ``env`` (secrets), ``rehearsal``: one model per concern, with its fields and its
  rules;
- ``model``: ``Settings``, all the concerns in one model with flat keys;
- ``base``: what every concern model shares, and its cross-field rules (``@rule``);
- ``load``: host data and ``.env`` into ``Settings``, or ``SettingsError`` with its problems;
- ``doc``: writes ``docs/settings.md``.

Example (``group_data/all.py``)::

    portal_domain = "prep2024.example.com.mx"
    admin_email = "sistemas@example.com.mx"
    trusted_sources = {"ople_tecnicos": ["203.0.113.0/28", "2001:db8:10::/48"]}
    operators = [{"name": "ana", "ssh_keys": ["ssh-ed25519 AAAA... ana@laptop"]}]
"""

from .access import RESERVED_ACCOUNTS, Operator
from .env import ENV_PREFIX
from .load import (
    Problem,
    SettingsError,
    parse_settings,
    pyinfra_reserved_keys,
    read_secrets,
    secret_sources,
)
from .model import Settings
from .ssh_keys import MIN_RSA_BITS
from .types import is_hostname

__all__ = [
    "ENV_PREFIX",
    "MIN_RSA_BITS",
    "RESERVED_ACCOUNTS",
    "Operator",
    "Problem",
    "Settings",
    "SettingsError",
    "is_hostname",
    "parse_settings",
    "pyinfra_reserved_keys",
    "read_secrets",
    "secret_sources",
]
