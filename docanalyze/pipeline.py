"""The public entry points: :class:`Pipeline`, :func:`analyze` and :func:`analyze_async`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from docanalyze.backends import create_model
from docanalyze.budget import plan_budgets
from docanalyze.chunking import split_document
from docanalyze.document import Document
from docanalyze.errors import InputError
from docanalyze.events import EventHandler, Notice, StageStarted
from docanalyze.map_stage import map_chunks
from docanalyze.models.base import Model
from docanalyze.options import Options
from docanalyze.prompts import PromptSet
from docanalyze.reduce_stage import final_prompt, reduce_until_final_fits
from docanalyze.report import Report
from docanalyze.run_context import RunContext
from docanalyze.sources import Source, resolve_document

__all__ = ["Pipeline", "analyze", "analyze_async"]


class Pipeline:
    """A configured analysis, reusable across documents.

    ``Pipeline(chunk_size=8000, model="claude-sonnet-5-5").analyze("contract.pdf")`` reads the
    document, maps every chunk, reduces hierarchically and returns a :class:`Report`. Options are
    the fields of :class:`Options`, given as an object, as keywords, or both (keywords win).
    ``client`` replaces the backend with any object that implements the model protocol;
    ``on_event`` receives notices and progress.
    """

    def __init__(
        self,
        options: Options | None = None,
        *,
        client: Model | None = None,
        on_event: EventHandler | None = None,
        **overrides: Any,
    ) -> None:
        self.options = replace(options or Options(), **overrides)
        self.prompts = PromptSet.load(self.options.prompts_dir, self.options.variables)
        self._client = client
        self._on_event = on_event

    def analyze(self, source: Source) -> Report:
        """Analyze a path, "-" for stdin, a text, or a :class:`Document`."""
        return asyncio.run(self.analyze_async(source))

    async def analyze_async(self, source: Source) -> Report:
        """The asynchronous form of :meth:`analyze`."""
        notices: list[str] = []

        def emit(event: Any) -> None:
            if isinstance(event, Notice):
                notices.append(event.message)
            if self._on_event is not None:
                self._on_event(event)

        started = time.monotonic()
        document = await asyncio.to_thread(resolve_document, source, password=self.options.password)
        model, backend_notices = (self._client, []) if self._client else create_model(self.options)
        for message in backend_notices:
            emit(Notice(message))
        try:
            return await self._run(document, model, emit, notices, started)
        finally:
            if self._client is None:
                await model.aclose()

    async def _run(
        self,
        document: Document,
        model: Model,
        emit: EventHandler,
        notices: list[str],
        started: float,
    ) -> Report:
        options = self.options
        chunks = await asyncio.to_thread(
            split_document,
            document,
            chunk_size=options.chunk_size,
            chunk_overlap=options.chunk_overlap,
        )
        if not chunks:
            raise InputError(f"{document.source}: there is no text to analyze")
        ctx = RunContext(document, model, self.prompts, plan_budgets(options, model), emit)
        timings: dict[str, float] = {"read": time.monotonic() - started}

        mark = time.monotonic()
        chunk_results, partials = await map_chunks(ctx, chunks)
        timings["map"] = time.monotonic() - mark

        mark = time.monotonic()
        partials, levels = await reduce_until_final_fits(ctx, partials, len(chunks))
        timings["reduce"] = time.monotonic() - mark

        mark = time.monotonic()
        emit(StageStarted("final", 1))
        prompt, _ = final_prompt(ctx, partials, len(chunks))
        material = tuple(partial.text for partial in partials)
        reply = await ctx.complete(
            ctx.stage_request("final", prompt, ctx.budgets.final_max_tokens, material)
        )
        timings["final"] = time.monotonic() - mark
        timings["total"] = time.monotonic() - started
        if reply.truncated:
            emit(
                Notice(
                    f"the final report was cut at --max-tokens {ctx.budgets.final_max_tokens}; "
                    f"raise --max-tokens for the whole report"
                )
            )
        return Report(
            source=document.source,
            text=_report_text(document, reply.text, model.name, reply.truncated),
            backend="extractive" if model.name == "extractive" else "anthropic",
            model=", ".join(sorted(ctx.models_used)) or model.name,
            page_count=document.page_count,
            chunks=chunk_results,
            usage=ctx.usage,
            reduce_levels=levels,
            truncated=reply.truncated,
            timings=timings,
            notices=notices,
        )


def _report_text(document: Document, body: str, model_name: str, truncated: bool) -> str:
    text = body.strip()
    if model_name == "extractive":
        text = (
            f"# Report: {document.source}\n\n"
            "> Made offline by docanalyze's extractive analyzer (no API key was set): the points "
            "below are sentences quoted from the document, ranked by centrality, not a summary "
            "written by Claude.\n\n" + text
        )
    if truncated:
        text += (
            "\n\n> **This report is incomplete:** it was cut at the output limit (--max-tokens)."
        )
    return text


def analyze(path_or_text: Source, **options: Any) -> Report:
    """Analyze one document and return its :class:`Report`. Options as for :class:`Pipeline`."""
    return Pipeline(**options).analyze(path_or_text)


async def analyze_async(path_or_text: Source, **options: Any) -> Report:
    """The asynchronous form of :func:`analyze`."""
    return await Pipeline(**options).analyze_async(path_or_text)
