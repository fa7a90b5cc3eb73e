"""A dry run: the exact prompts a run would send, with their budgets, and no request at all.

:func:`preview_prompts` renders the map prompt of the first chunk, one reduce step and the final
prompt through the same templates, budgets and template headers as a run. No model is asked, so
no API key is needed and nothing is recorded in the run store. The reduce and final prompts need
partial results, which only the model's map replies provide: they are shown with stand-ins, the
offline extractive analyzer's extraction of the first chunks, and say so.

:func:`preview_extraction` does the same for ``docanalyze extract``: the first chunk's
``extract.j2`` request, with the JSON schema its reply must follow (``output_config.format``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from docanalyze.document import Chunk, Document, Partial
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.base import ModelLimits, ModelRequest, Stage
from docanalyze.models.extractive.model import extract_sentences
from docanalyze.models.registry import stand_in_for
from docanalyze.options import Options
from docanalyze.prompting.citable import citable_tokens, describe_citable
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import PromptSet, TemplateName
from docanalyze.run.grounding import written_points
from docanalyze.run.map import map_prompt
from docanalyze.run.prepare import prepare_run
from docanalyze.run.reduce import final_prompt, points_request, reduce_prompt
from docanalyze.run.sections import lay_out_final, section_count
from docanalyze.text.wording import counted

if TYPE_CHECKING:
    from docanalyze.records.schema import SchemaSource

__all__ = ["DryRun", "PromptPreview", "format_dry_run", "preview_extraction", "preview_prompts"]

STAND_IN_CHUNKS = 2
"""How many chunks' extractions stand in for the partial results of the reduce and final steps."""
_RULE = "=" * 8


@dataclass(frozen=True)
class PromptPreview:
    """One request as a run would send it: the rendered prompt and its settings."""

    stage: Stage
    title: str
    template: str
    prompt: str
    prompt_tokens: int
    max_tokens: int
    model: str
    temperature: float | None
    fits: bool
    note: str = ""
    thinking: str = ""
    """The stage's thinking, e.g. ``thinking off`` (:meth:`StageThinking.describe`)."""
    thinking_allowance: int = 0
    citable: str = ""
    """What the request sends beside the prompt as citable content, in a few words."""
    output_schema: Mapping[str, Any] | None = None
    """The JSON schema the reply must follow (``output_config.format``), when there is one."""


@dataclass(frozen=True)
class DryRun:
    """What :func:`preview_prompts` found: the document, the model and the previews."""

    source: str
    page_count: int
    chunk_count: int
    model: str
    context_window: int
    request_limit: int
    previews: list[PromptPreview]

    @classmethod
    def of(
        cls,
        document: Document,
        chunk_count: int,
        limits: ModelLimits,
        renderer: PromptRenderer,
        previews: list[PromptPreview],
    ) -> DryRun:
        """The dry run of ``document`` in ``chunk_count`` chunks, with ``previews``."""
        return cls(
            source=document.source,
            page_count=document.page_count,
            chunk_count=chunk_count,
            model=limits.name,
            context_window=limits.context_window,
            request_limit=renderer.budgets.request_limit,
            previews=previews,
        )


def preview_prompts(source: Source, options: Options | None = None, **overrides: Any) -> DryRun:
    """The prompts a run on ``source`` would send first: map (chunk 1), one reduce step, final.

    Options are those of :class:`docanalyze.Pipeline`. Reads and chunks the document, loads the
    templates and plans the budgets exactly as a run does; sends nothing.
    """
    options = replace(options or Options(), **overrides)
    prompts = PromptSet.load(options.prompts_dir, options.variables)
    document = resolve_document(source, password=options.password)
    limits = _planning_limits(options)
    prepared = prepare_run(document, options, prompts, limits)
    chunks, renderer = prepared.chunks, prepared.renderer
    stand_ins = [_stand_in(renderer, chunk) for chunk in chunks[:STAND_IN_CHUNKS]]
    previews = [
        _map_preview(renderer, chunks[0]),
        _reduce_preview(renderer, stand_ins, len(chunks)),
        *_final_previews(renderer, stand_ins, len(chunks), options.final),
    ]
    return DryRun.of(document, len(chunks), limits, renderer, previews)


def preview_extraction(
    source: Source,
    schema: SchemaSource,
    *,
    key: Sequence[str] = (),
    options: Options | None = None,
    **overrides: Any,
) -> DryRun:
    """The requests an extraction of ``source`` would send first: chunk 1's (one, or its
    halves when its prompt does not fit), each with the JSON schema of its
    ``output_config.format``. The schema and key are checked as the run checks them; sends
    nothing."""
    from docanalyze.records.extraction import extract_request, extract_spans
    from docanalyze.records.run import check_extraction
    from docanalyze.records.schema import RecordSchema

    record_schema = RecordSchema.of(schema)  # checked before anything is read, as in a run
    options = replace(options or Options(), **overrides)
    limits = _planning_limits(options)
    check_extraction(limits, record_schema, key)
    prompts = PromptSet.load(options.prompts_dir, options.variables)
    document = resolve_document(source, password=options.password)
    prepared = prepare_run(document, options, prompts, limits)
    chunks, renderer = prepared.chunks, prepared.renderer
    spans = extract_spans(renderer, record_schema, chunks[0], tuple(key))
    previews = []
    for number, span in enumerate(spans, 1):
        request = extract_request(renderer, record_schema, span, renderer.budgets.map_max_tokens)
        part = f", part {number} of {len(spans)}" if len(spans) > 1 else ""
        pages = _page_span(span.first_page, span.last_page)
        title = f"extract: chunk 1 of {len(chunks)}{part} ({pages})"
        note = f"a run sends one such request per chunk ({counted(len(chunks), 'chunk')})"
        previews.append(_preview(renderer, request, title, span.tokens, note, "extract"))
    return DryRun.of(document, len(chunks), limits, renderer, previews)


def format_dry_run(dry_run: DryRun) -> str:
    """The dry run as text: a summary line, then each prompt under a header with its settings."""
    summary = (
        f"docanalyze dry run: {dry_run.source}, {counted(dry_run.page_count, 'page')}, "
        f"{counted(dry_run.chunk_count, 'chunk')}; model {dry_run.model}, "
        f"{dry_run.context_window:,}-token context window. No request was sent."
    )
    lines = [summary]
    for preview in dry_run.previews:
        lines.extend(_preview_lines(preview, dry_run.request_limit))
    return "\n".join(lines) + "\n"


def _preview_lines(preview: PromptPreview, request_limit: int) -> list[str]:
    temperature = "the model's default" if preview.temperature is None else preview.temperature
    size = f"~{preview.prompt_tokens:,} tokens (estimated)"
    if not preview.fits:
        size += f"; with max_tokens it exceeds the {request_limit:,}-token request limit"
    lines = [
        "",
        f"{_RULE} {preview.title} {_RULE}",
        f"template     {preview.template}",
        f"model        {preview.model}",
        f"temperature  {temperature}",
        f"thinking     {preview.thinking or 'no thinking setting'}",
        f"max_tokens   {preview.max_tokens:,}{_allowance_note(preview)}",
        f"prompt       {size}",
    ]
    if preview.citable:
        lines.append(f"citable      {preview.citable}")
    if preview.note:
        lines.append(f"note         {preview.note}")
    if preview.output_schema is not None:
        schema = json.dumps(dict(preview.output_schema), ensure_ascii=False, indent=2)
        lines.extend(
            [
                'output       output_config.format: {"type": "json_schema", "schema": below}',
                f"{_RULE} output_config.format.schema {_RULE}",
                schema,
                f"{_RULE} end of schema {_RULE}",
            ]
        )
    return [*lines, f"{_RULE} prompt {_RULE}", preview.prompt, f"{_RULE} end of prompt {_RULE}"]


def _allowance_note(preview: PromptPreview) -> str:
    if not preview.thinking_allowance:
        return ""
    text = preview.max_tokens - preview.thinking_allowance
    return f" ({text:,} for the text, {preview.thinking_allowance:,} for thinking)"


def _map_preview(renderer: PromptRenderer, chunk: Chunk) -> PromptPreview:
    """The map request of ``chunk``, rendered by :mod:`docanalyze.run.map`."""
    rendered = map_prompt(renderer, chunk, chunk.start, chunk.end)
    request = renderer.stage_request(
        "map", rendered.prompt, renderer.budgets.map_max_tokens, (rendered.text,), rendered.citable
    )
    pages = _page_span(rendered.first_page, rendered.last_page)
    title = f"map: chunk {chunk.index + 1} of {chunk.total} ({pages})"
    fits = renderer.budgets.fits(rendered.tokens, request.max_tokens)
    return _preview(
        renderer, request, title, rendered.tokens, "" if fits else "a run sends it in halves"
    )


def _reduce_preview(
    renderer: PromptRenderer, stand_ins: list[Partial], chunk_count: int
) -> PromptPreview:
    prompt, tokens = reduce_prompt(renderer, stand_ins, level=1, number=1, groups=1)
    budget = renderer.budgets.reduce_max_tokens
    request = points_request(renderer, "reduce", prompt, budget, stand_ins)
    note = (
        f"{_stand_in_note(stand_ins)}; a run sends reduce steps only when the partial results "
        "do not fit one final prompt, and numbers the groups of each level"
    )
    if chunk_count == 1:
        note += " (this document has one chunk: a run sends no reduce step)"
    return _preview(renderer, request, "reduce: level 1, group 1", tokens, note)


def _final_previews(
    renderer: PromptRenderer, stand_ins: list[Partial], chunk_count: int, mode: str
) -> list[PromptPreview]:
    """The final request, or, when a run may write the report in sections, the overview and
    the first section of the stand-ins cut in sections."""
    # The run's partial results are not written yet: their size is extrapolated from the
    # stand-ins' to decide, as the run will, whether the report is written in sections.
    per_chunk = sum(renderer.limits.estimate_tokens(p.text) for p in stand_ins) / len(stand_ins)
    sectioned = section_count(renderer, int(per_chunk * chunk_count), mode) > 1
    layout = lay_out_final(renderer, stand_ins, chunk_count, "sections" if sectioned else "single")
    if not layout.sectioned:
        return [_final_preview(renderer, stand_ins, chunk_count)]
    note = (
        f"{_stand_in_note(stand_ins)}, cut in {len(layout.parts)} sections; a run cuts the "
        f"merged results of all {counted(chunk_count, 'chunk')} in sections"
    )
    titles = ["final: the overview", f"final: section 1 of {len(layout.parts)}"]
    previews = []
    for piece, title in zip(layout.pieces, titles):
        request = points_request(renderer, "final", piece.prompt, piece.max_tokens, piece.material)
        previews.append(_preview(renderer, request, title, piece.tokens, note))
    return previews


def _final_preview(
    renderer: PromptRenderer, stand_ins: list[Partial], chunk_count: int
) -> PromptPreview:
    prompt, tokens = final_prompt(renderer, stand_ins, chunk_count)
    budget = renderer.budgets.final_max_tokens
    request = points_request(renderer, "final", prompt, budget, stand_ins)
    note = f"{_stand_in_note(stand_ins)}; a run's final prompt holds the merged results of all"
    note += f" {counted(chunk_count, 'chunk')}"
    return _preview(renderer, request, "final report", tokens, note)


def _preview(
    renderer: PromptRenderer,
    request: ModelRequest,
    title: str,
    tokens: int,
    note: str,
    template: TemplateName | None = None,
) -> PromptPreview:
    stage_thinking = renderer.budgets.thinking.get(request.stage)
    return PromptPreview(
        stage=request.stage,
        title=title,
        template=renderer.prompts.origin(template or request.stage),
        prompt=request.prompt,
        prompt_tokens=tokens,
        max_tokens=request.max_tokens,
        model=request.model or renderer.limits.name,
        temperature=request.temperature,
        fits=renderer.budgets.fits(tokens, request.max_tokens),
        note=note,
        thinking=stage_thinking.describe() if stage_thinking else "",
        thinking_allowance=request.thinking_allowance,
        citable=describe_citable(
            request.citable, citable_tokens(renderer.limits.estimate_tokens, request.citable)
        ),
        output_schema=request.output_schema,
    )


def _stand_in(renderer: PromptRenderer, chunk: Chunk) -> Partial:
    """What the offline extractive analyzer extracts from ``chunk``: a realistic partial result."""
    text = renderer.document.marked_text(chunk.start, chunk.end)
    extraction = extract_sentences((text,), renderer.budgets.map_max_tokens)
    # the extractive analyzer's points are sentences of the page: each is its own quote
    points = tuple(replace(point, quotes=(point.claim,)) for point in written_points(extraction))
    return Partial(extraction, *_pages(renderer, chunk), points)


def _stand_in_note(stand_ins: list[Partial]) -> str:
    which = "chunk 1" if len(stand_ins) == 1 else f"chunks 1-{len(stand_ins)}"
    return (
        f"shown with placeholder partial results: the offline extractive analyzer's extraction "
        f"of {which} (in a run, the partial results are the model's replies)"
    )


def _planning_limits(options: Options) -> ModelLimits:
    """The name, window, output limit and estimate the run's backend would have."""
    from docanalyze.planning.model import PlannedModel

    return stand_in_for(options) or PlannedModel.for_options(options)


def _pages(renderer: PromptRenderer, chunk: Chunk) -> tuple[int, int]:
    document = renderer.document
    return document.page_at(chunk.start), document.page_at(max(chunk.start, chunk.end - 1))


def _page_span(first: int, last: int) -> str:
    return f"page {first}" if first == last else f"pages {first}-{last}"
