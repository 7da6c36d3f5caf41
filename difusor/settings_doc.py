"""
Write docs/settings.md from the settings model, so the reference cannot drift from the code.

    python -m difusor.settings_doc > docs/settings.md
"""

from __future__ import annotations

import ipaddress

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from difusor.settings import ENV_PREFIX, Settings


def settings_markdown() -> str:
    lines = [
        "# Settings",
        "",
        "Generated from `difusor/settings.py` by `python -m difusor.settings_doc`.",
        "Set them in `group_data/*.py` or per host in the inventory; secrets only in `.env`.",
        "",
        "| setting | default | description |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        if field.default is PydanticUndefined:
            default = "**required**"
        elif field.annotation == SecretStr | None:
            default = f"from `.env`: `{ENV_PREFIX}{name.upper()}`"
        elif isinstance(field.default, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            default = f"`{str(field.default)!r}`"
        else:
            default = f"`{field.default!r}`"
        lines.append(f"| `{name}` | {default} | {field.description or ''} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
