"""The final stage: the report, in one request or in sections written at once.

Either way a reply cut at ``max_tokens`` marks the report incomplete and says so, a refused one
stops the run (:class:`~docanalyze.run.outcomes.RefusalStop`), and every request is held to
``--max-cost`` by :meth:`RunContext.complete`. With ``stream``, the report is emitted as
:class:`~docanalyze.events.ReportText` events, in order, while it is written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from docanalyze.citations.verify import CheckedCitation
from docanalyze.document import Partial
from docanalyze.events import Notice, StageStarted
from docanalyze.models.base import ModelReply, ModelRequest, Refusal
from docanalyze.run.context import (
    RefusalStop,
    RefusedPart,
    RunContext,
    Step,
    supports_streaming,
)
from docanalyze.run.reduce import final_prompt, points_request, refused_part
from docanalyze.run.sections import (
    FinalLayout,
    FinalPiece,
    report_headings,
    section_body,
    stitch_report,
)
from docanalyze.run.stream import ReportStream, SectionStream
from docanalyze.run.verification import CheckedReply, CheckedText, ReplyCheck, closing_note
from docanalyze.text.wording import wording_for

__all__ = ["TRUNCATED_NOTE", "FinalText", "write_final"]

TRUNCATED_NOTE = (
    "\n\n> **This report is incomplete:** it was cut at the output limit (--max-tokens)."
)


@dataclass(frozen=True)
class FinalText:
    """The report's text, whether a reply was cut, how many requests wrote it, and its
    citations, checked against the page text (:mod:`docanalyze.run.verification`)."""

    text: str
    truncated: bool
    requests: int
    citations: list[CheckedCitation] = field(default_factory=list)


async def write_final(ctx: RunContext, layout: FinalLayout, *, stream: bool) -> FinalText:
    """Write the report of ``layout``: one request with ``final.j2``, or its sections and the
    overview all at once."""
    if layout.sectioned:
        return await _write_sections(ctx, layout, stream)
    return await _write_single(ctx, layout.parts[0], layout.chunk_count, stream)


async def _write_single(
    ctx: RunContext, partials: list[Partial], chunk_count: int, stream: bool
) -> FinalText:
    ctx.emit(StageStarted("final", 1))
    prompt, _ = final_prompt(ctx.renderer, partials, chunk_count)
    request = points_request(ctx.renderer, "final", prompt, ctx.budgets.final_max_tokens, partials)
    prefix = _report_prefix(ctx)
    streamer = ReportStream(ctx.emit, prefix=prefix) if stream else None
    live = streamer if supports_streaming(ctx.model) else None
    step = Step("final")
    checker = CheckedReply(
        ReplyCheck.of(ctx, partials),
        expects_blocks=bool(request.citable),
        on_checked=live.on_text if live else None,
        on_restart=live.on_restart if live else None,
    )
    reply = await _complete_checked(ctx, request, step, checker, streamed=live is not None)
    if reply.refused:
        refused_part(ctx, "final", partials, reply)
    ctx.finish(step)
    checked = checker.finish(reply)
    text = prefix + checked.text + (TRUNCATED_NOTE if reply.truncated else "")
    text += closing_note(ctx, checked.citations)
    if streamer is not None:
        streamer.finish(text)
    if reply.truncated:
        ctx.emit(
            Notice(
                f"the final report was cut at --max-tokens {ctx.budgets.final_max_tokens}; "
                f"raise --max-tokens for the whole report"
            )
        )
    return FinalText(text, reply.truncated, 1, list(checked.citations))


async def _write_sections(ctx: RunContext, layout: FinalLayout, stream: bool) -> FinalText:
    headings = report_headings(ctx.renderer, layout)
    ctx.emit(StageStarted("final", len(layout.pieces)))
    streamer = SectionStream(ctx.emit, headings) if stream else None
    written = await asyncio.gather(
        *(_write_piece(ctx, piece, index, streamer) for index, piece in enumerate(layout.pieces))
    )
    replies = [reply for reply, _ in written]
    _stop_if_refused(ctx, layout, replies)
    cut = [index for index, reply in enumerate(replies) if reply.truncated]
    text = stitch_report(headings, [section_body(checked.text) for _, checked in written])
    text += TRUNCATED_NOTE if cut else ""
    citations = [citation for _, checked in written for citation in checked.citations]
    text += closing_note(ctx, citations)
    if streamer is not None:
        streamer.finish(text)
    if cut:
        names = ", ".join("the overview" if i == 0 else f"section {i}" for i in cut)
        ctx.emit(
            Notice(
                f"{names} of the report {'was cut at its' if len(cut) == 1 else 'were cut at their'} share "
                f"of --max-tokens {ctx.budgets.final_max_tokens}; raise --max-tokens"
            )
        )
    return FinalText(text, bool(cut), len(layout.pieces), citations)


async def _write_piece(
    ctx: RunContext, piece: FinalPiece, index: int, streamer: SectionStream | None
) -> tuple[ModelReply, CheckedText]:
    """Write the overview (``index`` 0) or a section, its citations checked: one step, unless
    it is refused."""
    request = points_request(ctx.renderer, "final", piece.prompt, piece.max_tokens, piece.material)
    step = Step("final")
    live = streamer if supports_streaming(ctx.model) else None
    checker = CheckedReply(
        ReplyCheck.of(ctx, piece.material),
        expects_blocks=bool(request.citable),
        on_checked=live.text_of(index) if live else None,
        on_restart=live.restart_of(index) if live else None,
    )
    reply = await _complete_checked(ctx, request, step, checker, streamed=live is not None)
    if reply.refused:
        return reply, CheckedText(reply.text, ())
    checked = checker.finish(reply)
    if streamer is not None:
        streamer.done(index, section_body(checked.text))
    ctx.finish(step)
    return reply, checked


async def _complete_checked(
    ctx: RunContext, request: ModelRequest, step: Step, checker: CheckedReply, *, streamed: bool
) -> ModelReply:
    """The reply to ``request``; ``streamed`` (a model that streams), its text and blocks go
    to ``checker`` as they arrive, so that its lines go out checked while it is written."""
    if not streamed:
        return await ctx.complete(request, step)
    return await ctx.complete(
        request,
        step,
        on_text=checker.add_text,
        on_block=checker.add_block,
        on_restart=checker.restart,
    )


def _stop_if_refused(ctx: RunContext, layout: FinalLayout, replies: list[ModelReply]) -> None:
    """Record every refused piece of the report (the overview covers every page), then stop."""
    outline = layout.outline
    spans = [(outline[0].first_page, outline[-1].last_page)]
    spans += [(entry.first_page, entry.last_page) for entry in outline]
    refused = [(span, reply) for span, reply in zip(spans, replies) if reply.refused]
    for (first_page, last_page), reply in refused:
        refusal = reply.refusal or Refusal()
        ctx.record_refusal(RefusedPart("final", first_page, last_page, refusal, model=reply.model))
    if refused:
        raise RefusalStop


def _report_prefix(ctx: RunContext) -> str:
    """What the report says before the model's text: the offline analyzer's title and
    disclaimer, in the report's language."""
    if not ctx.model.features.offline:
        return ""
    renderer = ctx.renderer
    wording = wording_for(renderer.report_language.code)
    note = wording.offline_note_question if renderer.question else wording.offline_note
    return f"{wording.title.format(source=ctx.document.source)}\n\n{note}\n\n"
