"""How much each stage thinks: up-front thinking on or off, the effort, and its room in ``max_tokens``.

The Claude 5.x models think by default, inside ``max_tokens``, and bill thinking as output. An
extraction or a merge gains little from it, so by default:

- **map and reduce** run without up-front thinking where the model lets them (``between_tools``
  on Sonnet 5.5, ``disabled`` elsewhere), and at the lowest effort the model accepts where it
  always thinks (Opus 5.5, Fable);
- **the final report** keeps adaptive thinking, at ``medium`` effort where the model has one.

``--thinking on|off`` and ``--effort LEVEL`` (``Options.thinking``, ``Options.effort``) set every
stage (``--thinking api`` sends no thinking setting at all and leaves the model to the API's
defaults, with no allowance: the behaviour of a client that knows nothing of thinking); a template header's ``thinking=`` and ``effort=`` set its own stage and win. A setting the
stage's model does not accept is a :class:`~docanalyze.errors.ConfigError` that names the model and
what it accepts, raised when the run is prepared, before any request.

When a stage thinks, its requests' ``max_tokens`` is the stage's text budget plus a thinking
allowance for the effort (:data:`THINKING_ALLOWANCE`), within the model's output limit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from docanalyze.errors import ConfigError, TemplateError, UsageError
from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.base import ModelLimits, Stage
from docanalyze.prompting.budgets import Budgets, StageThinking, plan_budgets
from docanalyze.prompting.header import apply_template_budgets, shown_path

if TYPE_CHECKING:
    from docanalyze.options import Options
    from docanalyze.prompting.templates import PromptSet

__all__ = [
    "FINAL_EFFORT",
    "THINKING_ALLOWANCE",
    "resolve_stage_thinking",
    "rules_for",
    "stage_budgets",
]

FINAL_EFFORT = "medium"
"""The final report's effort by default, where the model has an effort parameter."""
THINKING_ALLOWANCE = {"low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
"""Output tokens set aside for thinking at each effort, on top of the stage's text budget."""
_DEFAULT_ALLOWANCE = THINKING_ALLOWANCE["high"]


def rules_for(model: ModelLimits, name: str) -> Capabilities:
    """The request rules of model ``name`` as ``model`` knows them (a Claude backend learns them
    from the Models API), else the catalog's."""
    return model.rules_of(name)


def stage_budgets(options: Options, prompts: PromptSet, model: ModelLimits) -> Budgets:
    """Every stage's budgets and thinking for a run of ``model``, checked before any request.

    The output budgets come from the options and the template headers
    (:func:`~docanalyze.prompting.header.apply_template_budgets`); each stage's thinking from
    ``--thinking``/``--effort`` and its header, by the rules of the stage's model. A template
    ``temperature`` that the stage's model rejects is a :class:`TemplateError` that says so.
    """
    budgets = apply_template_budgets(plan_budgets(options, model), prompts, model)
    thinking: dict[Stage, StageThinking] = {}
    stages: tuple[Stage, ...] = ("map", "reduce", "final")
    for stage in stages:
        settings = prompts.settings(stage)
        name = settings.model or model.name
        rules = rules_for(model, name)
        template = f"template {shown_path(prompts.origin(stage))}"
        if settings.temperature is not None and model.features.sampling and rules.rejects_sampling:
            raise TemplateError(
                f"{template}: temperature={settings.temperature:g} is rejected by {name}, which "
                "accepts no sampling parameters: remove temperature from the docanalyze: header "
                "(or set model= there to a model that accepts it)"
            )
        where = template if (settings.thinking or settings.effort) else "--thinking/--effort"
        chosen = (
            resolve_stage_thinking(
                stage,
                name,
                rules,
                thinking=settings.thinking or options.thinking,
                effort=settings.effort or options.effort,
                where=where,
            )
            if model.features.thinking
            else StageThinking()  # the backend takes no thinking settings (offline, say)
        )
        text = {
            "map": budgets.map_max_tokens,
            "reduce": budgets.reduce_max_tokens,
            "final": budgets.final_max_tokens,
        }[stage]
        room = max(0, min(chosen.allowance, model.max_output_tokens - text))
        thinking[stage] = replace(chosen, allowance=room)
    return _fitted(replace(budgets, thinking=thinking))


def _fitted(budgets: Budgets) -> Budgets:
    """``budgets`` with thinking allowances cut so that the final request and two merges'
    worth of material still fit the window (small windows only)."""
    needed = budgets.output("final", budgets.final_max_tokens) + 2 * budgets.output(
        "reduce", budgets.reduce_max_tokens
    )
    excess = needed - budgets.request_limit
    if excess <= 0:
        return budgets
    thinking = dict(budgets.thinking)
    order: tuple[Stage, ...] = ("final", "reduce")
    for stage in order:
        current = thinking.get(stage)
        if current is None or excess <= 0:
            continue
        cut = min(current.allowance, excess if stage == "final" else -(-excess // 2))
        thinking[stage] = replace(current, allowance=current.allowance - cut)
        excess -= cut if stage == "final" else cut * 2
    return replace(budgets, thinking=thinking)


def resolve_stage_thinking(
    stage: Stage,
    model: str,
    rules: Capabilities,
    *,
    thinking: str | None,
    effort: str | None,
    where: str,
) -> StageThinking:
    """The thinking of ``stage`` with ``model`` (which follows ``rules``).

    ``thinking`` (``on``/``off``, or None/``auto`` for the stage's default) and ``effort`` are
    what the user asked, from ``where`` (e.g. ``--effort`` or a template's header). Raises
    :class:`ConfigError` naming the model and what it accepts when the model cannot do it.
    """
    asked = None if thinking in (None, "auto") else thinking
    if asked == "api":  # send no thinking setting: the model thinks as the API's default says
        if rules.known:
            _check_effort(model, rules, effort, where)
        return StageThinking(None, effort, 0)
    if not rules.known:  # a model nobody describes: send what was asked, unchecked
        chosen = asked or ("on" if stage == "final" else None)
        allowance = _allowance(effort) if chosen == "on" else 0
        return StageThinking(chosen, effort, allowance)  # type: ignore[arg-type]
    _check_effort(model, rules, effort, where)
    if asked == "on":
        if not rules.can_think:
            raise _error_of(where)(f"{where}: {model} does not think; remove thinking=on")
        return StageThinking("on", effort, _allowance(effort or rules.default_effort))
    if asked == "off":
        if not rules.can_turn_off:
            raise _error_of(where)(
                f"{where}: {model} always thinks, so thinking cannot be off; lower the effort "
                f"to think less (it accepts {', '.join(rules.efforts)})"
            )
        if not rules.off_allowed_at(effort):
            raise _error_of(where)(
                f"{where}: thinking cannot be off on {model} at effort {effort}, only at "
                f"{', '.join(rules.off_efforts)}"
            )
        return StageThinking("off", effort, 0)
    return _default(stage, rules, effort)


def _default(stage: Stage, rules: Capabilities, effort: str | None) -> StageThinking:
    if stage == "final":
        if not rules.can_think:
            return StageThinking(None, effort, 0)
        chosen = effort or (FINAL_EFFORT if FINAL_EFFORT in rules.efforts else None)
        return StageThinking("on", chosen, _allowance(chosen or rules.default_effort))
    if rules.can_turn_off and rules.off_allowed_at(effort):
        return StageThinking("off", effort, 0)
    if rules.thinks_by_default and rules.off_type is not None:  # off not allowed at this effort
        return StageThinking("on", effort, _allowance(effort))
    lowest = effort or rules.lowest_effort
    return StageThinking("off", lowest, _allowance(lowest))


def _check_effort(model: str, rules: Capabilities, effort: str | None, where: str) -> None:
    if effort is None:
        return
    if not rules.efforts:
        raise _error_of(where)(f"{where}: {model} has no effort setting; remove effort")
    if effort not in rules.efforts:
        raise _error_of(where)(
            f"{where}: {model} does not accept effort {effort}; it accepts {', '.join(rules.efforts)}"
        )


def _error_of(where: str) -> type[ConfigError]:
    """The error of a setting the model does not accept: a usage error when it comes from the
    command line's options (they conflict with ``--model``), else a configuration error."""
    return UsageError if where.startswith("--") else ConfigError


def _allowance(effort: str | None) -> int:
    return THINKING_ALLOWANCE.get(effort or "", _DEFAULT_ALLOWANCE)
