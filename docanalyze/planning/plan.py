"""What a run will cost before it starts: requests, tokens, cost and time, with no model call.

:func:`plan_run` reads and splits the document exactly as a run does, renders the real map
prompts, and simulates the reduce with the run's own budgets and packing
(:func:`docanalyze.run.reduce.pack_partials`), standing in for the replies not yet written
with text of the size it assumes (see :data:`MAP_OUTPUT_SHARE` and the other shares). Token
counts come from docanalyze's estimator; with ``exact=True`` the map prompts are counted by the
API's free ``count_tokens`` endpoint instead.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace
from typing import Any

from docanalyze.cost import Prices, PriceTable
from docanalyze.document import Chunk, Partial
from docanalyze.errors import BudgetError, InputError
from docanalyze.ingest.chunking import split_document
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.base import ModelReply, ModelRequest, Usage
from docanalyze.models.capabilities import Capabilities
from docanalyze.models.catalog import BATCH_DISCOUNT, capabilities_of, model_info, tokenizer_ratio
from docanalyze.models.model_api import ModelDescription
from docanalyze.options import Options
from docanalyze.planning.pace import Pace, PlannedRequest
from docanalyze.prompting.budgets import Budgets
from docanalyze.prompting.templates import PromptSet
from docanalyze.prompting.thinking import stage_budgets
from docanalyze.run.context import RunContext, unknown_price_message
from docanalyze.run.map import MapPrompt, map_prompt
from docanalyze.run.reduce import final_prompt, pack_partials, reduce_prompt
from docanalyze.text.spans import split_point
from docanalyze.text.tokens import estimate_tokens

__all__ = [
    "FINAL_OUTPUT_SHARE",
    "MAP_OUTPUT_SHARE",
    "REDUCE_OUTPUT_SHARE",
    "PlannedModel",
    "RunPlan",
    "StagePlan",
    "plan_run",
    "plan_run_async",
]

MAP_OUTPUT_SHARE = 0.30
"""A map reply is assumed to be this share of its part's text tokens (at most the map budget)."""
REDUCE_OUTPUT_SHARE = 0.50
"""A merge is assumed to be this share of its partial results (at most the reduce budget)."""
FINAL_OUTPUT_SHARE = 0.50
"""The report is assumed to be this share of its material (at most ``--max-tokens``)."""
REQUEST_FRAMING_TOKENS = 8
"""Tokens a request costs on top of its prompt (the Claude client adds as much)."""
FALLBACK_CONTEXT_WINDOW = 200_000
FALLBACK_MAX_OUTPUT_TOKENS = 64_000
_FILLER_LINE = "- A key point of this part, with its figures, names and dates (p. {page}).\n"


@dataclass(frozen=True)
class PlannedModel:
    """The model a plan is made for: limits from the catalog, the Models API (``--exact``) or
    ``--context-window``; the token estimate scaled to the model's tokenizer.

    It implements the model protocol so that the run's own budget and packing code can work
    with it, but it never answers a request.
    """

    name: str
    context_window: int
    max_output_tokens: int
    known: bool
    description: ModelDescription | None = None
    """What the Models API said of the model (``--exact``), else None."""

    @classmethod
    def for_options(
        cls, options: Options, description: ModelDescription | None = None
    ) -> PlannedModel:
        """The limits the Claude client would assume for ``options.model`` (as ``description``,
        from the Models API, says when given)."""
        info = model_info(options.model)
        learned = description.context_window if description else None
        window = (
            options.context_window
            or learned
            or (info.context_window if info else FALLBACK_CONTEXT_WINDOW)
        )
        output = (description.max_output_tokens if description else None) or (
            info.max_output_tokens if info else FALLBACK_MAX_OUTPUT_TOKENS
        )
        known = options.context_window is not None or learned is not None or info is not None
        return cls(options.model, window, min(output, window // 2), known, description)

    def estimate_tokens(self, text: str) -> int:
        """docanalyze's CJK-aware estimate, scaled to the model's tokenizer."""
        return math.ceil(estimate_tokens(text) * tokenizer_ratio(self.name))

    def rules_of(self, model: str) -> Capabilities:
        """The request rules of ``model``: the Models API's (``--exact``), else the catalog's."""
        if self.description is not None and model == self.name:
            return self.description.capabilities
        return capabilities_of(model)

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Never called: a plan sends no request."""
        raise NotImplementedError("a plan sends no requests")

    async def aclose(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class StagePlan:
    """One stage of the plan: ``map``, ``reduce`` (with its ``level``) or ``final``."""

    stage: str
    requests: list[PlannedRequest]
    seconds: float
    level: int = 0
    counted: bool = False
    """Whether the input tokens were counted by the API (``exact``) rather than estimated."""

    @property
    def label(self) -> str:
        """``map``, ``reduce 1``, ``final``."""
        return f"reduce {self.level}" if self.stage == "reduce" else self.stage

    @property
    def input_tokens(self) -> int:
        return sum(request.input_tokens for request in self.requests)

    @property
    def output_tokens(self) -> int:
        return sum(request.output_tokens for request in self.requests)

    @property
    def thinking_tokens(self) -> int:
        """The part of :attr:`output_tokens` planned for thinking."""
        return sum(request.thinking_tokens for request in self.requests)

    def to_dict(self) -> dict[str, Any]:
        """The stage as JSON-ready values."""
        return {
            "stage": self.stage,
            "level": self.level,
            "requests": len(self.requests),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "thinking_tokens": self.thinking_tokens,
            "seconds": round(self.seconds, 1),
            "input_counted": self.counted,
        }


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
            "map prompts counted by the API's count_tokens endpoint; reduce and final prompts "
            "estimated"
            if self.exact
            else "docanalyze's CJK-aware estimate, erring slightly high (--exact counts the "
            "map prompts with the API)"
        )
        return [
            f"input tokens: {counted}",
            (
                f"a map reply is {MAP_OUTPUT_SHARE:.0%} of its part's text tokens, at most "
                f"the map budget ({self.budgets.map_max_tokens:,}); a merge is "
                f"{REDUCE_OUTPUT_SHARE:.0%} of its partial results, at most the reduce budget "
                f"({self.budgets.reduce_max_tokens:,}); the report is "
                f"{FINAL_OUTPUT_SHARE:.0%} of its material, at most --max-tokens "
                f"({self.budgets.final_max_tokens:,})"
            ),
            (
                "thinking: "
                + "; ".join(
                    f"{stage} {self.budgets.thinking[stage].describe()}"
                    for stage in ("map", "reduce", "final")
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

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values."""
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
    options = replace(options or Options(), **overrides)
    if exact:
        from docanalyze.models.anthropic.count_tokens import require_api_key

        require_api_key()
    prompts = PromptSet.load(options.prompts_dir, options.variables)
    prices = prices if prices is not None else PriceTable.default()
    if options.batch:
        prices = prices.discounted(BATCH_DISCOUNT)
    model = PlannedModel.for_options(options, await _described(options) if exact else None)
    document = await asyncio.to_thread(resolve_document, source, password=options.password)
    chunks = await asyncio.to_thread(
        split_document, document, chunk_size=options.chunk_size, chunk_overlap=options.overlap
    )
    if not chunks:
        raise InputError(f"{document.source}: there is no text to analyze")
    budgets = stage_budgets(options, prompts, model)
    ctx = RunContext(document, model, prompts, budgets, lambda _: None)
    pace = Pace(options.concurrency, options.rpm, options.input_tpm, options.output_tpm)
    map_prompts = [span for chunk in chunks for span in _map_spans(ctx, chunk)]
    counts = await _exact_counts(map_prompts, options, exact)
    stages = _simulate(ctx, pace, map_prompts, counts, len(chunks))
    return RunPlan(
        source=document.source,
        model=model,
        page_count=document.page_count,
        chunk_count=len(chunks),
        budgets=ctx.budgets,
        stages=stages,
        pace=pace,
        prices=prices.get(model.name),
        prices_checked=prices.checked,
        exact=exact,
        notices=[] if model.known else [_unknown_model_notice(model)],
        batch=options.batch,
    )


async def _described(options: Options) -> ModelDescription | None:
    """What the Models API says of the plan's model (``--exact``; a key is required)."""
    from docanalyze.models.anthropic.model import AnthropicModel

    client = AnthropicModel(options.model, context_window=options.context_window)
    try:
        await client.describe(None)
        return client.description
    finally:
        await client.aclose()


async def _exact_counts(
    map_prompts: list[MapPrompt], options: Options, exact: bool
) -> list[int] | None:
    if not exact:
        return None
    from docanalyze.models.anthropic.count_tokens import count_prompt_tokens

    prompts = [span.prompt for span in map_prompts]
    return await count_prompt_tokens(prompts, options.model, concurrency=options.concurrency)


def _map_spans(ctx: RunContext, chunk: Chunk) -> list[MapPrompt]:
    """The map prompts of ``chunk``: one, or halves when its prompt does not fit (as the run)."""
    pending = [(chunk.start, chunk.end)]
    spans: list[MapPrompt] = []
    while pending:
        start, end = pending.pop()
        rendered = map_prompt(ctx, chunk, start, end)
        if ctx.budgets.fits(rendered.tokens, ctx.budgets.output("map", ctx.budgets.map_max_tokens)):
            spans.append(rendered)
            continue
        middle = split_point(ctx.document.text, start, end)
        if middle is None:
            raise BudgetError(
                f"the extraction of chunk {chunk.index + 1} (pages {chunk.first_page}-"
                f"{chunk.last_page}) does not fit the window even for {end - start} characters; "
                f"raise --context-window or use a larger model"
            )
        pending.extend([(middle, end), (start, middle)])
    return spans


def _simulate(
    ctx: RunContext,
    pace: Pace,
    map_prompts: list[MapPrompt],
    counts: list[int] | None,
    chunk_count: int,
) -> list[StagePlan]:
    budgets = ctx.budgets
    requests: list[PlannedRequest] = []
    partials: list[Partial] = []
    thinking = budgets.allowance("map")
    for number, span in enumerate(map_prompts):
        output = _share(MAP_OUTPUT_SHARE, estimate_tokens(span.text), budgets.map_max_tokens)
        prompt_tokens = counts[number] if counts else span.tokens + REQUEST_FRAMING_TOKENS
        requests.append(PlannedRequest(prompt_tokens, output + thinking, thinking))
        partials.append(_stand_in(output, span.first_page, span.last_page))
    stages = [StagePlan("map", requests, pace.stage_seconds(requests), counted=counts is not None)]
    level = 0
    while True:
        _, final_tokens = final_prompt(ctx, partials, chunk_count)
        if budgets.fits(final_tokens, budgets.output("final", budgets.final_max_tokens)):
            break
        level += 1
        requests, partials = _simulate_reduce_level(ctx, partials, level)
        stages.append(StagePlan("reduce", requests, pace.stage_seconds(requests), level=level))
    material = sum(estimate_tokens(partial.text) for partial in partials)
    output = _share(FINAL_OUTPUT_SHARE, material, budgets.final_max_tokens)
    thinking = budgets.allowance("final")
    final = [PlannedRequest(final_tokens + REQUEST_FRAMING_TOKENS, output + thinking, thinking)]
    stages.append(StagePlan("final", final, pace.stage_seconds(final)))
    return stages


def _simulate_reduce_level(
    ctx: RunContext, partials: list[Partial], level: int
) -> tuple[list[PlannedRequest], list[Partial]]:
    """One reduce level packed as the run packs it; every group of two or more is one merge."""
    groups = pack_partials(ctx, partials, level)
    if all(len(group) == 1 for group in groups):
        raise BudgetError(
            f"reduce level {level} would not shrink the material with a reduce budget of "
            f"{ctx.budgets.reduce_max_tokens} tokens in a {ctx.model.context_window}-token "
            f"window; raise --context-window or lower --max-tokens"
        )
    requests: list[PlannedRequest] = []
    merged: list[Partial] = []
    for number, group in enumerate(groups, 1):
        if len(group) == 1:
            merged.append(group[0])
            continue
        _, prompt_tokens = reduce_prompt(ctx, group, level, number, len(groups))
        material = sum(estimate_tokens(partial.text) for partial in group)
        output = _share(REDUCE_OUTPUT_SHARE, material, ctx.budgets.reduce_max_tokens)
        thinking = ctx.budgets.allowance("reduce")
        requests.append(
            PlannedRequest(prompt_tokens + REQUEST_FRAMING_TOKENS, output + thinking, thinking)
        )
        first_page = min(partial.first_page for partial in group)
        last_page = max(partial.last_page for partial in group)
        merged.append(_stand_in(output, first_page, last_page))
    return requests, merged


def _share(share: float, tokens: int, budget: int) -> int:
    return max(1, min(budget, math.ceil(share * tokens)))


def _stand_in(tokens: int, first_page: int, last_page: int) -> Partial:
    """A partial result of about ``tokens`` tokens: bullets in the form a reply takes."""
    line = _FILLER_LINE.format(page=first_page)
    lines = max(1, round(tokens / estimate_tokens(line)))
    return Partial((line * lines).rstrip(), first_page, last_page)


def _unknown_model_notice(model: PlannedModel) -> str:
    return (
        f"{model.name} is not in docanalyze's model table: assuming a "
        f"{model.context_window:,}-token context window; pass --context-window to set it"
    )
