"""
Accounts, each kind judged by one cheap fact.

``logins``: the people who log in, all of them from one fact, where pyinfra's
``server.user`` reads seven facts per account (one of them every account's details, several
commands each), and adds secondary groups but never takes one away.

``group``: a group, judged by ``getent group`` (pyinfra's ``server.group`` reads every group
of the host and the host's OS).

``system_user``: a service account (no password, no login shell, no home made for it): where
pyinfra's ``server.user`` reads the ``Users`` fact, which runs several commands for every
account on the host, this reads that one account.

Example::

    from difusor.operations import accounts

    accounts.logins(
        users=[{"name": "ana", "groups": ["difusor-operators"], "keys": ["ssh-ed25519 AAAA..."]}],
        comment="difusor operator",
        managed_groups=["difusor-operators", "docker"],
    )
    accounts.group(group="difusor", system=True)
    accounts.system_user(user="difusor", group="difusor", home="/var/lib/difusor")
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

from difusor.accounts import NOLOGIN
from difusor.facts import Account, Group, Logins


def _owned(path: str, name: str, primary: str | None, mode: str, current: dict | None) -> list:
    """``path`` owned by ``name`` and its primary group (``primary``), with ``mode`` when one
    is given; ``current``: the path's state, None when it is new."""
    current = current or {}
    commands: list = []
    if (current.get("user"), current.get("group")) != (name, primary):
        commands.append(StringCommand("chown", f"{name}:", QuoteString(path)))
    if mode and str(current.get("mode")) != mode:
        commands.append(StringCommand("chmod", mode, QuoteString(path)))
    return commands


def _keys(name: str, home: str, keys: list[str], account: dict | None) -> list:
    """``~/.ssh`` (700) and ``~/.ssh/authorized_keys`` (600) with exactly ``keys``."""
    paths = account["paths"] if account else {}
    primary = account["group"] if account else None
    ssh_dir, keys_file = f"{home}/.ssh", f"{home}/.ssh/authorized_keys"
    commands: list = []
    if ssh_dir not in paths:
        commands.append(StringCommand("mkdir", "-p", QuoteString(ssh_dir)))
    commands += _owned(ssh_dir, name, primary, "700", paths.get(ssh_dir))
    current = paths.get(keys_file)
    if current is None or account is None or account["keys"] != keys:
        content = "".join(f"{key}\n" for key in keys)
        commands.append(
            FileUploadCommand(
                StringIO(content), keys_file, remote_temp_filename=host.get_temp_filename(keys_file)
            )
        )
        current = None  # an upload replaces the file: its owner and mode are set afresh
    return commands + _owned(keys_file, name, primary, "600", current)


def _login(user: dict, account: dict | None, comment: str, managed: list[str], shell: str):
    name, groups = user["name"], user["groups"]
    home = f"/home/{name}"
    commands: list = []
    if account is None:
        options = ["--create-home", "--home-dir", home, "--shell", shell, "--comment", comment]
        if groups:
            options += ["--groups", ",".join(groups)]
        commands.append(StringCommand("useradd", *map(QuoteString, options), QuoteString(name)))
        return commands + _keys(name, home, user["keys"], None)
    changes: list[str] = []
    for option, field, wanted in (
        ("--home", "home", home),
        ("--shell", "shell", shell),
        ("--comment", "comment", comment),
    ):
        if account[field] != wanted:
            changes += [option, wanted]
    if changes:
        commands.append(StringCommand("usermod", *map(QuoteString, changes), QuoteString(name)))
    missing = [group for group in groups if group not in account["groups"]]
    if missing:
        commands.append(
            StringCommand(
                "usermod", "--append", "--groups", QuoteString(",".join(missing)), QuoteString(name)
            )
        )
    commands += _not_in(name, account, [group for group in managed if group not in groups])
    if home not in account["paths"]:
        commands.append(StringCommand("mkdir", "-p", QuoteString(home)))
    commands += _owned(home, name, account["group"], "", account["paths"].get(home))
    return commands + _keys(name, home, user["keys"], account)


def _not_in(name: str, account: dict, groups: list[str]) -> list:
    return [
        StringCommand("gpasswd", "-d", QuoteString(name), QuoteString(group))
        for group in groups
        if group in account["groups"]
    ]


def _retired(name: str, account: dict, managed: list[str]) -> list:
    """Kept with its files, but no way in: no login shell, no keys, no managed group."""
    commands: list = []
    if account["shell"] != NOLOGIN:
        commands.append(StringCommand("usermod", "--shell", NOLOGIN, QuoteString(name)))
    if account["keys"]:
        commands += _keys(name, account["home"], [], account)
    return commands + _not_in(name, account, managed)


@operation()
def logins(users: list[dict], comment: str, managed_groups: list[str], shell: str = "/bin/bash"):
    """
    Login accounts marked with ``comment``, all judged by one fact. Each of ``users`` exists
    with ``shell``, home ``/home/<name>`` (made with the account) and its own ``~/.ssh``,
    exactly its keys in ``~/.ssh/authorized_keys`` and, of ``managed_groups``, exactly its
    groups (others an administrator gave it are left alone). Any other account marked with
    ``comment`` is retired and kept with its files: ``nologin``, no keys, in none of
    ``managed_groups``.

    + users: ``{"name", "groups", "keys"}`` for each account
    + comment: the mark (GECOS comment) of the accounts this operation manages
    + managed_groups: the groups whose membership it decides (sudo, docker)
    + shell: the login shell of the accounts in ``users``
    """
    wanted = {user["name"]: user for user in users}
    accounts = host.get_fact(Logins, users=tuple(wanted), comment=comment)
    retired = sorted(set(accounts) - set(wanted))
    commands = [
        command
        for user in users
        for command in _login(user, accounts.get(user["name"]), comment, managed_groups, shell)
    ]
    commands += [
        command for name in retired for command in _retired(name, accounts[name], managed_groups)
    ]
    if not commands:
        host.noop(f"{len(users)} login accounts as wanted, {len(retired)} retired")
        return
    yield from commands


@operation()
def group(group: str, system: bool = False):
    """
    + group: made when missing (``groupadd``)
    + system: made as a system group (``--system``)
    """
    if host.get_fact(Group, group=group) is not None:
        host.noop(f"group {group} exists")
        return
    yield StringCommand("groupadd", *(["--system"] if system else []), QuoteString(group))


@operation()
def system_user(user: str, group: str, home: str, shell: str = NOLOGIN):
    """
    + user: the account, made a system account (``useradd --system``) when missing
    + group: its primary group, which must exist
    + home: its home directory, recorded but not made (the deploy owns that directory)
    + shell: its login shell, ``nologin`` by default
    """
    account = host.get_fact(Account, user=user)
    if account is None:
        yield StringCommand(
            "useradd", "--system", "--no-create-home", "--gid", QuoteString(group),
            "--home-dir", QuoteString(home), "--shell", QuoteString(shell), QuoteString(user),
        )  # fmt: skip
        return
    changes = []
    for option, field, wanted in (
        ("--gid", "group", group),
        ("--home", "home", home),
        ("--shell", "shell", shell),
    ):
        if account[field] != wanted:
            changes += [option, QuoteString(wanted)]
    if not changes:
        host.noop(f"{user} is a service account of group {group}")
        return
    yield StringCommand("usermod", *changes, QuoteString(user))
