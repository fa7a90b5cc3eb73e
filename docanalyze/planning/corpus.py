"""The plan of a corpus: every document of files, folders and globs, planned one at a time.

:func:`plan_corpus` expands its paths as ``report`` does (:func:`docanalyze.corpus.files.
expand_inputs`), then reads each file, plans it with :func:`~docanalyze.planning.plan.
plan_document` and drops its text before reading the next: a plan of thousands of files holds
one document's text at a time. A file that cannot be read or planned gets a failure, and does not
stop the others. The totals add the documents' plans; the time is that of a run where the
documents share the limits (:func:`~docanalyze.planning.pace.corpus_time`).

With ``exact``, the first :data:`CALIBRATION_DOCUMENTS` documents' map prompts are counted by the
API's ``count_tokens`` endpoint, and the others' estimates are scaled by the ratio of those counts
to their estimates.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from docanalyze.corpus.files import expand_inputs
from docanalyze.cost import Prices, PriceTable
from docanalyze.errors import DocanalyzeError
from docanalyze.ingest.sources import resolve_document
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT
from docanalyze.models.base import Usage
from docanalyze.options import Options
from docanalyze.planning.model import PlannedModel
from docanalyze.planning.pace import SLOW_START_SLOTS, CorpusTime, Pace, corpus_time
from docanalyze.planning.plan import PlanSetup, RunPlan, StagePlan, plan_document

if TYPE_CHECKING:
    from docanalyze.records.schema import RecordSchema, SchemaSource

__all__ = ["CALIBRATION_DOCUMENTS", "CorpusPlan", "PlanFailure", "plan_corpus", "plan_corpus_async"]

CALIBRATION_DOCUMENTS = 3
"""With ``exact``, how many documents' map prompts are counted by the API (the first ones)."""


@dataclass(frozen=True)
class PlanFailure:
    """A file of the corpus that cannot be planned (a run could not analyze it either)."""

    source: str
    message: str


@dataclass(frozen=True)
class CorpusPlan:
    """What a run of several documents is expected to send, cost and take: a plan per document
    (:attr:`plans`) and the totals."""

    plans: list[RunPlan]
    failures: list[PlanFailure]
    model: PlannedModel
    pace: Pace
    standard_prices: Prices | None
    batch_prices: Prices | None
    prices_checked: str
    batch: bool
    exact: bool
    time: CorpusTime
    calibration: float | None = None
    """With ``exact``: counted over estimated map tokens of the first documents, applied to the
    others' map prompts."""
    notices: list[str] = field(default_factory=list)

    @property
    def documents(self) -> int:
        return len(self.plans)

    @property
    def page_count(self) -> int:
        return sum(plan.page_count for plan in self.plans)

    @property
    def chunk_count(self) -> int:
        return sum(plan.chunk_count for plan in self.plans)

    @property
    def requests(self) -> int:
        return sum(plan.requests for plan in self.plans)

    @property
    def input_tokens(self) -> int:
        return sum(plan.input_tokens for plan in self.plans)

    @property
    def output_tokens(self) -> int:
        return sum(plan.output_tokens for plan in self.plans)

    @property
    def thinking_tokens(self) -> int:
        return sum(stage.thinking_tokens for plan in self.plans for stage in plan.stages)

    @property
    def usage(self) -> Usage:
        """The planned requests and tokens as usage, to price."""
        return Usage(self.requests, self.input_tokens, self.output_tokens)

    @property
    def standard_cost(self) -> float | None:
        """Estimated USD at the standard prices; None when the model's price is unknown."""
        return None if self.standard_prices is None else self.standard_prices.cost(self.usage)

    @property
    def batch_cost(self) -> float | None:
        """Estimated USD through the Message Batches API (``--batch``)."""
        return None if self.batch_prices is None else self.batch_prices.cost(self.usage)

    @property
    def seconds(self) -> float:
        return self.time.seconds

    @property
    def assumptions(self) -> list[str]:
        """Every assumption behind the numbers, one sentence each."""
        if not self.plans:
            return []
        first = self.plans[0].assumptions
        counted = (
            f"input tokens: the map prompts of the first {CALIBRATION_DOCUMENTS} documents "
            "counted by the API's count_tokens endpoint, the others' estimates scaled by "
            f"{self.calibration or 1.0:.3f} (counted over estimated); reduce and final prompts "
            "estimated"
        )
        time = (
            f"time: each request takes {self.pace.first_token_seconds:g} s to its first token, "
            f"then writes {self.pace.output_tokens_per_second:g} output tokens a second; "
            "documents are let in as the limits have room (not a fixed number at a time), so "
            f"all requests share --concurrency {self.pace.concurrency:,} slots (from "
            f"{SLOW_START_SLOTS}, doubling every round, as the client's adaptive concurrency "
            "grows) and the rate caps, whose buckets start full; a run takes at least its "
            "longest document; the API's own rate limits are not known before a run (give "
            "them as --rpm, --input-tpm, --output-tpm)"
        )
        return [counted if self.exact else first[0], *first[1:-2], _cost_assumption(), time]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values, with a row per document."""
        return {
            "documents": self.documents,
            "model": self.model.name,
            "context_window": self.model.context_window,
            "pages": self.page_count,
            "chunks": self.chunk_count,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "thinking_tokens": self.thinking_tokens,
            "cost": {
                "standard": _rounded(self.standard_cost),
                "batch": _rounded(self.batch_cost),
                "currency": "USD",
                "unknown_price": self.plans[0].unknown_price if self.plans else None,
                "prices_checked": self.prices_checked,
            },
            "seconds": round(self.seconds, 1),
            "bound_by": self.time.bound,
            "limits": {
                "concurrency": self.pace.concurrency,
                "rpm": self.pace.rpm,
                "input_tpm": self.pace.input_tpm,
                "output_tpm": self.pace.output_tpm,
            },
            "exact": self.exact,
            "calibration": self.calibration,
            "batch": self.batch,
            "per_document": [_row(plan) for plan in self.plans],
            "failures": [{"source": f.source, "error": f.message} for f in self.failures],
            "assumptions": self.assumptions,
            "notices": list(self.notices),
        }


def plan_corpus(
    paths: Sequence[str],
    options: Options | None = None,
    *,
    prices: PriceTable | None = None,
    exact: bool = False,
    schema: SchemaSource | None = None,
    key: Sequence[str] = (),
    **overrides: Any,
) -> CorpusPlan:
    """Plan a run of every document of ``paths`` (files, folders, globs: as ``report`` takes
    them); no model is called. Options as for :class:`docanalyze.Pipeline`. With ``exact``, the
    first documents' map prompts are counted by the API (needs ``ANTHROPIC_API_KEY``) and the
    others' estimates calibrated on them. With ``schema`` (and ``key``), each document's plan is
    its extraction's (:func:`~docanalyze.planning.extraction.plan_extraction`). Raises
    :class:`~docanalyze.errors.InputError` when a folder or glob has no document."""
    return asyncio.run(
        plan_corpus_async(
            paths, options, prices=prices, exact=exact, schema=schema, key=key, **overrides
        )
    )


async def plan_corpus_async(
    paths: Sequence[str],
    options: Options | None = None,
    *,
    prices: PriceTable | None = None,
    exact: bool = False,
    schema: SchemaSource | None = None,
    key: Sequence[str] = (),
    **overrides: Any,
) -> CorpusPlan:
    """The asynchronous form of :func:`plan_corpus`."""
    options = replace(options or Options(), **overrides)
    record_schema = None if schema is None else _checked_schema(schema)
    files = expand_inputs(paths)
    table = prices if prices is not None else PriceTable.default()
    setup = await PlanSetup.load(options, table, exact)
    if record_schema is not None:
        from docanalyze.records.run import check_extraction

        check_extraction(setup.model, record_schema, key)
    plan_file = partial(_plan_file, setup=setup, schema=record_schema, key=tuple(key))
    plans: list[RunPlan] = []
    failures: list[PlanFailure] = []
    counted = estimated = 0
    for file in files:
        try:
            plan = await plan_file(file.path, exact=exact and len(plans) < CALIBRATION_DOCUMENTS)
        except DocanalyzeError as error:
            failures.append(PlanFailure(file.path, str(error)))
            continue
        if plan.exact:
            counted += plan.stages[0].input_tokens
            estimated += (await plan_file(file.path, exact=False)).stages[0].input_tokens
        elif exact and estimated:
            plan = _calibrated(plan, counted / estimated, setup.pace)
        plans.append(plan)
    model = setup.model
    return CorpusPlan(
        plans=plans,
        failures=failures,
        model=model,
        pace=setup.pace,
        standard_prices=table.get(model.name),
        batch_prices=table.discounted(BATCH_DISCOUNT).get(model.name),
        prices_checked=table.checked,
        batch=options.batch,
        exact=exact,
        time=corpus_time(setup.pace, [[stage.requests for stage in p.stages] for p in plans]),
        calibration=counted / estimated if exact and estimated else None,
        notices=plans[0].notices if plans else [],
    )


async def _plan_file(
    path: str,
    *,
    setup: PlanSetup,
    exact: bool,
    schema: RecordSchema | None,
    key: tuple[str, ...],
) -> RunPlan:
    """Read ``path``, plan its report (or, with ``schema``, its extraction), let its text go."""
    document = await asyncio.to_thread(resolve_document, path, password=setup.options.password)
    if schema is not None:
        from docanalyze.planning.extraction import plan_extraction_document

        return await plan_extraction_document(document, setup, schema, key, exact=exact)
    return await plan_document(document, setup, exact=exact)


def _checked_schema(schema: SchemaSource) -> RecordSchema:
    """``schema`` read and checked before anything else (records are loaded only for it)."""
    from docanalyze.records.schema import RecordSchema

    return RecordSchema.of(schema)


def _calibrated(plan: RunPlan, ratio: float, pace: Pace) -> RunPlan:
    """``plan`` with its map prompts' estimates scaled by ``ratio`` (counted over estimated)."""
    stage = plan.stages[0]
    requests = [
        replace(request, input_tokens=math.ceil(request.input_tokens * ratio))
        for request in stage.requests
    ]
    scaled = StagePlan(stage.stage, requests, pace.stage_seconds(requests), stage.level)
    return replace(plan, stages=[scaled, *plan.stages[1:]])


def _row(plan: RunPlan) -> dict[str, Any]:
    return {
        "source": plan.source,
        "pages": plan.page_count,
        "chunks": plan.chunk_count,
        "requests": plan.requests,
        "reduce_levels": plan.reduce_levels,
        "input_tokens": plan.input_tokens,
        "output_tokens": plan.output_tokens,
        "cost": _rounded(plan.cost),
        "seconds_alone": round(plan.seconds, 1),
    }


def _cost_assumption() -> str:
    return (
        "cost: all input at the uncached input price; with --batch, "
        f"{1 - BATCH_DISCOUNT:.0%} off and the run ends within 24 hours (most batches within "
        "an hour), not in the time below"
    )


def _rounded(cost: float | None) -> float | None:
    return None if cost is None else round(cost, 6)
