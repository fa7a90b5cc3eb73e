"""Token budgets: what must fit in one request to a model.

Budgets are made in one direction: planned here from the options and the model's limits
(:func:`plan_budgets`), then changed by the template headers
(:func:`docanalyze.prompting.header.apply_template_budgets`), then given each stage's thinking
allowance (:func:`docanalyze.prompting.thinking.stage_budgets`). This module imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from docanalyze.errors import BudgetError
from docanalyze.models.base import ModelLimits, Stage, Thinking
from docanalyze.options import Options

__all__ = ["Budgets", "StageThinking", "plan_budgets"]

SAFETY_MARGIN = 0.05
"""Share of the context window kept free for estimation error, on top of the estimator's own."""


@dataclass(frozen=True)
class StageThinking:
    """What a stage's requests send: ``thinking`` on/off (None: no setting), the effort (None:
    the model's default) and the tokens of ``max_tokens`` set aside for thinking; chosen by
    :func:`docanalyze.prompting.thinking.stage_budgets`."""

    thinking: Thinking | None = None
    effort: str | None = None
    allowance: int = 0

    def describe(self) -> str:
        """``thinking off``, ``thinking on at effort medium (+2,048 tokens)`` and the like."""
        if self.thinking is None and self.effort is None:
            return "no thinking setting"
        state = {"on": "thinking on", "off": "thinking off", None: "thinking"}[self.thinking]
        effort = f" at effort {self.effort}" if self.effort else ""
        room = f" (+{self.allowance:,} tokens)" if self.allowance else ""
        return f"{state}{effort}{room}"


@dataclass(frozen=True)
class Budgets:
    """The request limit and the output budget of each stage, in tokens.

    ``thinking`` holds each stage's thinking (chosen by
    :func:`docanalyze.prompting.thinking.stage_budgets`); a stage that thinks sends its text
    budget plus :meth:`allowance` as ``max_tokens``.
    """

    request_limit: int
    map_max_tokens: int
    reduce_max_tokens: int
    final_max_tokens: int
    thinking: Mapping[Stage, StageThinking] = field(default_factory=dict)

    def fits(self, prompt_tokens: int, max_tokens: int) -> bool:
        """Whether a prompt of ``prompt_tokens`` with ``max_tokens`` of output fits one request."""
        return prompt_tokens + max_tokens <= self.request_limit

    def allowance(self, stage: Stage) -> int:
        """The output tokens ``stage``'s requests set aside for thinking."""
        found = self.thinking.get(stage)
        return found.allowance if found is not None else 0

    def output(self, stage: Stage, text_tokens: int) -> int:
        """``max_tokens`` of a ``stage`` request whose text may take ``text_tokens``."""
        return text_tokens + self.allowance(stage)


def plan_budgets(options: Options, model: ModelLimits) -> Budgets:
    """Derive the budgets for ``model``; intermediate budgets shrink to fit small windows.

    The final report's budget (``--max-tokens``) is the user's: it is never shrunk, and a window
    too small for it is an error that names both numbers.
    """
    window = model.context_window
    limit = window - max(64, int(window * SAFETY_MARGIN))
    if options.max_tokens > model.max_output_tokens:
        raise BudgetError(
            f"--max-tokens {options.max_tokens} is more than {model.name} can write "
            f"({model.max_output_tokens}); lower --max-tokens"
        )
    intermediate_cap = max(256, limit // 4)
    map_budget = min(options.map_max_tokens, intermediate_cap, model.max_output_tokens)
    reduce_budget = min(options.reduce_max_tokens, intermediate_cap, model.max_output_tokens)
    if options.max_tokens + reduce_budget * 2 > limit:
        raise BudgetError(
            f"--max-tokens {options.max_tokens} leaves no room for the material in a "
            f"{window}-token context window; lower --max-tokens or raise --context-window"
        )
    return Budgets(limit, map_budget, reduce_budget, options.max_tokens)
