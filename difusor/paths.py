"""Where things live on the server, shared by the deploys that write them and the
templates that read them."""

SERVE_DIR = "/srv/difusor"
# The live release: a symlink the publisher switches atomically. Its `site/` is the
# document root, its `corte.json` the corte stamp.
CURRENT_LINK = f"{SERVE_DIR}/current"
RELEASES_DIR = f"{SERVE_DIR}/releases"
PLACEHOLDER_DIR = f"{SERVE_DIR}/placeholder"
STATE_DIR = "/var/lib/difusor"
HEALTHZ_FILE = f"{SERVE_DIR}/healthz.json"

ACME_WEBROOT = "/var/www/acme"
NGINX_ACCESS_LOG = "/var/log/nginx/access.log"
NGINX_ERROR_LOG = "/var/log/nginx/error.log"
# Readers banned by fail2ban, one file per jail, that nginx includes: behind a CDN the
# firewall sees only the CDN's edge, nginx sees the reader.
NGINX_BANS_DIR = "/etc/nginx/difusor-bans"
# nginx's micro-cache in proxy mode; nginx creates only its last component.
MICRO_CACHE_DIR = "/var/cache/nginx/difusor"
TLS_DIR = "/etc/difusor/tls"

# Receiving and publishing packages (see server/README.md)
INCOMING_DIR = f"{SERVE_DIR}/incoming"
ARCHIVE_DIR = f"{SERVE_DIR}/archive"
QUARANTINE_DIR = f"{SERVE_DIR}/quarantine"
LOG_DIR = "/var/log/difusor"
PUBLISHER_LOG = f"{LOG_DIR}/publisher.log"
RSYNC_LOG = "/var/log/rsyncd.log"
PROGRAM_DIR = "/opt/difusor/server"
PUBLISHER_CONFIG = "/etc/difusor/publisher.json"
CDN_TOKEN_FILE = "/etc/difusor/cdn-token"
RSYNC_SECRETS = "/etc/rsyncd.secrets"

# Keys sshd reads besides ~/.ssh/authorized_keys (AuthorizedKeysFile ... DIR/%u): the
# deploy owns these files and writes exactly the keys of the settings.
AUTHORIZED_KEYS_DIR = "/etc/ssh/authorized_keys.d"
ROOT_KEYS_FILE = f"{AUTHORIZED_KEYS_DIR}/root"

# The portal's no-store beacon for the difusor's own pages (docs/cdn.md): every load of such
# a page reaches the origin's access log, also behind a CDN, for the memoria técnica.
BEACON_PATH = "/_difusor/beacon"
