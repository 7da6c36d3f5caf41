# Your difusor server(s). Run:  pyinfra inventory/production.py deploy.py
# Per-host data overrides group_data/all.py.
difusores = [
    (
        "prep.example.com.mx",
        {
            "ssh_user": "root",
            # "ssh_key": "~/.ssh/id_ed25519",
        },
    ),
]
