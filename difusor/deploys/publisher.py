"""
The publisher: the server-side program in ``server/difusor_server`` (standard library only)
installed under /opt/difusor, its configuration, the directories it owns, and the systemd
units that run it: the publisher service (it watches the incoming directory and sweeps once a
minute) and the freshness monitor every minute. What the program does: server/README.md.

Example::

    from difusor.deploys.publisher import publisher
    publisher()
"""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from difusor import paths
from difusor.accounts import PUBLISHER_USER
from difusor.context import host_settings
from difusor.operations import accounts
from difusor.operations import files as difusor_files
from difusor.render import put_json, put_text, put_texts, render
from difusor.settings import Settings

# Installed with the kit's other packages (base).
PUBLISHER_PACKAGES = ["python3"]
PROGRAM_SOURCE = Path(__file__).resolve().parents[2] / "server" / "difusor_server"
# The program's services run as the publisher account; under ProtectSystem=strict they may
# write only in writable_dirs.
PROGRAM_SERVICE = {
    "user": PUBLISHER_USER,
    "program_dir": paths.PROGRAM_DIR,
    "config_file": paths.PUBLISHER_CONFIG,
    "writable_dirs": [paths.SERVE_DIR, paths.STATE_DIR, paths.LOG_DIR],
}
# The systemd units, each with the values of its template.
UNITS = {
    "difusor-publisher.service": {**PROGRAM_SERVICE, "incoming_dir": paths.INCOMING_DIR},
    "difusor-monitor.service": PROGRAM_SERVICE,
    "difusor-monitor.timer": {},
}


def publisher_config(settings: Settings) -> dict:
    """The program's configuration file (server/README.md) from the settings."""
    purge: dict = {"type": settings.cdn_purge}
    if settings.cdn_purge == "cloudflare":
        purge.update(zone_id=settings.cloudflare_zone_id, token_file=paths.CDN_TOKEN_FILE)
    elif settings.cdn_purge == "command":
        purge.update(argv=settings.cdn_purge_command)
    return {
        "incoming_dir": paths.INCOMING_DIR,
        "archive_dir": paths.ARCHIVE_DIR,
        "releases_dir": paths.RELEASES_DIR,
        "current_link": paths.CURRENT_LINK,
        "quarantine_dir": paths.QUARANTINE_DIR,
        "state_dir": paths.STATE_DIR,
        "log_file": paths.PUBLISHER_LOG,
        "healthz_file": paths.HEALTHZ_FILE,
        "timezone": settings.timezone,
        "sidecar": settings.sidecar_policy,
        "keep_releases": settings.keep_releases,
        "period_minutes": settings.corte_period_minutes,
        "window_start": settings.publication_start.isoformat(timespec="minutes")
        if settings.publication_start
        else None,
        "purge": purge,
        "alert_webhook": settings.alert_webhook,
        # The monitor also reads the certificate nginx serves and asks chrony, over loopback,
        # whether the clock is synchronised (templates/time/chrony.conf.j2 answers there).
        "certificate_check": {"name": settings.portal_domain},
        "clock_check": {"address": "127.0.0.1", "port": 123},
    }


@deploy("Publisher")
def publisher():
    settings = host_settings()

    accounts.group(name="Publisher group", group=PUBLISHER_USER, system=True)
    accounts.system_user(
        name="Publisher account", user=PUBLISHER_USER, group=PUBLISHER_USER, home=paths.STATE_DIR
    )
    owned = {
        paths.SERVE_DIR: "755",
        paths.RELEASES_DIR: "755",
        paths.ARCHIVE_DIR: "750",
        paths.QUARANTINE_DIR: "750",
        paths.STATE_DIR: "750",
        paths.LOG_DIR: "750",
        # rsync's account writes here through the group; setgid keeps files in it.
        paths.INCOMING_DIR: "2770",
    }
    difusor_files.directories(
        name="Publisher directories", modes=owned, user=PUBLISHER_USER, group=PUBLISHER_USER
    )

    program = difusor_files.tree(
        name="Publisher program",
        src=str(PROGRAM_SOURCE),
        dest=f"{paths.PROGRAM_DIR}/difusor_server",
    )
    put_texts(
        name="Publisher documentation, log rotation for the publisher and rsync",
        files={
            f"{paths.PROGRAM_DIR}/README.md": (PROGRAM_SOURCE.parent / "README.md").read_text(),
            "/etc/logrotate.d/difusor": render(
                "publisher/logrotate-difusor.j2",
                log_files=[paths.PUBLISHER_LOG, paths.RSYNC_LOG],
                retention_days=settings.log_retention_days,
            ),
        },
    )
    config = put_json(
        name="Publisher configuration",
        data=publisher_config(settings),
        dest=paths.PUBLISHER_CONFIG,
        mode="644",
    )
    if settings.cdn_purge == "cloudflare":
        # The settings refuse cdn_purge="cloudflare" without the token.
        assert settings.cdn_token
        put_text(
            name="CDN token",
            content=settings.cdn_token.get_secret_value() + "\n",
            dest=paths.CDN_TOKEN_FILE,
            user="root",
            group=PUBLISHER_USER,
            mode="640",
        )
    else:
        files.file(name="No CDN token", path=paths.CDN_TOKEN_FILE, present=False)

    # One fact for the three: a new monitor unit restarts the publisher too, which only a
    # new release of the kit brings.
    units = put_texts(
        name="The publisher's and the monitor's systemd units",
        files={
            f"/etc/systemd/system/{unit}": render(f"publisher/{unit}.j2", **context)
            for unit, context in UNITS.items()
        },
    )
    systemd.daemon_reload(name="Reload units", _if=units.did_change)
    systemd.service(
        name="Restart the publisher with the new program, configuration or units",
        service="difusor-publisher.service",
        restarted=True,
        _if=any_changed(program, config, units),
    )
