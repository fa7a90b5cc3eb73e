"""What an extraction will send and cost before it starts (``docanalyze plan --schema``).

:func:`plan_extraction` checks the schema and the key as ``docanalyze extract`` does (a keyword
Claude's structured outputs do not support fails before anything is read), reads and splits the
document as the run does, and renders every chunk's ``extract.j2`` prompt with the run's own
code (:func:`docanalyze.records.extraction.extract_spans`): one request per chunk, or per half
when a chunk's prompt does not fit, each counting the JSON schema sent in
``output_config.format``. A reply is assumed to be :data:`RECORDS_OUTPUT_SHARE` of its span's
text tokens, at most the map budget. Resolve requests are not counted: whether any is sent
depends on what the replies hold (records of one thing worded differently).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from docanalyze.cost import PriceTable
from docanalyze.document import Document
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.options import Options
from docanalyze.planning.plan import PlannedExtraction, PlanSetup, RunPlan
from docanalyze.planning.simulate import (
    RECORDS_OUTPUT_SHARE,
    REQUEST_FRAMING_TOKENS,
    StagePlan,
    map_request,
)
from docanalyze.records.extraction import ExtractPrompt, extract_spans
from docanalyze.records.run import check_extraction
from docanalyze.records.schema import RecordSchema, SchemaSource
from docanalyze.run.prepare import prepare_run

__all__ = [
    "RECORDS_OUTPUT_SHARE",
    "PlannedExtraction",
    "plan_extraction",
    "plan_extraction_async",
    "plan_extraction_document",
]


def plan_extraction(
    source: Source,
    schema: SchemaSource,
    *,
    key: Sequence[str] = (),
    options: Options | None = None,
    prices: PriceTable | None = None,
    exact: bool = False,
    **overrides: Any,
) -> RunPlan:
    """Plan the extraction of ``schema``'s records from ``source`` (as
    :func:`docanalyze.extract` takes them); no model is called. Options as for
    :class:`docanalyze.Pipeline`. With ``exact``, the prompts are counted by the API's free
    ``count_tokens`` endpoint, schema included (needs ``ANTHROPIC_API_KEY``)."""
    return asyncio.run(
        plan_extraction_async(
            source, schema, key=key, options=options, prices=prices, exact=exact, **overrides
        )
    )


async def plan_extraction_async(
    source: Source,
    schema: SchemaSource,
    *,
    key: Sequence[str] = (),
    options: Options | None = None,
    prices: PriceTable | None = None,
    exact: bool = False,
    **overrides: Any,
) -> RunPlan:
    """The asynchronous form of :func:`plan_extraction`."""
    record_schema = RecordSchema.of(schema)  # checked before anything is read, as the run does
    setup = await PlanSetup.load(replace(options or Options(), **overrides), prices, exact)
    check_extraction(setup.model, record_schema, key)
    document = await asyncio.to_thread(resolve_document, source, password=setup.options.password)
    return await plan_extraction_document(document, setup, record_schema, tuple(key), exact=exact)


async def plan_extraction_document(
    document: Document,
    setup: PlanSetup,
    schema: RecordSchema,
    key: tuple[str, ...] = (),
    *,
    exact: bool = False,
) -> RunPlan:
    """The extraction plan of ``document`` (already read); with ``exact``, its prompts are
    counted by the API's ``count_tokens`` endpoint."""
    prepared = await asyncio.to_thread(
        prepare_run, document, setup.options, setup.prompts, setup.model
    )
    renderer = prepared.renderer
    spans = [
        span for chunk in prepared.chunks for span in extract_spans(renderer, schema, chunk, key)
    ]
    counts = await _exact_counts(spans, schema, setup.options) if exact else None
    requests = [
        map_request(
            renderer.budgets,
            span.text,
            counts[number] if counts else span.tokens + REQUEST_FRAMING_TOKENS,
            RECORDS_OUTPUT_SHARE,
        )
        for number, span in enumerate(spans)
    ]
    stage = StagePlan("map", requests, setup.pace.stage_seconds(requests), counted=exact)
    extraction = PlannedExtraction(schema.origin, schema.title, key)
    chunk_count = len(prepared.chunks)
    return setup.run_plan(document, chunk_count, renderer.budgets, [stage], exact, extraction)


async def _exact_counts(
    spans: list[ExtractPrompt], schema: RecordSchema, options: Options
) -> list[int]:
    from docanalyze.models.anthropic.count_tokens import count_prompt_tokens

    return await count_prompt_tokens(
        [span.prompt for span in spans],
        options.model,
        output_schema=schema.request_schema(),
        concurrency=options.concurrency,
    )
