"""
The real deploy (``deploy.py``) run against a recorded host, without connecting: what a stock
Debian 12, Ubuntu 22.04 or Ubuntu 24.04 host reports, recorded from the sources of the
distributions' packages (each fact with its source, ``*.json`` beside this file).

pyinfra prepares a deploy by asking facts and running every operation against them; that is
what ``pyinfra --dry`` shows, and what this harness does with the facts of a recording in
place of a connection. A fact the recording does not give is what an empty output means for
it (no such file, directory, unit or package), i.e. the stock host does not have it.

Follow-ups (``_if=op.did_change``) are decided as pyinfra decides them at execution time, from
the commands of the operations they follow, each taken as run successfully.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra.api import Config, FileUploadCommand, Inventory, State, StringCommand
from pyinfra.api.facts import ShortFactBase
from pyinfra.api.host import Host
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.util import exec_file

REPO = Path(__file__).resolve().parents[3]
RECORDINGS = Path(__file__).parent


def fact_name(fact_class: type) -> str:
    return fact_class.__module__.removeprefix("pyinfra.facts.") + "." + fact_class.__name__


@dataclass
class Operation:
    name: str
    commands: list[str]


def shown(command: Any) -> str:
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        if isinstance(command.src, str):  # a file of this checkout (the publisher's program)
            return f"upload {command.dest}\n{Path(command.src).read_text()}"
        command.src.seek(0)
        return f"upload {command.dest}\n{command.src.read()}"
    return repr(command)


def load(name: str) -> dict:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


def run_deploy(
    facts: dict[str, Any], data: dict, monkeypatch, model: Any = None
) -> list[Operation]:
    """Prepare deploy.py for one host with ``data`` against ``facts`` (by fact name, and for a
    fact with arguments by "name=value" as in the operation cases); the operations in order
    with the commands each would run."""

    def get_fact(self: Host, fact_class: Any, *args: Any, **kwargs: Any) -> Any:
        if issubclass(fact_class, ShortFactBase):  # derived from another fact, as pyinfra does
            return fact_class().process_data(get_fact(self, fact_class.fact, *args, **kwargs))
        name = fact_name(fact_class)
        arguments = {k: v for k, v in kwargs.items() if not k.startswith("_")}
        if name in facts:
            value = facts[name]
            if isinstance(value, dict) and "by_argument" in value:
                key = ", ".join(f"{k}={arguments[k]}" for k in sorted(arguments))
                value = value["by_argument"].get(key, value.get("otherwise"))
            value = copy.deepcopy(value)
        else:
            try:
                value = fact_class().process([])
            except (IndexError, ValueError, KeyError):
                value = fact_class.default()
        return model.fact(name, arguments, value) if model else value

    monkeypatch.setattr(Host, "get_fact", get_fact)
    inventory = Inventory((["recorded-host"], data))
    state = State(inventory, Config())
    host = inventory.get_host("recorded-host")
    operations = []
    with (
        ctx_state.use(state),
        ctx_inventory.use(inventory),
        ctx_config.use(state.config),
        ctx_host.use(host),
    ):
        exec_file(str(REPO / "deploy.py"))
        for op_hash in state.get_op_order():
            op_data = state.get_op_data_for_host(host, op_hash)
            conditions = op_data.global_arguments.get("_if")
            if callable(conditions):
                conditions = [conditions]
            yielded = []
            if not conditions or all(condition() for condition in conditions):
                yielded = list(op_data.command_generator())
            # As if executed: the follow-ups of this operation read what it changed.
            op_data.operation_meta.set_complete(True, yielded, CommandOutput([]))
            commands = [shown(command) for command in yielded]
            name = next(iter(state.get_op_meta(op_hash).names))
            operations.append(Operation(name, commands))
    return operations
