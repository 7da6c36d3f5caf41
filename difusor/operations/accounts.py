"""
Account state that pyinfra's ``server.user`` leaves alone: it adds secondary groups, but an
empty ``groups`` list takes none away.

Example::

    from difusor.operations import accounts

    accounts.not_in_groups(user="ana", groups=["difusor-operators", "docker"])
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from difusor.facts import UserGroups


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
