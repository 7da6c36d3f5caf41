"""
The one settings model of a host: every concern's model in one, read from one flat set of keys.

Each concern model declares its own fields and rules; ``Settings`` inherits them all, so
``group_data`` and the inventory keep flat keys (``portal_domain``, ``docker_bridge_ip``) and
deploys read flat attributes (``settings.portal_domain``). Field names are unique across the
concerns, and so are rule names: a rule that shared another's name would replace it
(tests/unit/test_settings_doc.py checks both).
"""

from __future__ import annotations

from .access import AccessSettings
from .clock import TimeSettings
from .contacts import ContactSettings
from .docker import DockerSettings
from .intrusion import IntrusionSettings
from .portal import PortalSettings
from .publisher import PublisherSettings
from .receiver import ReceiverSettings
from .system import SystemSettings


# pydantic collects fields and rules from the last base to the first: the concerns are listed
# backwards so that fields, error lines and rules come in the order of docs/settings.md (the
# rehearsal switch and the secrets just before the first concern that reads them).
class Settings(
    ContactSettings,
    DockerSettings,
    PublisherSettings,
    IntrusionSettings,
    ReceiverSettings,
    SystemSettings,
    TimeSettings,
    AccessSettings,
    PortalSettings,
):
    """All of difusor's settings for one host, with their defaults."""
