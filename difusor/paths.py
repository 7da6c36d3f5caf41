"""Where things live on the server, shared by the deploys that write them and the
templates that read them."""

SERVE_DIR = "/srv/difusor"
# The live release: a symlink the publisher switches atomically. Its `site/` is the
# document root, its `corte.json` the corte stamp.
CURRENT_LINK = f"{SERVE_DIR}/current"
RELEASES_DIR = f"{SERVE_DIR}/releases"
PLACEHOLDER_DIR = f"{SERVE_DIR}/placeholder"
STATE_DIR = "/var/lib/difusor"
HEALTHZ_FILE = f"{STATE_DIR}/healthz.json"

ACME_WEBROOT = "/var/www/acme"
TLS_DIR = "/etc/difusor/tls"
