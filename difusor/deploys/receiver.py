"""
Receiving packages: the rsync daemon (TCP 873) with a write-only upload module for the
institute, password from .env, reachable only from the trusted sources (ufw outside,
`hosts allow` inside), chrooted, writing as an unprivileged account.

Example::

    from difusor.deploys.receiver import receiver
    receiver()
"""

from __future__ import annotations

from pyinfra.api import deploy

from difusor import paths
from difusor.accounts import PUBLISHER_USER, UPLOAD_ACCOUNT
from difusor.context import host_settings
from difusor.operations import accounts
from difusor.render import put_template, put_text
from difusor.settings import Settings

RSYNC_MODULE = "prep"
# Installed with the kit's other packages (base).
RECEIVER_PACKAGES = ["rsync"]


def rsyncd_context(settings: Settings) -> dict:
    """rsyncd.conf: one upload module, written as the upload account into the incoming
    directory, open to the trusted sources only."""
    return {
        "log_file": paths.RSYNC_LOG,
        "max_connections": settings.rsync_max_connections,
        "module": RSYNC_MODULE,
        "incoming": paths.INCOMING_DIR,
        "uid": UPLOAD_ACCOUNT,
        "gid": PUBLISHER_USER,
        "user": settings.rsync_user,
        "secrets_file": paths.RSYNC_SECRETS,
        "hosts_allow": [str(network) for _, network in settings.networks()],
    }


@deploy("Package receiver")
def receiver():
    settings = host_settings()

    accounts.system_user(
        name="Upload account", user=UPLOAD_ACCOUNT, group=PUBLISHER_USER, home="/nonexistent"
    )
    put_text(
        name="rsync secrets",
        content=f"{settings.rsync_user}:{settings.rsync_password.get_secret_value()}\n",
        dest=paths.RSYNC_SECRETS,
        user="root",
        group="root",
        mode="600",
    )
    # The daemon reads its configuration and secrets at each connection: no restart needed
    # (it starts, at the end of the deploy, once its configuration exists).
    put_template(
        name="rsync daemon configuration",
        template="receiver/rsyncd.conf.j2",
        context=rsyncd_context(settings),
        dest="/etc/rsyncd.conf",
    )
