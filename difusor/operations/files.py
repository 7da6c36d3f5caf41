"""
Put a configuration file in place only after a command has validated it.

For files whose mistakes lock people out (sshd_config, sudoers): the new content is
uploaded beside the destination, checked, and renamed over it only if the check passes,
so a bad template never replaces a working file.

Example::

    from difusor.operations import files

    files.validated(content=text, dest="/etc/ssh/sshd_config", validate="sshd -t -f {path}")
"""

from __future__ import annotations

from hashlib import sha256
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations import files as pyinfra_files


@operation()
def validated(content: str, dest: str, validate: str, mode: str = "644", user="root", group="root"):
    """
    + content: the file's text
    + dest: where it goes
    + validate: a command with ``{path}`` where the candidate file's path goes
    + mode/user/group: ownership and permissions of the file
    """
    current = host.get_fact(File, path=dest)
    same_content = host.get_fact(Sha256File, path=dest) == sha256(content.encode()).hexdigest()
    # pyinfra reports the mode as the digits of the octal value (0440 -> 440).
    same_attributes = bool(current) and (str(current["mode"]), current["user"], current["group"]) == (
        mode.lstrip("0"),
        user,
        group,
    )
    if same_content and same_attributes:
        host.noop(f"{dest} is up to date")
        return
    candidate = f"{dest}.difusor-new"
    yield from pyinfra_files.put._inner(
        src=StringIO(content), dest=candidate, mode=mode, user=user, group=group
    )
    yield StringCommand(validate.format(path=candidate))
    yield StringCommand("mv", "-f", candidate, dest)
