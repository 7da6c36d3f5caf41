"""
Operation tests the way pyinfra tests its own operations: facts in, commands (or a no-op) out.

Each case is a JSON file in a directory named after the operation (``ufw.configured/*.json``
tests ``difusor.operations.ufw.configured``)::

    description       why the case matters (optional)
    kwargs            the operation's arguments
    facts             what the host reports, by fact and then by the fact's arguments:
                      {"files.File": {"path=/etc/x": {...}}, "difusor.facts.UfwState": {...}}
                      pyinfra's facts go by their short name (module.Class), difusor's by their
                      full path; arguments are "name=value" pairs sorted by name, joined by ", "
    commands          every command the operation yields, in order: a string per shell
                      command, ["upload", content, destination] per upload
    noop_description  what the operation says through host.noop when it changes nothing

The operation's generator runs against a fake host holding only those facts: a fact the case
does not give, or gives for other arguments, fails the test instead of passing silently.
"""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pyinfra.api import Config, FactBase, FileUploadCommand, StringCommand
from pyinfra.context import ctx_host, ctx_state

CASE_KEYS = {"description", "kwargs", "facts", "commands", "noop_description"}


@dataclass
class FakeHost:
    """The part of pyinfra's Host an operation's generator touches."""

    facts: dict[str, Any]
    noop_description: str | None = None
    current_op_global_arguments: dict = field(default_factory=dict)

    def get_fact(self, fact_class: type[FactBase], **arguments: Any) -> Any:
        name = fact_class.__module__.removeprefix("pyinfra.facts.") + "." + fact_class.__name__
        assert name in self.facts, f"the case gives no {name} fact"
        value = self.facts[name]
        if arguments:
            accepted = inspect.signature(fact_class.command).parameters
            unknown = set(arguments) - set(accepted)
            assert not unknown, f"{name} takes no argument {', '.join(sorted(unknown))}"
            key = ", ".join(f"{argument}={arguments[argument]}" for argument in sorted(arguments))
            assert key in value, f"the case gives no {name} for {key}"
            value = value[key]
        return copy.deepcopy(value)

    def noop(self, description: str) -> None:
        self.noop_description = description

    def get_temp_filename(self, *args: Any, **kwargs: Any) -> str:
        return "_tempfile_"


@dataclass
class Outcome:
    commands: list
    noop_description: str | None


def shown(command: Any) -> str | list:
    """A yielded command as the cases write it."""
    if isinstance(command, str):  # pyinfra turns a yielded string into a StringCommand
        return command.strip()
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        if isinstance(command.src, str):  # a local file's path
            return ["upload", command.src, command.dest]
        command.src.seek(0)
        return ["upload", command.src.read(), command.dest]
    raise TypeError(f"unexpected command {command!r}")


def run_operation(operation: str, kwargs: dict, facts: dict) -> Outcome:
    """Run ``difusor.operations.<operation>`` (e.g. ``ufw.configured``) on a host with ``facts``."""
    module, name = operation.rsplit(".", 1)
    function = getattr(import_module(f"difusor.operations.{module}"), name)
    host = FakeHost(facts=facts)
    state = SimpleNamespace(config=Config(), cwd=None)
    with ctx_state.use(state), ctx_host.use(host):
        commands = [shown(command) for command in function._inner(**kwargs)]
    return Outcome(commands, host.noop_description)


def load_case(path: Path) -> dict:
    case = json.loads(path.read_text())
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"{path.name}: unknown keys {', '.join(sorted(unknown))}"
    return case
