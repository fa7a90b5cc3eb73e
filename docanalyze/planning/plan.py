"""What a run will cost before it starts: requests, tokens, cost and time, with no model call.

:func:`plan_run` reads and splits the document exactly as a run does, renders the real map
prompts, and simulates the reduce with the run's own budgets and packing
(:func:`docanalyze.run.reduce.pack_partials`), standing in for the replies not yet written
with text of the size it assumes (see :data:`MAP_OUTPUT_SHARE` and the other shares). Token
counts come from docanalyze's estimator; with ``exact=True`` the map prompts are counted by the
API's free ``count_tokens`` endpoint instead. The plan of an extraction
(:mod:`docanalyze.planning.extraction`) is a :class:`RunPlan` too, with its
:class:`PlannedExtraction`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from docanalyze.cost import Prices, PriceTable
from docanalyze.document import Document
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT
from docanalyze.models.base import Stage, Usage
from docanalyze.options import Options
from docanalyze.planning.model import PlannedModel, described_by_api
from docanalyze.planning.pace import Pace
from docanalyze.planning.simulate import (
    FINAL_OUTPUT_SHARE,
    MAP_OUTPUT_SHARE,
    RECORDS_OUTPUT_SHARE,
    REDUCE_OUTPUT_SHARE,
    StagePlan,
    map_spans,
    simulate,
)
from docanalyze.prompting.budgets import Budgets
from docanalyze.prompting.templates import PromptSet
from docanalyze.run.context import unknown_price_message
from docanalyze.run.map import MapPrompt
from docanalyze.run.prepare import prepare_run

__all__ = [
    "FINAL_OUTPUT_SHARE",
    "MAP_OUTPUT_SHARE",
    "REDUCE_OUTPUT_SHARE",
    "PlanSetup",
    "PlannedExtraction",
    "PlannedModel",
    "RunPlan",
    "StagePlan",
    "plan_document",
    "plan_run",
    "plan_run_async",
]


@dataclass(frozen=True)
class PlannedExtraction:
    """What a plan of an extraction adds to its :class:`~docanalyze.planning.plan.RunPlan`:
    the schema (where it came from, its title) and the ``--key`` fields."""

    schema: str
    title: str
    key: tuple[str, ...] = ()

    def assumptions(self, budgets: Budgets) -> list[str]:
        """What the extraction's numbers assume, one sentence each."""
        return [
            (
                f"a chunk's reply (its records, each with its pages and verbatim quote) is "
                f"{RECORDS_OUTPUT_SHARE:.0%} of its text tokens, at most the map budget "
                f"({budgets.map_max_tokens:,}); every prompt counts the JSON schema sent in "
                "output_config.format"
            ),
            (
                "resolve requests are not counted: a run sends them only for records of one "
                "thing worded differently (equal --key values, or one passage read in two "
                "overlapping chunks), which only the replies show"
            ),
        ]

    def to_dict(self) -> dict[str, Any]:
        """The schema and key as JSON-ready values."""
        return {"schema": self.schema, "title": self.title, "key": list(self.key)}


@dataclass(frozen=True)
class RunPlan:
    """What a run of a document is expected to send, cost and take."""

    source: str
    model: PlannedModel
    page_count: int
    chunk_count: int
    budgets: Budgets
    stages: list[StagePlan]
    pace: Pace
    prices: Prices | None
    prices_checked: str
    exact: bool
    notices: list[str] = field(default_factory=list)
    batch: bool = False
    """Whether the run would go through the Message Batches API: priced at its discount."""
    extraction: PlannedExtraction | None = None
    """The schema and key of an extraction's plan (``plan --schema``); None for a report's."""

    @property
    def reduce_levels(self) -> int:
        return sum(stage.stage == "reduce" for stage in self.stages)

    @property
    def requests(self) -> int:
        return sum(len(stage.requests) for stage in self.stages)

    @property
    def input_tokens(self) -> int:
        return sum(stage.input_tokens for stage in self.stages)

    @property
    def output_tokens(self) -> int:
        return sum(stage.output_tokens for stage in self.stages)

    @property
    def cost(self) -> float | None:
        """Estimated USD, all input uncached; None when the model's price is unknown."""
        if self.prices is None:
            return None
        usage = Usage(self.requests, self.input_tokens, self.output_tokens)
        return self.prices.cost(usage)

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    @property
    def unknown_price(self) -> str | None:
        """Why the cost is unknown, with the fix; None when it is known."""
        return None if self.prices is not None else unknown_price_message(self.model.name)

    @property
    def assumptions(self) -> list[str]:
        """Every assumption behind the numbers, one sentence each."""
        counted = (
            "map prompts counted by the API's count_tokens endpoint"
            + ("" if self.extraction is not None else "; reduce and final prompts estimated")
            if self.exact
            else "docanalyze's CJK-aware estimate, erring slightly high (--exact counts the "
            "map prompts with the API)"
        )
        return [
            f"input tokens: {counted}",
            *(
                self.extraction.assumptions(self.budgets)
                if self.extraction is not None
                else [self._report_outputs()]
            ),
            (
                "thinking: "
                + "; ".join(
                    f"{stage} {self.budgets.thinking[stage].describe()}"
                    for stage in self._thinking_stages
                    if stage in self.budgets.thinking
                )
                + "; a stage that thinks is assumed to use its whole thinking allowance, billed "
                "as output"
            ),
            "no reply is cut at its budget or retried, and none comes from the run store",
            "cost: all input at the uncached input price"
            + (f", {1 - BATCH_DISCOUNT:.0%} off with --batch" if self.batch else ""),
            f"time: {self.pace.describe()}"
            + (
                "; with --batch, the API ends a batch within 24 hours, most within an hour"
                if self.batch
                else ""
            ),
        ]

    @property
    def _thinking_stages(self) -> tuple[Stage, ...]:
        return ("map",) if self.extraction is not None else ("map", "reduce", "final")

    def _report_outputs(self) -> str:
        return (
            f"a map reply is {MAP_OUTPUT_SHARE:.0%} of its part's text tokens, at most "
            f"the map budget ({self.budgets.map_max_tokens:,}); a merge is "
            f"{REDUCE_OUTPUT_SHARE:.0%} of its partial results, at most the reduce budget "
            f"({self.budgets.reduce_max_tokens:,}); the report is "
            f"{FINAL_OUTPUT_SHARE:.0%} of its material, at most --max-tokens "
            f"({self.budgets.final_max_tokens:,})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values (with ``extraction`` for an extraction's plan)."""
        extraction = {} if self.extraction is None else {"extraction": self.extraction.to_dict()}
        return {
            "source": self.source,
            "model": self.model.name,
            "context_window": self.model.context_window,
            "pages": self.page_count,
            "chunks": self.chunk_count,
            "requests": self.requests,
            "reduce_levels": self.reduce_levels,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "stages": [stage.to_dict() for stage in self.stages],
            "budgets": {
                "request_limit": self.budgets.request_limit,
                "map_max_tokens": self.budgets.map_max_tokens,
                "reduce_max_tokens": self.budgets.reduce_max_tokens,
                "final_max_tokens": self.budgets.final_max_tokens,
            },
            "cost": {
                "total": None if self.cost is None else round(self.cost, 6),
                "currency": "USD",
                "unknown_price": self.unknown_price,
                "prices_checked": self.prices_checked,
            },
            "seconds": round(self.seconds, 1),
            "limits": {
                "concurrency": self.pace.concurrency,
                "rpm": self.pace.rpm,
                "input_tpm": self.pace.input_tpm,
                "output_tpm": self.pace.output_tpm,
            },
            "exact": self.exact,
            "batch": self.batch,
            "assumptions": self.assumptions,
            "notices": list(self.notices),
            **extraction,
        }


def plan_run(
    source: Source,
    options: Options | None = None,
    *,
    prices: PriceTable | None = None,
    exact: bool = False,
    **overrides: Any,
) -> RunPlan:
    """Plan the analysis of ``source`` (a path, "-", a text or a Document); no model is called.

    Options as for :class:`docanalyze.Pipeline`. With ``exact``, the map prompts are counted by
    the API's free ``count_tokens`` endpoint (needs ``ANTHROPIC_API_KEY``).
    """
    return asyncio.run(plan_run_async(source, options, prices=prices, exact=exact, **overrides))


async def plan_run_async(
    source: Source,
    options: Options | None = None,
    *,
    prices: PriceTable | None = None,
    exact: bool = False,
    **overrides: Any,
) -> RunPlan:
    """The asynchronous form of :func:`plan_run`."""
    setup = await PlanSetup.load(replace(options or Options(), **overrides), prices, exact)
    document = await asyncio.to_thread(resolve_document, source, password=setup.options.password)
    return await plan_document(document, setup, exact=exact)


@dataclass(frozen=True)
class PlanSetup:
    """What every document of a plan shares: the options, templates, model, prices and pace."""

    options: Options
    prompts: PromptSet
    model: PlannedModel
    prices: PriceTable
    """The price table, at the batch discount when ``options.batch``."""
    pace: Pace

    @classmethod
    async def load(
        cls, options: Options, prices: PriceTable | None = None, exact: bool = False
    ) -> PlanSetup:
        """Load the templates and prices; with ``exact``, check the key and ask the Models API."""
        if exact:
            from docanalyze.models.anthropic.count_tokens import require_api_key

            require_api_key()
        prompts = PromptSet.load(options.prompts_dir, options.variables)
        prices = prices if prices is not None else PriceTable.default()
        if options.batch:
            prices = prices.discounted(BATCH_DISCOUNT)
        description = await described_by_api(options) if exact else None
        model = PlannedModel.for_options(options, description)
        pace = Pace(options.concurrency, options.rpm, options.input_tpm, options.output_tpm)
        return cls(options, prompts, model, prices, pace)

    def run_plan(
        self,
        document: Document,
        chunk_count: int,
        budgets: Budgets,
        stages: list[StagePlan],
        exact: bool,
        extraction: PlannedExtraction | None = None,
    ) -> RunPlan:
        """The plan of ``document`` made of ``stages``, with this setup's model, prices and pace."""
        model = self.model
        return RunPlan(
            source=document.source,
            model=model,
            page_count=document.page_count,
            chunk_count=chunk_count,
            budgets=budgets,
            stages=stages,
            pace=self.pace,
            prices=self.prices.get(model.name),
            prices_checked=self.prices.checked,
            exact=exact,
            notices=[] if model.known else [_unknown_model_notice(model)],
            batch=self.options.batch,
            extraction=extraction,
        )


async def plan_document(document: Document, setup: PlanSetup, *, exact: bool = False) -> RunPlan:
    """The plan of ``document`` (already read); with ``exact``, its map prompts are counted by
    the API's ``count_tokens`` endpoint."""
    options = setup.options
    prepared = await asyncio.to_thread(prepare_run, document, options, setup.prompts, setup.model)
    chunks, renderer = prepared.chunks, prepared.renderer
    map_prompts = [span for chunk in chunks for span in map_spans(renderer, chunk)]
    counts = await _exact_counts(map_prompts, options, exact)
    stages = simulate(renderer, setup.pace, map_prompts, counts, len(chunks), options.final)
    return setup.run_plan(document, len(chunks), renderer.budgets, stages, exact)


async def _exact_counts(
    map_prompts: list[MapPrompt], options: Options, exact: bool
) -> list[int] | None:
    if not exact:
        return None
    from docanalyze.models.anthropic.count_tokens import count_prompt_tokens

    prompts = [span.prompt for span in map_prompts]
    citable = [span.citable for span in map_prompts]
    return await count_prompt_tokens(
        prompts, options.model, citable=citable, concurrency=options.concurrency
    )


def _unknown_model_notice(model: PlannedModel) -> str:
    return (
        f"{model.name} is not in docanalyze's model table: assuming a "
        f"{model.context_window:,}-token context window; pass --context-window to set it"
    )
