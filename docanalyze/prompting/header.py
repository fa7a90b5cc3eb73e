"""A template's own request settings: the ``docanalyze:`` header, and the budgets it changes.

A template may start with one Jinja comment that sets the model, temperature and output budget
of the requests rendered from it::

    {#- docanalyze: model=claude-haiku-4-5, temperature=0.2, max_tokens=1500 -#}
    {#- docanalyze: thinking=on, effort=high -#}

Settings are ``key=value`` pairs separated by commas or line breaks (a value may be quoted).
The header is read as text, never executed, and, being a comment, never reaches the prompt.
Only ``model``, ``temperature`` (0 to 1), ``max_tokens`` (at least 1), ``thinking`` (``on`` or
``off``) and ``effort`` (``low``, ``medium``, ``high``, ``xhigh``, ``max``) are allowed; any other
key, a bad value, or a header that is not the first thing in the template is a
:class:`~docanalyze.errors.TemplateError` naming the template and the line. Whether the stage's
model accepts the temperature, the thinking and the effort is checked when a run is prepared
(:func:`docanalyze.prompting.thinking.stage_budgets`), before any request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from docanalyze.errors import BudgetError, TemplateError
from docanalyze.models.anthropic.capabilities import EFFORT_LEVELS
from docanalyze.models.base import ModelLimits, Stage
from docanalyze.prompting.budgets import Budgets

__all__ = [
    "HEADER_KEYS",
    "TemplateHeaders",
    "TemplateSettings",
    "apply_template_budgets",
    "parse_template_header",
    "shown_path",
]

HEADER_KEYS = ("model", "temperature", "max_tokens", "thinking", "effort")
"""The settings a template header may set."""

_HEADER_START = re.compile(r"\{#-?\s*docanalyze\s*:")
_LEADING_HEADER = re.compile(r"\s*\{#-?\s*docanalyze\s*:(?P<body>.*?)-?#\}", re.DOTALL)
_SEPARATOR = re.compile(r"[,\n]")
_STAGES: tuple[Stage, ...] = ("map", "reduce", "final")


@dataclass(frozen=True)
class TemplateSettings:
    """What a template's header sets; ``None`` leaves the run's own setting."""

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    thinking: str | None = None
    effort: str | None = None

    def describe(self) -> str:
        """``model=..., temperature=...`` for the settings that are set, or ``""``."""
        values = {key: getattr(self, key) for key in HEADER_KEYS}
        return ", ".join(f"{key}={value}" for key, value in values.items() if value is not None)


class TemplateHeaders(Protocol):
    """What budgeting reads of a run's templates (a
    :class:`~docanalyze.prompting.templates.PromptSet`): each stage template's header settings
    and the file it came from."""

    def settings(self, name: Stage) -> TemplateSettings:
        """The settings in the header of template ``name``."""
        ...

    def origin(self, name: Stage) -> str:
        """The path of the file template ``name`` was loaded from."""
        ...


def parse_template_header(source: str, filename: str) -> TemplateSettings:
    """The settings in the header of template ``source`` (read from ``filename``).

    A template without a header has no settings. Raises :class:`TemplateError` naming the file,
    the line and the problem for an unknown key, a repeated key, a bad value, or a header that
    does not open the template.
    """
    header = _LEADING_HEADER.match(source)
    misplaced = _HEADER_START.search(source, header.end() if header else 0)
    if misplaced is not None:
        raise TemplateError(
            f"{_where(filename, _line_of(source, misplaced.start()))}: the docanalyze: header "
            "must be the first thing in the template"
        )
    if header is None:
        return TemplateSettings()
    values: dict[str, object] = {}
    offset = header.start("body")
    for item in _SEPARATOR.split(header.group("body")):
        line = _line_of(source, offset)
        offset += len(item) + 1
        if item.strip():
            key, value = _setting(item, _where(filename, line))
            if key in values:
                raise TemplateError(f"{_where(filename, line)}: {key} is set twice in the header")
            values[key] = value
    return TemplateSettings(**values)  # type: ignore[arg-type]


def apply_template_budgets(
    budgets: Budgets, prompts: TemplateHeaders, model: ModelLimits
) -> Budgets:
    """``budgets`` with each stage's output budget replaced by its template's ``max_tokens``.

    A header budget is checked like ``--max-tokens``: more than ``model`` can write, or leaving
    no room for the material in the context window, is a :class:`BudgetError` naming the
    template. (The window is that of the run's model, also for a template with its own model.)
    """
    chosen = {name: prompts.settings(name).max_tokens for name in _STAGES}
    origin = {name: f"template {shown_path(prompts.origin(name))}" for name in chosen}
    for stage, max_tokens in chosen.items():
        if max_tokens is not None and max_tokens > model.max_output_tokens:
            raise BudgetError(
                f"{origin[stage]}: max_tokens={max_tokens} is more than {model.name} can write "
                f"({model.max_output_tokens}); lower it in the template header"
            )
    updated = replace(
        budgets,
        map_max_tokens=chosen["map"] or budgets.map_max_tokens,
        reduce_max_tokens=chosen["reduce"] or budgets.reduce_max_tokens,
        final_max_tokens=chosen["final"] or budgets.final_max_tokens,
    )
    room = {
        "map": updated.map_max_tokens * 2,
        "reduce": updated.reduce_max_tokens * 2,
        "final": updated.final_max_tokens + updated.reduce_max_tokens * 2,
    }
    for stage, max_tokens in chosen.items():
        if max_tokens is not None and room[stage] > updated.request_limit:
            raise BudgetError(
                f"{origin[stage]}: max_tokens={max_tokens} leaves no room for the material in a "
                f"{model.context_window}-token context window; lower it in the template header "
                "or raise --context-window"
            )
    return updated


def _setting(item: str, where: str) -> tuple[str, object]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep:
        raise TemplateError(f"{where}: {item.strip()!r} in the docanalyze: header is not key=value")
    if key not in HEADER_KEYS:
        raise TemplateError(
            f"{where}: unknown setting {key!r} in the docanalyze: header; "
            f"allowed: {', '.join(HEADER_KEYS)}"
        )
    value = _unquote(raw.strip())
    return key, _PARSERS[key](value, f"{where}: {key}={raw.strip()}")


def _parse_model(value: str, problem: str) -> str:
    if not value or any(char.isspace() for char in value):
        raise TemplateError(f"{problem}: the model must be a model name, e.g. claude-haiku-4-5")
    return value


def _parse_temperature(value: str, problem: str) -> float:
    try:
        temperature = float(value)
    except ValueError:
        temperature = math.nan
    if not 0.0 <= temperature <= 1.0:
        raise TemplateError(f"{problem}: temperature must be a number from 0 to 1")
    return temperature


def _parse_max_tokens(value: str, problem: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise TemplateError(f"{problem}: max_tokens must be a whole number of at least 1")
    return int(value)


def _parse_thinking(value: str, problem: str) -> str:
    if value not in ("on", "off"):
        raise TemplateError(f"{problem}: thinking must be on or off")
    return value


def _parse_effort(value: str, problem: str) -> str:
    if value not in EFFORT_LEVELS:
        raise TemplateError(f"{problem}: effort must be one of {', '.join(EFFORT_LEVELS)}")
    return value


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "model": _parse_model,
    "temperature": _parse_temperature,
    "max_tokens": _parse_max_tokens,
    "thinking": _parse_thinking,
    "effort": _parse_effort,
}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value


def _line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


def _where(filename: str, line: int) -> str:
    """``template my-prompts/map.j2, line 1``."""
    return f"template {shown_path(filename)}, line {line}"


def shown_path(filename: str) -> str:
    """``filename`` relative to the working folder when inside it."""
    try:
        return str(Path(filename).relative_to(Path.cwd()))
    except ValueError:
        return filename
