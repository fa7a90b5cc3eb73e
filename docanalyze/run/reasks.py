"""Asking a request again when its reply is no answer: cut while thinking, or refused.

A reply cut at ``max_tokens`` while the model was still thinking is asked again with more room
for thinking (never in halves: thinking does not shrink with the text); a refused reply is
asked of the fallback model when there is one. :meth:`docanalyze.run.context.RunContext.complete`
calls these with itself, seen as a :class:`ReaskContext`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from docanalyze.errors import BudgetError
from docanalyze.events import EventHandler, Notice
from docanalyze.models.base import Model, ModelReply, ModelRequest
from docanalyze.prompting.budgets import Budgets
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.thinking import THINKING_ALLOWANCE

__all__ = ["MAX_THINKING_RETRIES", "ReaskContext", "refusal_reask", "thinking_reask"]

MAX_THINKING_RETRIES = 3
"""How often a reply cut while the model was still thinking is asked again with more room."""


class ReaskContext(Protocol):
    """What a re-ask reads of the run (a :class:`~docanalyze.run.context.RunContext`)."""

    @property
    def model(self) -> Model:
        """The run's model."""
        ...

    @property
    def budgets(self) -> Budgets:
        """The run's token budgets."""
        ...

    @property
    def renderer(self) -> PromptRenderer:
        """The run's prompts, for the size of a request."""
        ...

    @property
    def fallback_model(self) -> str | None:
        """The model a refused request is asked of, if any."""
        ...

    @property
    def emit(self) -> EventHandler:
        """Where the run's notices go."""
        ...


def thinking_reask(
    ctx: ReaskContext, request: ModelRequest, reply: ModelReply, retries: int
) -> ModelRequest | None:
    """``request`` with more room for thinking, when ``reply`` was cut while the model was
    still thinking (it wrote less than half its text budget); None otherwise.

    The room is at least twice what the reply thought and twice the allowance it had, and at
    least the allowance of the effort the model thinks at (a request that sent no effort, or
    no allowance, thinks at the model's default effort). Halving the text would not help:
    thinking does not shrink with it. Raises :class:`BudgetError` when the room cannot grow
    (the window or the output limit) or after :data:`MAX_THINKING_RETRIES` re-asks.
    """
    used = reply.answered_usage  # a stored reply: as when it was paid for
    if not reply.truncated or used.thinking_tokens == 0:
        return None
    if used.text_tokens * 2 >= request.text_budget:
        return None  # the text itself is long: the stage asks again for more text
    # It used all its room and was still thinking: give it at least twice what it used.
    allowance = max(
        2 * request.thinking_allowance,
        2 * used.thinking_tokens,
        _effort_allowance(ctx, request),
    )
    max_tokens = request.text_budget + allowance
    grows = (
        retries < MAX_THINKING_RETRIES
        and max_tokens <= ctx.model.max_output_tokens
        and ctx.budgets.fits(ctx.renderer.input_estimate(request), max_tokens)
    )
    if not grows:
        raise BudgetError(
            f"a {request.stage} request was cut at max_tokens {request.max_tokens} while "
            f"{reply.model} was still thinking ({used.thinking_tokens:,} thinking "
            "tokens); lower --effort, or turn thinking off with --thinking off where the "
            "model allows it"
        )
    ctx.emit(
        Notice(
            f"a {request.stage} reply was cut while {reply.model} was still thinking: asking "
            f"again with {allowance:,} tokens for thinking"
        )
    )
    return replace(request, max_tokens=max_tokens, thinking_allowance=allowance)


def _effort_allowance(ctx: ReaskContext, request: ModelRequest) -> int:
    """The thinking allowance of the effort ``request`` is answered at."""
    rules = ctx.model.rules_of(request.model or ctx.model.name)
    effort = request.effort or rules.default_effort or "low"
    return THINKING_ALLOWANCE.get(effort, THINKING_ALLOWANCE["low"])


def refusal_reask(
    ctx: ReaskContext, request: ModelRequest, reply: ModelReply
) -> ModelRequest | None:
    """``request`` for the fallback model when ``reply`` is a refusal and a fallback model
    is set that has not refused it yet; None otherwise."""
    fallback = ctx.fallback_model
    if not reply.refused or fallback is None or (request.model or ctx.model.name) == fallback:
        return None
    why = reply.refusal.describe() if reply.refusal else "no category"
    ctx.emit(Notice(f"{reply.model} refused a {request.stage} request ({why}): asking {fallback}"))
    return replace(request, model=fallback)
