"""The ``shared_instructions`` block of a template: the part every request of a stage shares.

A template may wrap the instructions that do not depend on the request (no document text, no
chunk number, no partial results) in ``{% block shared_instructions %}...{% endblock %}``.
Rendered whole, the template is unchanged: a block renders in place. For prompt caching
(:mod:`docanalyze.prompting.cache`) the block is also rendered alone, once per run, with the run's
variables only, and the template without it gives the per-request message.

The block may be defined by the template itself or by a template it ``{% extends %}`` by a
constant name (e.g. ``"default/map.j2"``); an override of the block wins, as in Jinja.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Context

__all__ = [
    "SHARED_BLOCK",
    "has_shared_block",
    "render_shared_block",
    "render_without_shared_block",
]

SHARED_BLOCK = "shared_instructions"


def has_shared_block(environment: jinja2.Environment, template: jinja2.Template) -> bool:
    """Whether ``template`` (or a template it extends) defines the shared block."""
    return any(SHARED_BLOCK in link.blocks for link in _chain(environment, template))


def render_shared_block(
    environment: jinja2.Environment, template: jinja2.Template, values: Mapping[str, Any]
) -> str | None:
    """The shared block alone, rendered with ``values``; None when the template has none.

    Errors are raised as Jinja raises them from ``Template.render`` (with template lines).
    """
    chain = list(_chain(environment, template))
    if not any(SHARED_BLOCK in link.blocks for link in chain):
        return None
    context = template.new_context(dict(values))
    for parent in chain[1:]:  # as {% extends %} does: the child's blocks first, then each parent's
        for name, block in parent.blocks.items():
            context.blocks.setdefault(name, []).append(block)
    block = context.blocks[SHARED_BLOCK][0]
    try:
        return environment.concat(block(context))
    except Exception:  # noqa: BLE001 - as Template.render: re-raised with template lines
        environment.handle_exception()


def render_without_shared_block(
    environment: jinja2.Environment, template: jinja2.Template, values: Mapping[str, Any]
) -> str:
    """``template`` rendered with ``values``, its shared block left out (rendered empty)."""
    context = template.new_context(dict(values))
    context.blocks[SHARED_BLOCK] = [_empty_block]
    try:
        return environment.concat(template.root_render_func(context))
    except Exception:  # noqa: BLE001 - as Template.render: re-raised with template lines
        environment.handle_exception()


def _empty_block(context: Context) -> Iterator[str]:
    return iter(())


def _chain(environment: jinja2.Environment, template: jinja2.Template) -> Iterator[jinja2.Template]:
    """``template``, then the templates it extends by a constant name, nearest first."""
    seen: set[str] = set()
    current: jinja2.Template | None = template
    while current is not None:
        yield current
        parent = _static_parent(environment, current)
        if parent is None or parent in seen:
            return
        seen.add(parent)
        current = environment.get_template(parent)


def _static_parent(environment: jinja2.Environment, template: jinja2.Template) -> str | None:
    """The name in the template's ``{% extends "NAME" %}``, when it is a constant."""
    if environment.loader is None or template.name is None:
        return None
    source, _, _ = environment.loader.get_source(environment, template.name)
    return _constant_extends(source)


_PARSER = jinja2.Environment()  # parses only, never renders; the syntax is Jinja's default


@functools.lru_cache(maxsize=64)
def _constant_extends(source: str) -> str | None:
    for extends in _PARSER.parse(source).find_all(nodes.Extends):
        if isinstance(extends.template, nodes.Const) and isinstance(extends.template.value, str):
            return extends.template.value
    return None
