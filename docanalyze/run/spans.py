"""Asking for a chunk span by span until every reply is whole: what both map stages share (the
report's, :mod:`docanalyze.run.map`, and the records', :mod:`docanalyze.records.extraction`).

A span whose prompt cannot be sent (:meth:`SpanStage.problem`) is asked in two halves. A request
that fails for good is recorded with its chunk and pages (:meth:`RunContext.record_failure`), a
refused one as a refused part (:meth:`RunContext.record_refusal`); neither gives a result. A
reply cut at ``max_tokens`` is asked again once with twice the room when it had the stage's
first budget and that fits, else in two halves, so no result is ever lost to truncation (a span
too short to cut fails its chunk, not the run). A whole reply is the stage's to turn into
results, or into a reason to ask again (:meth:`SpanStage.results`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from docanalyze.document import Chunk, Document
from docanalyze.errors import BudgetError, RequestFailed
from docanalyze.models.base import ModelReply, ModelRequest, Refusal
from docanalyze.prompting.budgets import Budgets
from docanalyze.run.context import CostStop, FailedPart, RefusedPart, RunContext, Step
from docanalyze.text.spans import split_point

__all__ = [
    "AskAgain",
    "ChunkAsker",
    "Span",
    "SpanPrompt",
    "SpanStage",
    "span_middle",
    "span_problem",
    "spans_that_fit",
]

Rendered = TypeVar("Rendered")
Result = TypeVar("Result")


class SpanPrompt(Protocol):
    """A span's prompt as rendered: the pages it covers and its estimated tokens."""

    @property
    def first_page(self) -> int: ...

    @property
    def last_page(self) -> int: ...

    @property
    def tokens(self) -> int: ...


Prompt = TypeVar("Prompt", bound=SpanPrompt)


@dataclass(frozen=True)
class Span:
    """``document.text[start:end]``, a part of ``chunk`` (the whole of it, or a half)."""

    chunk: Chunk
    start: int
    end: int


@dataclass(frozen=True)
class AskAgain:
    """A whole reply that is no result: the span is asked again with ``note`` added to its
    prompt (the notes of earlier replies kept), told as a re-ask for ``reason``."""

    reason: str
    note: str


class SpanStage(Protocol[Prompt, Result]):
    """What a map stage does with one span: render it, say why it cannot be sent, build its
    request, and turn a whole reply into results."""

    def render(self, span: Span) -> Prompt:
        """The span's prompt."""
        ...

    def problem(self, rendered: Prompt, max_tokens: int) -> str | None:
        """Why ``rendered`` cannot be sent with ``max_tokens`` of output (then its span is asked
        in halves), or None."""
        ...

    def request(self, rendered: Prompt, max_tokens: int, note: str) -> ModelRequest:
        """The request of ``rendered``, ``note`` (the :class:`AskAgain` notes) added."""
        ...

    def results(
        self, span: Span, rendered: Prompt, reply: ModelReply, note: str
    ) -> list[Result] | AskAgain | RequestFailed:
        """The results of a whole ``reply``; :class:`AskAgain` to ask again; a
        :class:`RequestFailed` when the span fails for good (recorded with its pages)."""
        ...


def span_problem(budgets: Budgets, rendered: SpanPrompt, max_tokens: int) -> str | None:
    """Why ``rendered`` cannot be sent with ``max_tokens`` of map output: it does not fit the
    window; None when it fits."""
    fits = budgets.fits(rendered.tokens, budgets.output("map", max_tokens))
    return None if fits else "does not fit the window"


@dataclass
class ChunkAsker(Generic[Prompt, Result]):
    """Asks for ``chunk`` through ``stage`` (see the module docstring): :meth:`ask` gives the
    results of its spans in document order. A request ``--max-cost`` stops raises
    :class:`CostStop` unless ``cost_stop_ends_run`` is false: then that span gives nothing,
    the other spans are still asked, and ``cost_stopped`` is set."""

    ctx: RunContext
    stage: SpanStage[Prompt, Result]
    chunk: Chunk
    cost_stop_ends_run: bool = True
    step: Step = field(default_factory=lambda: Step("map"))
    requests: int = 0
    """The requests sent (answered or failed for good)."""
    cost_stopped: bool = False
    answered: bool = False
    """Every span was answered: none refused, failed or stopped by ``--max-cost``."""

    async def ask(self) -> list[Result]:
        """The chunk's results; its step is finished when every span was answered."""
        chunk = self.chunk
        results = await self._span(chunk.start, chunk.end, self.ctx.budgets.map_max_tokens, "")
        unanswered = {part.chunk_index for part in self.ctx.refusals} | {
            part.chunk_index for part in self.ctx.failures
        }
        self.answered = chunk.index not in unanswered and not self.cost_stopped
        if self.answered:
            self.ctx.finish(self.step)
        return results

    async def _span(self, start: int, end: int, max_tokens: int, note: str) -> list[Result]:
        ctx, budgets, span = self.ctx, self.ctx.budgets, Span(self.chunk, start, end)
        rendered = self.stage.render(span)
        unsendable = self.stage.problem(rendered, max_tokens)
        if unsendable is not None:
            return await self._halves(start, end, max_tokens, unsendable)
        try:
            reply = await ctx.complete(self.stage.request(rendered, max_tokens, note), self.step)
        except CostStop:  # not sent
            if self.cost_stop_ends_run:
                raise
            self.cost_stopped = True
            return []
        except RequestFailed as error:
            self.requests += 1
            return self._fail(rendered, error)
        self.requests += 1
        if reply.refused:
            refusal = reply.refusal or Refusal()
            pages = rendered.first_page, rendered.last_page
            ctx.record_refusal(RefusedPart("map", *pages, refusal, self.chunk.index, reply.model))
            return []
        if reply.truncated:
            ctx.reask(self.step, "max_tokens")
            larger = max_tokens * 2
            if (
                max_tokens == budgets.map_max_tokens
                and budgets.fits(rendered.tokens, budgets.output("map", larger))
                and budgets.output("map", larger) <= ctx.model.max_output_tokens
            ):
                return await self._span(start, end, larger, note)
            try:
                middle = span_middle(
                    ctx.document, self.chunk, start, end, "was cut at max_tokens", max_tokens
                )
            except BudgetError as error:  # too short to cut again: the chunk fails, not the run
                return self._fail(rendered, RequestFailed(str(error), "map"))
            return await self._both_halves(start, middle, end, max_tokens)
        outcome = self.stage.results(span, rendered, reply, note)
        if isinstance(outcome, RequestFailed):
            return self._fail(rendered, outcome)
        if isinstance(outcome, AskAgain):
            ctx.reask(self.step, outcome.reason)
            return await self._span(start, end, max_tokens, note + outcome.note)
        return outcome

    async def _halves(self, start: int, end: int, max_tokens: int, reason: str) -> list[Result]:
        middle = span_middle(self.ctx.document, self.chunk, start, end, reason, max_tokens)
        return await self._both_halves(start, middle, end, max_tokens)

    async def _both_halves(
        self, start: int, middle: int, end: int, max_tokens: int
    ) -> list[Result]:
        first, second = await asyncio.gather(
            self._span(start, middle, max_tokens, ""), self._span(middle, end, max_tokens, "")
        )
        return [*first, *second]

    def _fail(self, rendered: Prompt, error: RequestFailed) -> list[Result]:
        pages = rendered.first_page, rendered.last_page
        self.ctx.record_failure(FailedPart("map", str(error), self.chunk.index, *pages), error)
        return []


def span_middle(
    document: Document, chunk: Chunk, start: int, end: int, reason: str, max_tokens: int
) -> int:
    """Where to cut ``document.text[start:end]`` of ``chunk`` in two (runs and plans alike);
    a :class:`BudgetError` saying ``reason`` when the span is too short to cut."""
    middle = split_point(document.text, start, end)
    if middle is None:
        raise BudgetError(
            f"the extraction of chunk {chunk.index + 1} (pages {chunk.first_page}-"
            f"{chunk.last_page}) {reason} even for {end - start} characters with "
            f"{max_tokens} output tokens; raise --context-window or use a larger model"
        )
    return middle


def spans_that_fit(
    document: Document,
    chunk: Chunk,
    max_tokens: int,
    render: Callable[[int, int], Rendered],
    problem: Callable[[Rendered], str | None],
) -> list[Rendered]:
    """The prompts a run sends first for ``chunk``, in document order: ``render(start, end)``
    of the whole chunk, or of its halves (:func:`span_middle`), cut again while ``problem``
    says why a prompt cannot be sent (plans and dry runs of both map stages)."""
    pending = [(chunk.start, chunk.end)]
    spans: list[Rendered] = []
    while pending:
        start, end = pending.pop()
        rendered = render(start, end)
        reason = problem(rendered)
        if reason is None:
            spans.append(rendered)
            continue
        middle = span_middle(document, chunk, start, end, reason, max_tokens)
        pending.extend([(middle, end), (start, middle)])
    return spans
