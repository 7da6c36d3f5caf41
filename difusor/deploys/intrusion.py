"""
Intrusion prevention: fail2ban bans, for a while, addresses that keep failing SSH logins or
rsync passwords, readers that keep hitting the portal's rate limit, and scanners probing
paths no difusor site has. Firewall bans are nftables sets of their own (IPv4 and IPv6)
ahead of ufw's rules; a portal ban is also enforced in nginx by the reader's real address,
which is the only place it works behind a CDN. Trusted sources are never banned from SSH or
the portal, CDN addresses never from the portal; rsync bans a trusted address on 873 only.

Example::

    from difusor.deploys.intrusion import intrusion_prevention
    intrusion_prevention()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from difusor import paths
from difusor.context import ensure_no_lockout, host_settings
from difusor.deploys.firewall import PUBLIC_TCP_PORTS, RSYNC_PORT, SSH_PORT
from difusor.deploys.portal import PORTAL_JAILS, real_ip_networks
from difusor.render import put_template
from difusor.settings import Settings

# Installed with the kit's other packages (base). python3-systemd: the sshd jail reads the
# journal (Debian 12 and Ubuntu keep no auth.log).
INTRUSION_PACKAGES = ["fail2ban", "python3-systemd", "nftables"]
JAILS_FILE = "/etc/fail2ban/jail.d/difusor.local"
# Where the SSH role used to write the sshd jail.
FORMER_JAILS_FILE = "/etc/fail2ban/jail.d/difusor-sshd.local"
FILTERS = ("difusor-portal-flood", "difusor-portal-scan", "difusor-rsync-auth")
NGINX_ACTION = "difusor-nginx-ban"
LOOPBACK = ["127.0.0.1/8", "::1"]

# Paths no difusor site has and scanners ask for, as regular expressions for the whole path
# (compared without case; answered 404 they count). Not among them: /.well-known/ (ACME
# challenges, security.txt), nor any path a reader may mistype or follow from an old link.
PROBE_PATHS = (
    # Well-known applications' first path segment: WordPress, database consoles, routers,
    # application servers.
    r"/(?:wp-[^/\"\\]*|wordpress|phpmyadmin[^/\"\\]*|pma|myadmin|adminer[^/\"\\]*|mysql"
    r"|cgi-bin|boaform|hnap1|actuator|vendor|owa|autodiscover|remote|manager|solr|telescope"
    r"|server-status|console|jenkins|geoserver)(?:/[^\"\\]*)?",
    # Hidden files and directories: .env, .git/config, .aws/credentials, .ssh/id_rsa.
    r"[^\"\\]*/\.(?!well-known(?:[/\"]|$))[^\"\\]*",
    # Server-side scripts, environment files and dumps: a static site has none of them.
    r"[^\"\\]*\.(?:php\d?|phtml|aspx?|jsp|cgi|env|sql|bak)(?:/[^\"\\]*)?",
)


def probe_paths_regex() -> str:
    return "(?i:" + "|".join(PROBE_PATHS) + ")"


class Thresholds(TypedDict):
    maxretry: int
    findtime: int
    bantime: int


@dataclass(frozen=True)
class Jail:
    """One fail2ban jail: what it watches, the ports a ban closes, who is never banned."""

    name: str
    purpose: str
    filter: str
    ports: tuple[int, ...]
    ignoreip: list[str]
    maxretry: int
    findtime: int
    bantime: int
    logpath: str | None = None  # None: the journal
    in_nginx: bool = False  # also banned in nginx, by the reader's real address (PORTAL_JAILS)

    @property
    def backend(self) -> str:
        return "auto" if self.logpath else "systemd"


def jails(settings: Settings) -> list[Jail]:
    """The jails, in the order of the jail file, with the thresholds of the settings."""
    trusted = [str(network) for _, network in settings.networks()]
    portal_never = list(dict.fromkeys(LOOPBACK + trusted + real_ip_networks(settings)))

    def thresholds(jail: str) -> Thresholds:
        return Thresholds(
            maxretry=getattr(settings, f"{jail}_jail_maxretry"),
            findtime=getattr(settings, f"{jail}_jail_findtime"),
            bantime=getattr(settings, f"{jail}_jail_bantime"),
        )

    return [
        Jail(
            "sshd",
            "SSH: failed logins, from the journal; never a trusted source.",
            "sshd[mode=aggressive]",
            (SSH_PORT,),
            LOOPBACK + trusted,
            **thresholds("ssh"),
        ),
        Jail(
            PORTAL_JAILS[0],
            "Portal: requests refused by the per-reader limits, again and again.",
            "difusor-portal-flood",
            PUBLIC_TCP_PORTS,
            portal_never,
            logpath=paths.NGINX_ERROR_LOG,
            in_nginx=True,
            **thresholds("portal_flood"),
        ),
        Jail(
            PORTAL_JAILS[1],
            "Portal: probes for paths no difusor site has (a reader's 404s do not count).",
            "difusor-portal-scan",
            PUBLIC_TCP_PORTS,
            portal_never,
            logpath=paths.NGINX_ACCESS_LOG,
            in_nginx=True,
            **thresholds("portal_scan"),
        ),
        Jail(
            "rsync-auth",
            "rsync: wrong passwords. Only trusted sources reach 873: banned there, only there.",
            "difusor-rsync-auth",
            (RSYNC_PORT,),
            LOOPBACK,
            logpath=paths.RSYNC_LOG,
            **thresholds("rsync"),
        ),
    ]


def filter_contexts() -> dict[str, dict]:
    return {
        "difusor-portal-flood": {},
        "difusor-portal-scan": {"probe_paths": probe_paths_regex()},
        "difusor-rsync-auth": {},
    }


@deploy("Intrusion prevention")
def intrusion_prevention():
    settings = host_settings()
    ensure_no_lockout()
    all_jails = jails(settings)

    configuration = [
        put_template(
            name=f"fail2ban filter {name}",
            template=f"fail2ban/{name}.conf.j2",
            context=context,
            dest=f"/etc/fail2ban/filter.d/{name}.conf",
        )
        for name, context in filter_contexts().items()
    ]
    configuration.append(
        put_template(
            name="fail2ban action: ban in nginx",
            template=f"fail2ban/{NGINX_ACTION}.conf.j2",
            context={"bans_dir": paths.NGINX_BANS_DIR},
            dest=f"/etc/fail2ban/action.d/{NGINX_ACTION}.conf",
        )
    )
    configuration.append(
        put_template(
            name="fail2ban jails",
            template="fail2ban/jails.local.j2",
            context={"jails": all_jails, "nginx_action": NGINX_ACTION},
            dest=JAILS_FILE,
        )
    )
    configuration.append(
        files.file(name="No jail file of earlier versions", path=FORMER_JAILS_FILE, present=False)
    )
    # fail2ban will not start while a jail's log file is missing (a fresh host's rsync daemon
    # may not have written one yet): each is made, empty, where there is none.
    for log in sorted({jail.logpath for jail in all_jails if jail.logpath}):
        files.file(name=f"Log file {log}", path=log, present=True)
    # Running and started at boot: checked with the kit's other services at the end.
    systemd.service(
        name="Restart fail2ban with its new configuration",
        service="fail2ban",
        restarted=True,
        _if=any_changed(*configuration),
    )
