"""Intrusion prevention: the fail2ban jails that ban addresses which keep failing or abusing."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import SettingsModel

# fail2ban's find and ban times, in seconds: short enough for a rehearsal to see a release,
# no longer than a week (a permanent ban is a firewall rule, not a jail).
MIN_SECONDS = 10
MAX_FIND_SECONDS = 86400
MAX_BAN_SECONDS = 7 * 86400


def max_retries(default: int, counted: str, minimum: int = 1) -> Any:
    return Field(
        default=default,
        ge=minimum,
        le=100_000,
        description=f"{counted}: this many from one address within the find time ban it.",
    )


def find_time(default: int) -> Any:
    return Field(
        default=default,
        ge=MIN_SECONDS,
        le=MAX_FIND_SECONDS,
        description="Find time: the seconds over which they are counted.",
    )


def ban_time(default: int, where: str) -> Any:
    return Field(
        default=default,
        ge=MIN_SECONDS,
        le=MAX_BAN_SECONDS,
        description=f"Seconds the address stays banned {where}.",
    )


class IntrusionSettings(SettingsModel):
    """fail2ban bans an address that keeps failing or abusing, for a while, over IPv4 and IPv6.
    SSH and the portal never ban a trusted source; the portal never bans a CDN address and
    bans a reader behind the CDN by its real address in nginx (403), since the firewall only
    sees the CDN's edge; a reader arriving directly is also dropped at the firewall (80, 443).
    Only trusted sources reach rsync, so its jail bans a trusted address, on 873 only."""

    ssh_jail_maxretry: int = max_retries(5, "Failed SSH logins")
    ssh_jail_findtime: int = find_time(600)
    ssh_jail_bantime: int = ban_time(3600, "from TCP 22")
    rsync_jail_maxretry: int = max_retries(5, "Wrong rsync user names or passwords")
    rsync_jail_findtime: int = find_time(600)
    rsync_jail_bantime: int = ban_time(
        600,
        "from TCP 873 (shorter than a corte period: a pusher whose password was fixed misses "
        "at most one corte; `fail2ban-client set rsync-auth unbanip ADDRESS` ends it sooner)",
    )
    portal_flood_jail_maxretry: int = max_retries(
        600,
        "Requests refused by the portal's rate or connection limit (429)",
        minimum=10,
    )
    portal_flood_jail_findtime: int = find_time(60)
    portal_flood_jail_bantime: int = ban_time(
        600, "from the portal (short: many readers can share one address)"
    )
    portal_scan_jail_maxretry: int = max_retries(
        3,
        "Requests answered 404 for paths no difusor site has (/wp-login.php, /.env, "
        "/phpmyadmin, any .php, ...; a reader's other 404s never count)",
        minimum=2,
    )
    portal_scan_jail_findtime: int = find_time(600)
    portal_scan_jail_bantime: int = ban_time(3600, "from the portal")
