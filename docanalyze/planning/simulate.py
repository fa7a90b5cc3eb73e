"""How a planned run unfolds: the map spans as the run cuts them, then replies of the assumed
size merged level by level with the run's own packing, until the final prompt fits."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from docanalyze.document import Chunk, Partial, Point
from docanalyze.errors import BudgetError
from docanalyze.models.base import pdf_input_fits
from docanalyze.planning.pace import Pace, PlannedRequest
from docanalyze.prompting.budgets import Budgets
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.run.map import MapPrompt, map_prompt, spans_that_fit
from docanalyze.run.reduce import final_prompt, pack_partials, reduce_prompt
from docanalyze.run.sections import (
    FINAL_OUTPUT_SHARE,
    FinalLayout,
    lay_out_final,
)
from docanalyze.text.tokens import estimate_tokens

__all__ = [
    "FINAL_OUTPUT_SHARE",
    "MAP_OUTPUT_SHARE",
    "RECORDS_OUTPUT_SHARE",
    "REDUCE_OUTPUT_SHARE",
    "REQUEST_FRAMING_TOKENS",
    "StagePlan",
    "map_request",
    "map_spans",
    "simulate",
]

MAP_OUTPUT_SHARE = 0.30
"""A map reply is assumed to be this share of its part's text tokens (at most the map budget)."""
REDUCE_OUTPUT_SHARE = 0.50
"""A merge is assumed to be this share of its partial results (at most the reduce budget)."""
RECORDS_OUTPUT_SHARE = 0.30
"""A chunk's reply is assumed to be this share of its text's tokens (at most the map budget):
its records restate passages of the text in their fields and quote them verbatim."""
REQUEST_FRAMING_TOKENS = 8
"""Tokens a request costs on top of its prompt (the Claude client adds as much)."""
_FILLER_CLAIM = "A key point of this part, with its figures, names and dates"
_FILLER_LINE = f"- {_FILLER_CLAIM} (p. {{page}}).\n"
_FILLER_QUOTE = "The sentence of the page the point was taken from, quoted word for word."
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]")


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
        """``map``, ``reduce 1``, ``final``, ``final: 4 sections``."""
        if self.stage == "final" and len(self.requests) > 1:
            return f"final: {len(self.requests) - 1} sections"
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


def map_spans(renderer: PromptRenderer, chunk: Chunk) -> list[MapPrompt]:
    """The map prompts of ``chunk``: one, or halves when its prompt does not fit (as the run)."""
    budgets = renderer.budgets

    def problem(rendered: MapPrompt) -> str | None:
        if not budgets.fits(rendered.tokens, budgets.output("map", budgets.map_max_tokens)):
            return "does not fit the window"
        return None if pdf_input_fits(rendered.citable) else "exceeds the API's PDF limits"

    def render(start: int, end: int) -> MapPrompt:
        return map_prompt(renderer, chunk, start, end)

    return spans_that_fit(renderer.document, chunk, budgets.map_max_tokens, render, problem)


def map_request(
    budgets: Budgets, text: str, prompt_tokens: int, share: float = MAP_OUTPUT_SHARE
) -> PlannedRequest:
    """A planned map request of ``prompt_tokens`` on ``text``: a reply of ``share`` of the
    text's tokens (at most the map budget) and the map stage's whole thinking allowance."""
    thinking = budgets.allowance("map")
    output = _share(share, estimate_tokens(text), budgets.map_max_tokens)
    return PlannedRequest(prompt_tokens, output + thinking, thinking)


def simulate(
    renderer: PromptRenderer,
    pace: Pace,
    map_prompts: list[MapPrompt],
    counts: list[int] | None,
    chunk_count: int,
    final_mode: str = "auto",
) -> list[StagePlan]:
    """The stages of the run: map, the reduce levels, and the final report (``final_mode`` as
    ``--final``: in sections, one request each and the overview, all at once)."""
    budgets = renderer.budgets
    requests: list[PlannedRequest] = []
    partials: list[Partial] = []
    quote = _stand_in_quote(renderer)
    for number, span in enumerate(map_prompts):
        # count_tokens counts the prompt with the pages sent beside it, as the run sends them
        prompt_tokens = counts[number] if counts else span.tokens + REQUEST_FRAMING_TOKENS
        request = map_request(budgets, span.text, prompt_tokens)
        requests.append(request)
        output = request.output_tokens - request.thinking_tokens
        partials.append(_stand_in(output, span.first_page, span.last_page, quote))
    stages = [StagePlan("map", requests, pace.stage_seconds(requests), counted=counts is not None)]
    level = 0
    while True:
        _, final_tokens = final_prompt(renderer, partials, chunk_count)
        if budgets.fits(final_tokens, budgets.output("final", budgets.final_max_tokens)):
            break
        level += 1
        requests, partials = simulate_reduce_level(renderer, partials, level, quote)
        stages.append(StagePlan("reduce", requests, pace.stage_seconds(requests), level=level))
    final = _final_requests(renderer, lay_out_final(renderer, partials, chunk_count, final_mode))
    stages.append(StagePlan("final", final, pace.stage_seconds(final)))
    return stages


def _final_requests(renderer: PromptRenderer, layout: FinalLayout) -> list[PlannedRequest]:
    """The final report's requests: one, or the overview and every section."""
    thinking = renderer.budgets.allowance("final")
    if not layout.sectioned:
        partials = layout.parts[0]
        prompt_tokens = final_prompt(renderer, partials, layout.chunk_count)[1]
        budget = renderer.budgets.final_max_tokens
        pieces = [(prompt_tokens, partials, budget)]
    else:
        pieces = [(piece.tokens, piece.material, piece.max_tokens) for piece in layout.pieces]
    requests = []
    for prompt_tokens, material, budget in pieces:
        tokens = sum(estimate_tokens(partial.text) for partial in material)
        output = _share(FINAL_OUTPUT_SHARE, tokens, budget)
        requests.append(
            PlannedRequest(prompt_tokens + REQUEST_FRAMING_TOKENS, output + thinking, thinking)
        )
    return requests


def simulate_reduce_level(
    renderer: PromptRenderer, partials: list[Partial], level: int, quote: str | None
) -> tuple[list[PlannedRequest], list[Partial]]:
    """One reduce level packed as the run packs it; every group of two or more is one merge
    (its points quoting ``quote``, see :func:`_stand_in`)."""
    groups = pack_partials(renderer, partials, level)
    budgets = renderer.budgets
    if all(len(group) == 1 for group in groups):
        raise BudgetError(
            f"reduce level {level} would not shrink the material with a reduce budget of "
            f"{budgets.reduce_max_tokens} tokens in a {renderer.limits.context_window}-token "
            f"window; raise --context-window or lower --max-tokens"
        )
    requests: list[PlannedRequest] = []
    merged: list[Partial] = []
    for number, group in enumerate(groups, 1):
        if len(group) == 1:
            merged.append(group[0])
            continue
        _, prompt_tokens = reduce_prompt(renderer, group, level, number, len(groups))
        material = sum(estimate_tokens(partial.text) for partial in group)
        output = _share(REDUCE_OUTPUT_SHARE, material, budgets.reduce_max_tokens)
        thinking = budgets.allowance("reduce")
        requests.append(
            PlannedRequest(prompt_tokens + REQUEST_FRAMING_TOKENS, output + thinking, thinking)
        )
        first_page = min(partial.first_page for partial in group)
        last_page = max(partial.last_page for partial in group)
        merged.append(_stand_in(output, first_page, last_page, quote))
    return requests, merged


def _share(share: float, tokens: int, budget: int) -> int:
    return max(1, min(budget, math.ceil(share * tokens)))


def _stand_in(tokens: int, first_page: int, last_page: int, quote: str | None) -> Partial:
    """A partial result of about ``tokens`` tokens: bullets in the form a reply takes, with
    their points, each quoting ``quote``, when the backend cites (None: it does not; the
    quotes are sent on as citable text)."""
    line = _FILLER_LINE.format(page=first_page)
    lines = max(1, round(tokens / estimate_tokens(line)))
    point = Point(_FILLER_CLAIM, (first_page,), (quote or "",))
    points = (point,) * lines if quote is not None else ()
    return Partial((line * lines).rstrip(), first_page, last_page, points)


def _stand_in_quote(renderer: PromptRenderer) -> str | None:
    """What a point quotes, when the backend cites (else None): a sentence of the document's
    mean length (a point quotes the sentence it comes from), in filler words."""
    if not renderer.citing:
        return None
    text = renderer.document.text
    length = len(text) // max(1, len(_SENTENCE_END.findall(text)))
    filler = _FILLER_QUOTE * (length // len(_FILLER_QUOTE) + 1)
    return filler[: max(len(_FILLER_QUOTE) // 2, length)].strip()
