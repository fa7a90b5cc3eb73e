"""The map stage: one extraction per chunk, split or given more room until nothing is cut."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from docanalyze.document import Chunk, Document, Partial
from docanalyze.errors import BudgetError, RequestFailed
from docanalyze.events import Notice, StageStarted
from docanalyze.models.base import CitableText, ModelReply, Refusal, pdf_input_fits
from docanalyze.prompting.citable import page_citables
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.report.result import ChunkResult
from docanalyze.run.context import (
    FailedPart,
    FailureStop,
    RefusalStop,
    RefusedPart,
    RunContext,
    Step,
)
from docanalyze.run.grounding import ground_reply, points_text
from docanalyze.text.spans import split_point

__all__ = ["MapPrompt", "map_chunks", "map_prompt", "span_middle", "spans_that_fit"]

Rendered = TypeVar("Rendered")


async def map_chunks(
    ctx: RunContext, chunks: list[Chunk]
) -> tuple[list[ChunkResult], list[Partial]]:
    """Extract every chunk concurrently (the model bounds concurrency); keep document order.

    Raises :class:`RefusalStop` once every chunk was asked when the model refused any part, and
    :class:`FailureStop` when a request failed for good: the other chunks are still extracted
    (and stored), so that the next run asks only for the failed ones."""
    ctx.emit(StageStarted("map", len(chunks)))
    if chunks:
        _notice_if_text_sent_twice(ctx, chunks[0])
    results = await asyncio.gather(*(_map_chunk(ctx, chunk) for chunk in chunks))
    if ctx.refusals:
        raise RefusalStop
    if ctx.failures:
        raise FailureStop
    chunk_results = [result for result, _ in results]
    partials = [partial for _, parts in results for partial in parts]
    return chunk_results, partials


async def _map_chunk(ctx: RunContext, chunk: Chunk) -> tuple[ChunkResult, list[Partial]]:
    """Extract ``chunk``: one step of the map stage, finished unless a part of it was refused."""
    step = Step("map")
    parts = await _extract_span(
        ctx, step, chunk, chunk.start, chunk.end, ctx.budgets.map_max_tokens
    )
    unanswered = {part.chunk_index for part in ctx.refusals} | {
        part.chunk_index for part in ctx.failures
    }
    if chunk.index not in unanswered:
        ctx.finish(step)
    result = ChunkResult(
        index=chunk.index,
        first_page=chunk.first_page,
        last_page=chunk.last_page,
        text="\n".join(part.text.strip() for part, _ in parts),
        model=", ".join(sorted({model for _, model in parts})),
        requests=len(parts),
        points=tuple(point for part, _ in parts for point in part.points),
    )
    return result, [part for part, _ in parts]


async def _extract_span(
    ctx: RunContext, step: Step, chunk: Chunk, start: int, end: int, max_tokens: int
) -> list[tuple[Partial, str]]:
    """Extract ``document.text[start:end]``; returns the partials with the model that wrote each.

    A span whose prompt does not fit the window is split in two. A reply whose text was cut at
    ``max_tokens`` is asked again once with twice the budget when that fits, and otherwise in
    two halves, so no extraction is ever lost to truncation (a reply cut while the model was
    still thinking gets more room for thinking instead: :meth:`RunContext.complete`). A refused
    span is recorded (:meth:`RunContext.record_refusal`) and yields no extraction, as does a
    span whose request failed for good (:meth:`RunContext.record_failure`).
    """
    rendered = map_prompt(ctx.renderer, chunk, start, end)
    text, prompt, prompt_tokens = rendered.text, rendered.prompt, rendered.tokens
    budgets = ctx.budgets
    if not budgets.fits(prompt_tokens, budgets.output("map", max_tokens)):
        return await _extract_halves(
            ctx, step, chunk, start, end, max_tokens, "does not fit the window"
        )
    if not pdf_input_fits(rendered.citable):
        return await _extract_halves(
            ctx, step, chunk, start, end, max_tokens, "exceeds the API's PDF limits"
        )
    request = ctx.renderer.stage_request("map", prompt, max_tokens, (text,), rendered.citable)
    try:
        reply = await ctx.complete(request, step)
    except RequestFailed as error:
        pages = rendered.first_page, rendered.last_page
        ctx.record_failure(FailedPart("map", str(error), chunk.index, *pages), error)
        return []
    if reply.refused:
        refusal = reply.refusal or Refusal()
        part = RefusedPart("map", rendered.first_page, rendered.last_page, refusal, chunk.index)
        ctx.record_refusal(replace(part, model=reply.model))
        return []
    if not reply.truncated:
        partial = _partial(reply, rendered)
        ctx.record_extraction(chunk.index, start, end, partial, reply.model)
        return [(partial, reply.model)]
    ctx.reask(step, "max_tokens")
    larger = max_tokens * 2
    if (
        max_tokens == budgets.map_max_tokens
        and budgets.fits(prompt_tokens, budgets.output("map", larger))
        and budgets.output("map", larger) <= ctx.model.max_output_tokens
    ):
        return await _extract_span(ctx, step, chunk, start, end, larger)
    return await _extract_halves(ctx, step, chunk, start, end, max_tokens, "was cut at max_tokens")


@dataclass(frozen=True)
class MapPrompt:
    """The map prompt of a span of the document: its marked text, pages, prompt and estimate."""

    text: str
    first_page: int
    last_page: int
    prompt: str
    tokens: int
    citable: tuple[CitableText, ...] = ()
    """The span's pages, sent beside the prompt when the backend cites."""


def map_prompt(renderer: PromptRenderer, chunk: Chunk, start: int, end: int) -> MapPrompt:
    """``map.j2`` rendered for ``document.text[start:end]`` of ``chunk``, as the stage sends it."""
    document = renderer.document
    text = document.marked_text(start, end)
    first_page, last_page = document.page_at(start), document.page_at(max(start, end - 1))
    citable = page_citables(document, start, end) if renderer.citing else ()
    prompt, tokens = renderer.render(
        "map",
        citable,
        text=text,
        index=chunk.index + 1,
        total=chunk.total,
        first_page=first_page,
        last_page=last_page,
    )
    return MapPrompt(text, first_page, last_page, prompt, tokens, citable)


def _partial(reply: ModelReply, rendered: MapPrompt) -> Partial:
    """The extraction of ``reply``: its points, each with its pages and quotes; a reply with
    citations is written as its points (each with the pages it cited)."""
    grounded = ground_reply(reply, rendered.citable)
    text = points_text(grounded.points) if reply.blocks else reply.text
    return Partial(text, rendered.first_page, rendered.last_page, grounded.points)


def _notice_if_text_sent_twice(ctx: RunContext, chunk: Chunk) -> None:
    """A map template that still writes the text while the pages go as citable content makes
    every map request pay for its text twice: say so once."""
    rendered = map_prompt(ctx.renderer, chunk, chunk.start, chunk.end)
    if rendered.citable and rendered.text and rendered.text in rendered.prompt:
        ctx.emit(
            Notice(
                f"the map template {ctx.renderer.prompts.origin('map')} writes the text "
                f"({{{{ text }}}}) while the pages are sent as citable content: every map "
                f"request pays for its text twice; leave the text out when citable is true"
            )
        )


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


async def _extract_halves(
    ctx: RunContext,
    step: Step,
    chunk: Chunk,
    start: int,
    end: int,
    max_tokens: int,
    reason: str,
) -> list[tuple[Partial, str]]:
    middle = span_middle(ctx.document, chunk, start, end, reason, max_tokens)
    halves = await asyncio.gather(
        _extract_span(ctx, step, chunk, start, middle, max_tokens),
        _extract_span(ctx, step, chunk, middle, end, max_tokens),
    )
    return [*halves[0], *halves[1]]
