"""Pure checks of the target host against what the institute asks for."""

from __future__ import annotations

from difusor.hardening import MINIMUM_RESOURCES, SUPPORTED_SYSTEMS


def unsupported_system(name: str | None, major: int | None, minor: int | None) -> str | None:
    """An error message when the distribution is not one difusor supports, else None."""
    if (name, major) in SUPPORTED_SYSTEMS and (name != "Ubuntu" or minor == 4):
        return None
    supported = ", ".join(
        f"{n} {m}.04" if n == "Ubuntu" else f"{n} {m}" for n, m in sorted(SUPPORTED_SYSTEMS)
    )
    version = f"{major}.{minor:02d}" if name == "Ubuntu" and minor is not None else f"{major}"
    return f"{name} {version} is not supported (supported: {supported})"


def resource_warnings(resources: dict) -> list[str]:
    """Where the host falls short of the institute's minimum server (8 cores >= 2.0 GHz,
    16 GB RAM, 100 GB SSD). Warnings only: a rehearsal host is smaller on purpose."""
    minimum = MINIMUM_RESOURCES
    warnings = []
    if (resources.get("cores") or 0) < minimum["cores"]:
        warnings.append(
            f"{resources.get('cores')} CPU cores, the institute asks for {minimum['cores']}"
        )
    if resources.get("mhz") and resources["mhz"] < minimum["mhz"]:
        warnings.append(
            f"CPU at {resources['mhz']} MHz, the institute asks for >= {minimum['mhz']}"
        )
    if resources.get("memory_mb", 0) < minimum["memory_mb"]:
        warnings.append(f"{resources.get('memory_mb')} MiB of memory, the institute asks for 16 GB")
    if resources.get("root_gb", 0) < minimum["root_gb"]:
        warnings.append(
            f"{resources.get('root_gb')} GiB root file system, the institute asks for 100 GB"
        )
    if resources.get("rotational"):
        warnings.append("the root file system is on a rotational disk, the institute asks for SSD")
    return warnings
