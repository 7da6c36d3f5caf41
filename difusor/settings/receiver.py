"""Receiver: the rsync daemon (TCP 873) the institute pushes its packages to."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import SettingsModel
from .types import UNIX_NAME, matching

UserName = Annotated[
    str,
    matching(UNIX_NAME.pattern, "is not a valid user name (lower case letters, digits, '-', '_')"),
]


class ReceiverSettings(SettingsModel):
    """The rsync daemon (TCP 873) the institute pushes its packages to, from trusted sources;
    its password is a secret (`rsync_password`)."""

    rsync_user: UserName = Field(default="prep", description="rsync user the institute pushes as.")
    rsync_max_connections: int = Field(
        default=4, ge=1, le=64, description="Concurrent rsync uploads."
    )
