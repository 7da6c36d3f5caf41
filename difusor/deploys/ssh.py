"""
SSH access: operator accounts with keys and passwordless sudo, root by key only (the
institute's keys in a file the deploy owns),
operators taken out of the settings left with no way in (account and files kept),
sshd per the DevSec ssh baseline (validated before it replaces the running config),
small Diffie-Hellman groups removed (sshd's fail2ban jail: difusor/deploys/intrusion.py).

Example::

    from difusor.deploys.ssh import ssh_access
    ssh_access()
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from difusor import hardening, paths
from difusor.context import ensure_no_lockout, host_settings
from difusor.deploys.docker import DOCKER_GROUP, docker_group, operator_groups
from difusor.operations import accounts, ssh
from difusor.platform import host_platform
from difusor.render import put_template, put_text
from difusor.settings import Settings

OPERATORS_GROUP = "difusor-operators"
# The GECOS comment that marks the accounts this deploy manages as operators.
OPERATOR_COMMENT = "difusor operator"
# Groups that make an account root-equivalent.
PRIVILEGED_GROUPS = (OPERATORS_GROUP, DOCKER_GROUP)
# Installed with the kit's other packages (base).
SSH_PACKAGES = ["openssh-server", "sudo"]
CLOUD_INIT_SSH_FILE = "/etc/cloud/cloud.cfg.d/90-difusor-ssh.cfg"


def sshd_context(settings: Settings) -> dict:
    """sshd_config: the baseline's algorithms (difusor/hardening.py) and the settings."""
    return {
        "kex_algorithms": hardening.SSH_KEX_ALGORITHMS,
        "ciphers": hardening.SSH_CIPHERS,
        "macs": hardening.SSH_MACS,
        "authorized_keys_dir": paths.AUTHORIZED_KEYS_DIR,
        "password_authentication": settings.ssh_password_authentication,
    }


@deploy("SSH access")
def ssh_access():
    settings = host_settings()
    ensure_no_lockout()

    accounts.group(name="Operators group", group=OPERATORS_GROUP)
    docker_group(settings)
    put_template(
        name="Passwordless sudo for operators",
        template="ssh/sudoers.j2",
        context={"group": OPERATORS_GROUP},
        dest=f"/etc/sudoers.d/{OPERATORS_GROUP}",
        validate="visudo -cqf {path}",
        mode="440",
    )
    accounts.logins(
        name="Operators: accounts, keys, sudo; former operators without a way in",
        users=[
            {
                "name": operator.name,
                "groups": ([OPERATORS_GROUP] if operator.sudo else []) + operator_groups(settings),
                "keys": operator.ssh_keys,
            }
            for operator in settings.operators
        ],
        comment=OPERATOR_COMMENT,
        managed_groups=list(PRIVILEGED_GROUPS),
    )
    # Exactly the settings' root keys, in a file of their own: a key taken off the settings
    # stops working, and root's own ~/.ssh/authorized_keys (a provider's key) is left alone.
    files.directory(
        name="sshd's managed keys directory",
        path=paths.AUTHORIZED_KEYS_DIR,
        user="root",
        group="root",
        mode="755",
    )
    put_text(
        name="Institute's keys for root",
        content="".join(f"{key}\n" for key in settings.root_ssh_keys),
        dest=paths.ROOT_KEYS_FILE,
        user="root",
        group="root",
        mode="600",
    )

    ssh.moduli(name="No small Diffie-Hellman groups", min_bits=hardening.SSH_MODULI_MIN_BITS)
    sshd_config = put_template(
        name="sshd configuration",
        template="ssh/sshd_config.j2",
        context=sshd_context(settings),
        dest="/etc/ssh/sshd_config",
        validate="sshd -t -f {path}",
        mode="600",
    )
    ssh.listens_itself(name="sshd listens as configured (ssh.service, not ssh.socket)")
    if host_platform().cloud_init:
        put_template(
            name="cloud-init keeps sshd's password setting",
            template="ssh/cloud-init-ssh.cfg.j2",
            context={"password_authentication": settings.ssh_password_authentication},
            dest=CLOUD_INIT_SSH_FILE,
        )
    systemd.service(name="Reload sshd", service="ssh", reloaded=True, _if=sshd_config.did_change)
