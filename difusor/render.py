"""
Render the kit's Jinja2 templates (top-level ``templates/``) and put files on the server.

A template gets exactly the values it uses: ``render`` refuses a context with a value the
template does not use or without one it does (in any branch), so what a template reads is
always visible where the deploy builds its context. Deploys run in pyinfra's prepare stage,
so such an error stops the deploy before anything on the server has changed.

Every role writes its files through ``put_template``, ``put_json``, ``put_text`` or
``put_texts``. They are thin helpers, not operations of their own: each returns
:func:`difusor.operations.files.content` (one fact per file, where pyinfra's ``files.put``
reads three; ``pyinfra --diff`` still shows the diff), :func:`~difusor.operations.files.contents`
(one fact for several files) or
:func:`difusor.operations.files.validated` when a command must check the file first, with
its name and change detection, so ``_if=op.did_change`` follows up as usual.

Example::

    from difusor.render import put_template

    journald = put_template(
        name="journald: persistent, compressed, capped",
        template="base/journald.conf.j2",
        context={"max_use_mb": 512, "retention_days": 120},
        dest="/etc/systemd/journald.conf.d/60-difusor.conf",
    )
    systemd.service(service="systemd-journald", restarted=True, _if=journald.did_change)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta
from pyinfra.api.operation import OperationMeta

from difusor.operations import files as kit_files

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_LOADER = FileSystemLoader(TEMPLATES)


class TemplateContextError(ValueError):
    """A template was given other values than the ones it uses."""


@cache
def _environment() -> Environment:
    return Environment(
        loader=_LOADER,
        undefined=StrictUndefined,  # a missing value is an error, never an empty line
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def template_variables(name: str) -> frozenset[str]:
    """The names ``templates/<name>`` reads from its context."""
    environment = _environment()
    source, _, _ = _LOADER.get_source(environment, name)
    used = meta.find_undeclared_variables(environment.parse(source))
    return frozenset(used - set(environment.globals))


def render(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` with exactly the values it uses."""
    used = template_variables(name)
    problems = []
    if missing := used - context.keys():
        problems.append(f"needs {', '.join(sorted(missing))}")
    if unused := context.keys() - used:
        problems.append(f"does not use {', '.join(sorted(unused))}")
    if problems:
        raise TemplateContextError(f"template {name}: {'; '.join(problems)}")
    return _environment().get_template(name).render(**context)


def put_text(content: str, dest: str, **arguments: Any) -> OperationMeta:
    """``content`` into ``dest``; ``arguments`` (name, mode, user, group, ...) pass through."""
    return kit_files.content(content=content, dest=dest, **arguments)


def put_texts(files: Mapping[str, str], **arguments: Any) -> OperationMeta:
    """Several files (destination -> text) judged by one fact; ``arguments`` as in
    :func:`put_text`, for every one of them."""
    return kit_files.contents(files=dict(files), **arguments)


def put_json(data: Mapping[str, Any], dest: str, **arguments: Any) -> OperationMeta:
    """A JSON file built with ``json.dumps``: two-space indent, sorted keys, final newline."""
    return put_text(json.dumps(data, indent=2, sort_keys=True) + "\n", dest, **arguments)


def put_template(
    template: str,
    dest: str,
    context: Mapping[str, Any] | None = None,
    validate: str | None = None,
    **arguments: Any,
) -> OperationMeta:
    """
    Render ``templates/<template>`` with ``context`` (exactly the values it uses) into ``dest``.

    + validate: a command with ``{path}`` that must accept the new file before it replaces
      the old one (:func:`difusor.operations.files.validated`); without it, ``content``
    + arguments: name, mode, user, group and pyinfra's global arguments, passed through
    """
    content = render(template, **(context or {}))
    if validate:
        return kit_files.validated(content=content, dest=dest, validate=validate, **arguments)
    return put_text(content, dest, **arguments)
