"""The switch that marks a rehearsal inventory, which some concerns' rules read."""

from __future__ import annotations

from pydantic import Field

from .base import SettingsModel


class RehearsalSettings(SettingsModel):
    """Rehearsal inventories (the lab, Vagrant) may relax what production never may."""

    rehearsal: bool = Field(
        default=False, description="Marks a rehearsal inventory (lab or Vagrant), never production."
    )
