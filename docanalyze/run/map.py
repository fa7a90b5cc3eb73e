"""The map stage: one extraction per chunk, split or given more room until nothing is cut."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from docanalyze.document import Chunk, Partial
from docanalyze.events import Notice, StageStarted
from docanalyze.models.base import CitableText, ModelReply, ModelRequest, pdf_input_fits
from docanalyze.prompting.citable import page_citables
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.report.result import ChunkResult
from docanalyze.run.context import FailureStop, RefusalStop, RunContext
from docanalyze.run.grounding import ground_reply, points_text
from docanalyze.run.spans import ChunkAsker, Span, span_middle, span_problem, spans_that_fit

# span_middle and spans_that_fit are docanalyze.run.spans', named here for the planners
__all__ = ["MapPrompt", "map_chunks", "map_prompt", "span_middle", "spans_that_fit"]


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
    """Extract ``chunk``: one step of the map stage, finished unless a part of it was refused
    or failed (:class:`~docanalyze.run.spans.ChunkAsker`: split or given more room until no
    reply is cut)."""
    parts = await ChunkAsker(ctx, _MapStage(ctx), chunk).ask()
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


@dataclass(frozen=True)
class _MapStage:
    """The report's map stage of a span (:class:`~docanalyze.run.spans.SpanStage`): its
    extraction, with the model that wrote it, kept at once (:meth:`RunContext.record_extraction`)."""

    ctx: RunContext

    def render(self, span: Span) -> MapPrompt:
        return map_prompt(self.ctx.renderer, span.chunk, span.start, span.end)

    def problem(self, rendered: MapPrompt, max_tokens: int) -> str | None:
        unsendable = span_problem(self.ctx.budgets, rendered, max_tokens)
        if unsendable is None and not pdf_input_fits(rendered.citable):
            return "exceeds the API's PDF limits"
        return unsendable

    def request(self, rendered: MapPrompt, max_tokens: int, note: str) -> ModelRequest:
        prompt = rendered.prompt + note
        return self.ctx.renderer.stage_request(
            "map", prompt, max_tokens, (rendered.text,), rendered.citable
        )

    def results(
        self, span: Span, rendered: MapPrompt, reply: ModelReply, note: str
    ) -> list[tuple[Partial, str]]:
        partial = _partial(reply, rendered)
        self.ctx.record_extraction(span.chunk.index, span.start, span.end, partial, reply.model)
        return [(partial, reply.model)]


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
