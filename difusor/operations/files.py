"""
File operations pyinfra lacks.

``validated``: put a configuration file in place only after a command has checked it. For
files whose mistakes lock people out (sshd_config, sudoers, nginx.conf): the new content is
uploaded beside the destination, checked, and renamed over it only if the check passes, so a
bad template never replaces a working file.

``link_if_absent``: a symlink that another program owns once it exists.

Example::

    from difusor.operations import files

    files.validated(content=text, dest="/etc/ssh/sshd_config", validate="sshd -t -f {path}")
    files.link_if_absent(path="/srv/difusor/current", target="/srv/difusor/placeholder")
"""

from __future__ import annotations

from hashlib import sha256
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import Directory, File, Link, Sha256File
from pyinfra.operations import files as pyinfra_files


@operation()
def validated(
    content: str,
    dest: str,
    validate: str,
    mode: str = "644",
    user: str = "root",
    group: str = "root",
):
    """
    + content: the file's text
    + dest: where it goes
    + validate: a command with ``{path}`` where the candidate file's path goes
    + mode/user/group: ownership and permissions of the file
    """
    current = host.get_fact(File, path=dest)
    same_content = host.get_fact(Sha256File, path=dest) == sha256(content.encode()).hexdigest()
    # pyinfra reports the mode as the digits of the octal value (0440 -> 440).
    attributes = (str(current["mode"]), current["user"], current["group"]) if current else None
    if same_content and attributes == (mode.lstrip("0"), user, group):
        host.noop(f"{dest} is up to date")
        return
    candidate = f"{dest}.difusor-new"
    yield from pyinfra_files.put._inner(
        src=StringIO(content), dest=candidate, mode=mode, user=user, group=group
    )
    yield StringCommand(validate.format(path=candidate))
    yield StringCommand("mv", "-f", candidate, dest)


@operation()
def link_if_absent(path: str, target: str):
    """
    Create the symlink ``path`` -> ``target`` only when ``path`` does not exist: for links
    another program owns afterwards (the publisher switches the live release).
    """
    if (
        host.get_fact(Link, path=path)
        or host.get_fact(File, path=path)
        or host.get_fact(Directory, path=path)
    ):
        host.noop(f"{path} exists")
        return
    yield StringCommand("ln", "-s", target, path)
