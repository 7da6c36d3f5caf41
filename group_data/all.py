# Settings of your difusor server. Every setting and its default: docs/settings.md.
# Values here apply to all hosts; an inventory entry can override them per host.
# Secrets (rsync password, CDN token) go in .env, never here.

# The public name of your results portal.
portal_domain = "prep.example.com.mx"
admin_email = "sistemas@example.com.mx"

# Networks allowed to reach SSH (22) and rsync (873), by name: the institute's technicians
# and package pushers (ask the OPLE/INE for their ranges), and your own admin networks.
# List IPv6 prefixes too: a rule for an IPv4 network does not cover IPv6.
# Documentation ranges below: replace them before the first deploy.
trusted_sources = {
    "instituto": ["192.0.2.0/28", "2001:db8:100::/48"],
    "administracion": ["198.51.100.0/29", "2001:db8:200::/48"],
}

# Administrators: Unix accounts with passwordless sudo, SSH keys only.
operators = [
    {
        "name": "ana",
        "ssh_keys": [
            # One key per string, whole, as `ssh-keygen` prints it (keys outrun the line limit).
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINssMoocNROg4N5ybtQgRvzRZiEUQDuiJzrRD/xVyp53 ana@example (replace)",  # noqa: E501
        ],
    },
]

# Keys of the institute's technicians for root (the institute asks for root access): exactly
# these keys, in /etc/ssh/authorized_keys.d/root; root's own authorized_keys is left alone.
root_ssh_keys: list[str] = []

# Your staff for coordination and technical support, as the institute asks for them (2024
# IV.a.ii): `difusor evidence` writes them to personal.csv and the compliance document.
# contacts = [
#     {"name": "Ana Pérez", "role": "Coordinación", "phone": "+52 228 123 4567",
#      "email": "ana.perez@example.com.mx"},
#     {"name": "Luis Gómez", "role": "Soporte técnico", "phone": "+52 55 1234 5678",
#      "email": "soporte@example.com.mx"},
# ]

# Election night. The monitor alerts only inside the publication window: from this local
# time until 23:59 of the seventh day after (the last corte must stay online until then).
# publication_start = "2024-06-02T20:00"
# sidecar_policy = "if-present"     # "require" if the institute agrees to send NAME.zip.sha256

# The portal.
# tls_source = "acme"               # or "provided" with tls_certificate_file / tls_key_file
# embed_origins = ["https://www.example.com.mx"]   # your pages that frame the results
# cdn = "cloudflare"                 # trust Cloudflare for the readers' real addresses
# cdn_purge = "cloudflare"           # with cloudflare_zone_id and DIFUSOR_CDN_TOKEN in .env
# alert_webhook = "https://alertas.example.com.mx/hooks/prep"
