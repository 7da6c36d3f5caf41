"""
SSH to a deployed server from the sysadmin's machine, with the connection settings the deploy
uses (``ssh_hostname``, ``ssh_user``, ``ssh_port``, ``ssh_key``, ``ssh_known_hosts_file``,
``ssh_strict_host_key_checking``, ``ssh_config_file``, ``_sudo``), through the system's
OpenSSH client: the same client serves commands, rsync and testinfra.

Example::

    from difusor.remote import Remote, SshTarget

    with Remote(SshTarget.from_host(host)) as remote:
        print(remote.run("cat /srv/difusor/current/corte.json").stdout)
        print(remote.fact(HostResources))    # a pyinfra fact: its command, its process()
        remote.rsync_pull(["/srv/difusor/archive/"], "backup/archive/")
"""

from __future__ import annotations

import inspect
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pyinfra.api import FactBase, StringCommand

from difusor import paths
from difusor.inventory import InventoryHost
from difusor.settings import SettingsError

T = TypeVar("T")
# Printed instead of a fact's output when the program it needs is not installed.
_MISSING_COMMAND = "__difusor_missing_command__"


def publisher_program(*args: str) -> str:
    """The shell command that runs the deployed publisher program (server/README.md) with
    ``args``; ``-B``: reading the server must not write bytecode next to the program."""
    return (
        f"env PYTHONPATH={paths.PROGRAM_DIR} python3 -B -m difusor_server {shlex.join(args)} "
        f"--config {paths.PUBLISHER_CONFIG}"
    )


@dataclass(frozen=True)
class SshTarget:
    """How to reach one host over SSH."""

    alias: str
    hostname: str
    user: str | None = None
    port: int | None = None
    key: str | None = None
    known_hosts_file: str | None = None
    strict_host_key_checking: str | None = None
    config_file: str | None = None
    sudo: bool = False

    @classmethod
    def from_host(cls, host: InventoryHost) -> SshTarget:
        data: dict[str, Any] = host.data
        if data.get("ssh_password"):
            raise SettingsError(
                [
                    f"{host.name}: ssh_password: difusor's own commands log in with a key only "
                    "(set ssh_key, or load the key into ssh-agent)"
                ]
            )
        port = data.get("ssh_port")
        return cls(
            alias=host.name,
            hostname=str(data.get("ssh_hostname") or host.name),
            user=data.get("ssh_user"),
            port=int(port) if port else None,
            key=str(Path(data["ssh_key"]).expanduser()) if data.get("ssh_key") else None,
            known_hosts_file=data.get("ssh_known_hosts_file"),
            strict_host_key_checking=data.get("ssh_strict_host_key_checking"),
            config_file=data.get("ssh_config_file"),
            sudo=bool(data.get("_sudo")),
        )

    def config(self, control_dir: Path | None = None) -> str:
        """An ssh_config block for this host (``ssh -F``, ``testinfra --ssh-config``)."""
        options = {
            "HostName": self.hostname,
            "User": self.user,
            "Port": self.port,
            "IdentityFile": self.key,
            "IdentitiesOnly": "yes" if self.key else None,
            "UserKnownHostsFile": self.known_hosts_file,
            "StrictHostKeyChecking": self.strict_host_key_checking,
            # Never stop at a prompt: a command from cron or a monitor must fail, not hang.
            "BatchMode": "yes",
            "ConnectTimeout": 10,
            "ServerAliveInterval": 15,
            "LogLevel": "ERROR",
        }
        if control_dir is not None:
            options.update(
                ControlMaster="auto", ControlPath=f"{control_dir}/%C", ControlPersist="120"
            )
        lines = [f"Host {self.alias}"]
        lines += [f"    {key} {value}" for key, value in options.items() if value is not None]
        if self.config_file:
            # The operator's own file fills in whatever the inventory does not set.
            lines += ["", "Match all", f"    Include {Path(self.config_file).expanduser()}"]
        return "\n".join(lines) + "\n"


class Remote:
    """One SSH master connection to a host, shared by every command, rsync and testinfra run
    made through it; closed on exit."""

    def __init__(self, target: SshTarget):
        self.target = target
        self._workdir = tempfile.TemporaryDirectory(prefix="difusor-ssh-")
        directory = Path(self._workdir.name)
        self.config_path = directory / "ssh_config"
        self.config_path.write_text(target.config(control_dir=directory))

    def __enter__(self) -> Remote:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        subprocess.run(
            ["ssh", "-F", str(self.config_path), "-O", "exit", self.target.alias],
            capture_output=True,
            timeout=15,
            check=False,
        )
        self._workdir.cleanup()

    @property
    def ssh_command(self) -> list[str]:
        """The ssh client with this host's configuration (for rsync's ``-e``)."""
        return ["ssh", "-F", str(self.config_path)]

    def _privileged(self, command: str) -> str:
        return f"sudo -n sh -c {shlex.quote(command)}" if self.target.sudo else command

    def run(
        self, command: str, timeout: float = 120, privileged: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host: as root (through sudo when the inventory says so),
        or as the login user with ``privileged=False``."""
        return subprocess.run(
            [
                *self.ssh_command,
                self.target.alias,
                self._privileged(command) if privileged else command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def fact(
        self, fact_class: type[FactBase[T]], *args: Any, privileged: bool = True, **kwargs: Any
    ) -> T:
        """A pyinfra fact, read as pyinfra reads it: its command run on the host (behind a check
        for the program it requires) and its output through its ``process``; its ``default()``
        when the program is missing, the command fails or prints nothing."""
        fact = fact_class()
        arguments = inspect.signature(fact.command).bind(*args, **kwargs).arguments
        command = _text(_call_with(fact.command, arguments))
        required = _call_with(fact.requires_command, arguments)
        if required:
            command = (
                f"if command -v {required} >/dev/null 2>&1; then ( {command} ); "
                f"else echo {_MISSING_COMMAND}; fi"
            )
        result = self.run(command, privileged=privileged)
        lines = result.stdout.splitlines()
        if result.returncode != 0 or not lines or lines == [_MISSING_COMMAND]:
            return fact.default()
        return fact.process(lines)

    def run_to_file(
        self, command: str, path: Path, timeout: float = 1800
    ) -> subprocess.CompletedProcess[bytes]:
        """Like :meth:`run`, with the command's output written to the local file ``path``
        (for outputs too large to hold in memory, such as a journal export)."""
        with path.open("wb") as output:
            return subprocess.run(
                [*self.ssh_command, self.target.alias, self._privileged(command)],
                stdout=output,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )

    def rsync_argv(self, *options: str) -> list[str]:
        """rsync over this connection; remote paths are written ``HOST:PATH``."""
        rsync_path = ["--rsync-path", "sudo -n rsync"] if self.target.sudo else []
        return ["rsync", "-e", shlex.join(self.ssh_command), *rsync_path, *options]

    def remote_path(self, path: str) -> str:
        return f"{self.target.alias}:{path}"


def _call_with(method: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """``method`` called with those of ``arguments`` it takes (pyinfra passes them by name)."""
    parameters = inspect.signature(method).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return method(**arguments)
    return method(**{name: value for name, value in arguments.items() if name in parameters})


def _text(command: str | StringCommand) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else command
