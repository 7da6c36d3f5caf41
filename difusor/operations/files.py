"""
File operations pyinfra lacks.

``validated``: put a configuration file in place only after a command has checked it. For
files whose mistakes lock people out (sshd_config, sudoers, nginx.conf): the new content is
uploaded beside the destination, checked, and renamed over it only if the check passes, so a
bad template never replaces a working file.

``link_if_absent``: a symlink that another program owns once it exists.

``content``: a file with the given text, judged by one fact (pyinfra's ``files.put`` reads
three); ``contents``: several files, judged by one fact for all of them.

``directories``: several directories with their modes, judged by one ``stat``.

``tree``: a local directory copied whole, judged by one fact for the remote tree rather than
pyinfra's ``files.sync``, which reads two or three facts per file and directory.

Example::

    from difusor.operations import files

    files.validated(content=text, dest="/etc/ssh/sshd_config", validate="sshd -t -f {path}")
    files.link_if_absent(path="/srv/difusor/current", target="/srv/difusor/placeholder")
    files.tree(src="server/difusor_server", dest="/opt/difusor/difusor_server")
    files.directories(modes={"/srv/difusor/archive": "750"}, user="difusor", group="difusor")
"""

from __future__ import annotations

import posixpath
from fnmatch import fnmatch
from hashlib import sha256
from io import StringIO
from pathlib import Path

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.operations import files as pyinfra_files
from pyinfra.operations.util import files as file_utils

from difusor.facts import FileState, FileStates, PathStates, Tree


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
    current = host.get_fact(FileState, path=dest)
    # FileState gives the mode as the digits of the octal value (0440 -> 440).
    wanted = (mode.lstrip("0"), user, group, sha256(content.encode()).hexdigest())
    if (
        current
        and (str(current["mode"]), current["user"], current["group"], current["sha256"]) == wanted
    ):
        host.noop(f"{dest} is up to date")
        return
    candidate = f"{dest}.difusor-new"
    yield from pyinfra_files.put._inner(
        src=StringIO(content), dest=candidate, mode=mode, user=user, group=group
    )
    yield StringCommand(validate.format(path=candidate))
    yield StringCommand("mv", "-f", candidate, dest)


def _content_commands(
    content: str, dest: str, mode: str | None, user: str | None, group: str | None, current
) -> list:
    """What makes ``dest`` (whose state, as :class:`FileState` gives it, is ``current``) hold
    ``content`` with ``mode``, ``user`` and ``group`` (those given)."""
    commands: list = []
    if current is None:
        commands.append(StringCommand("mkdir", "-p", posixpath.dirname(dest)))
    if current is None or current["sha256"] != sha256(content.encode()).hexdigest():
        upload = FileUploadCommand(
            StringIO(content), dest, remote_temp_filename=host.get_temp_filename(dest)
        )
        commands.append(upload)
        current = {}  # an upload replaces the file: its attributes are set afresh
    if (user and current.get("user") != user) or (group and current.get("group") != group):
        commands.append(file_utils.chown(dest, user, group))
    # pyinfra reports the mode as the digits of the octal value (0640 -> 640).
    if mode and str(current.get("mode")) != mode.lstrip("0"):
        commands.append(file_utils.chmod(dest, mode))
    return commands


@operation()
def content(
    content: str,
    dest: str,
    mode: str | None = None,
    user: str | None = None,
    group: str | None = None,
):
    """
    + content: the file's text
    + dest: where it goes (its directory is made when the file is new)
    + mode/user/group: permissions and ownership, left as they are when not given
    """
    if state.config.DIFF:  # ``pyinfra --diff``: pyinfra's own put, which shows the diff
        yield from pyinfra_files.put._inner(
            src=StringIO(content), dest=dest, mode=mode, user=user, group=group
        )
        return
    current = host.get_fact(FileState, path=dest)
    commands = _content_commands(content, dest, mode, user, group, current)
    if not commands:
        host.noop(f"{dest} is up to date")
        return
    yield from commands


@operation()
def contents(
    files: dict[str, str],
    mode: str | None = None,
    user: str | None = None,
    group: str | None = None,
):
    """
    Several files as :func:`content` makes one, judged by one fact for all of them.

    + files: destination -> text
    + mode/user/group: permissions and ownership of every one of them, left as they are when
      not given
    """
    if state.config.DIFF:
        for dest, text in files.items():
            yield from pyinfra_files.put._inner(
                src=StringIO(text), dest=dest, mode=mode, user=user, group=group
            )
        return
    states = host.get_fact(FileStates, paths=tuple(files))
    commands = [
        command
        for dest, text in files.items()
        for command in _content_commands(text, dest, mode, user, group, states.get(dest))
    ]
    if not commands:
        host.noop(f"{len(files)} files are up to date")
        return
    yield from commands


@operation()
def link_if_absent(path: str, target: str):
    """
    Create the symlink ``path`` -> ``target`` only when ``path`` does not exist: for links
    another program owns afterwards (the publisher switches the live release).
    """
    # stat without -L: a link is reported as one, whatever it points to.
    if host.get_fact(PathStates, paths=(path,)):
        host.noop(f"{path} exists")
        return
    yield StringCommand("ln", "-s", target, path)


def local_tree(src: str, exclude: tuple[str, ...]) -> dict[str, str | None]:
    """Relative path -> SHA-256 (``None`` for a directory) of ``src`` and what is under it,
    without the entries whose name matches a pattern of ``exclude`` (nor what is under them)."""
    root = Path(src)
    entries: dict[str, str | None] = {"": None}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(fnmatch(part, pattern) for part in relative.parts for pattern in exclude):
            continue
        entries[str(relative)] = sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return entries


@operation()
def tree(
    src: str,
    dest: str,
    mode: str = "644",
    dir_mode: str = "755",
    user: str = "root",
    group: str = "root",
    exclude: tuple[str, ...] = ("__pycache__", "*.pyc"),
):
    """
    Make ``dest`` an exact copy of the local directory ``src``: files uploaded when their
    content differs, modes and owners set, anything else under ``dest`` removed (except what
    ``exclude`` matches, left as it is on both sides).

    + src: the local directory
    + dest: the remote directory
    + mode/dir_mode: permissions of the files and of the directories
    + user/group: owner of everything copied
    + exclude: name patterns (fnmatch) of files and directories to leave out
    """
    wanted = local_tree(src, exclude)
    remote = host.get_fact(Tree, path=dest) or {}
    commands: list = []
    for relative, digest in wanted.items():
        path = f"{dest}/{relative}".rstrip("/")
        current = remote.get(relative)
        is_file = digest is not None
        if current is None or ("sha256" in current) != is_file:
            if current is not None:
                commands.append(StringCommand("rm", "-rf", path))
            if is_file:
                commands.append(FileUploadCommand(str(Path(src, relative)), path))
            else:
                commands.append(StringCommand("mkdir", "-p", path))
            current = {}
        elif is_file and current["sha256"] != digest:
            commands.append(FileUploadCommand(str(Path(src, relative)), path))
        wanted_mode = mode if is_file else dir_mode
        if str(current.get("mode")) != wanted_mode.lstrip("0"):
            commands.append(StringCommand("chmod", wanted_mode, path))
        if (current.get("user"), current.get("group")) != (user, group):
            commands.append(StringCommand("chown", f"{user}:{group}", path))
    stale = {
        relative
        for relative in set(remote) - set(wanted)
        if not any(fnmatch(part, pattern) for part in Path(relative).parts for pattern in exclude)
    }
    for relative in sorted(stale):
        if not any(str(parent) in stale for parent in Path(relative).parents):
            commands.append(StringCommand("rm", "-rf", f"{dest}/{relative}"))
    if not commands:
        host.noop(f"{dest} matches {src} ({len(wanted)} entries)")
        return
    yield from commands


@operation()
def directories(modes: dict[str, str], user: str = "root", group: str = "root"):
    """
    Each directory of ``modes`` present (parents made as needed) with its mode, and owned by
    ``user`` and ``group``.

    + modes: directory -> mode (``"2770"`` keeps the setgid bit)
    + user/group: owner of every one of them
    """
    # pyinfra gives None when stat prints nothing: none of them exists yet.
    states = host.get_fact(PathStates, paths=tuple(modes)) or {}
    commands: list = []
    for path, mode in modes.items():
        current = states.get(path)
        if current is None:
            commands.append(StringCommand("mkdir", "-p", path))
            current = {}
        elif current["type"] != "directory":
            raise OperationError(f"{path} exists and is a {current['type']}, not a directory")
        if (current.get("user"), current.get("group")) != (user, group):
            commands.append(file_utils.chown(path, user, group))
        if str(current.get("mode")) != mode.lstrip("0"):
            commands.append(file_utils.chmod(path, mode))
    if not commands:
        host.noop(f"{len(modes)} directories as wanted")
        return
    yield from commands
