"""
Accounts, each judged by one cheap fact.

``not_in_groups``: what pyinfra's ``server.user`` leaves alone: it adds secondary groups, but
an empty ``groups`` list takes none away.

``system_user``: a service account (no password, no login shell, no home made for it): where
pyinfra's ``server.user`` reads the ``Users`` fact, which runs several commands for every
account on the host, this reads that one account.

Example::

    from difusor.operations import accounts

    accounts.not_in_groups(user="ana", groups=["difusor-operators", "docker"])
    accounts.system_user(user="difusor", group="difusor", home="/var/lib/difusor")
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from difusor.accounts import NOLOGIN
from difusor.facts import Account, UserGroups


@operation()
def not_in_groups(user: str, groups: list[str]):
    """
    Take ``user`` out of each of ``groups`` it is a member of (``gpasswd -d``).

    + user: the account
    + groups: secondary groups it must not be in; absent groups or users are fine
    """
    member_of = sorted(set(groups) & set(host.get_fact(UserGroups, user=user) or []))
    if not member_of:
        host.noop(f"{user} is in none of {', '.join(groups)}")
        return
    for group in member_of:
        yield StringCommand("gpasswd", "-d", QuoteString(user), QuoteString(group))


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
