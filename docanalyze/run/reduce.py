"""The reduce stage: merge partial results level by level until the final prompt fits.

Each level packs the partials, in document order, into groups whose rendered reduce prompt plus
its output budget fits the context window, and merges every group concurrently. A level must
shrink the material; if it does not, the run stops with an error that names the budget instead
of looping. A merge cut at ``max_tokens`` is redone in two halves, so nothing is lost.
"""

from __future__ import annotations

import asyncio

from docanalyze.document import Partial
from docanalyze.errors import BudgetError
from docanalyze.events import StageStarted
from docanalyze.models.base import ModelReply, ModelRequest, Refusal, Stage
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.run.context import RefusalStop, RefusedPart, RunContext, Step
from docanalyze.run.grounding import ground_reply, points_text, split_points
from docanalyze.text.packing import pack_in_order
from docanalyze.text.spans import split_text

__all__ = [
    "final_prompt",
    "merged_partial",
    "pack_partials",
    "points_request",
    "reduce_prompt",
    "reduce_until_final_fits",
    "refused_part",
]


def final_prompt(
    renderer: PromptRenderer, partials: list[Partial], chunk_count: int
) -> tuple[str, int]:
    """The rendered final prompt and its token estimate."""
    offline = renderer.limits.features.offline
    return renderer.render(
        "final",
        renderer.citable_points(partials),
        partials=partials,
        chunk_count=chunk_count,
        offline=offline,
    )


def points_request(
    renderer: PromptRenderer, stage: Stage, prompt: str, max_tokens: int, partials: list[Partial]
) -> ModelRequest:
    """A reduce or final request of ``partials``: their texts as material, their points as
    citable text when the backend cites."""
    material = tuple(partial.text for partial in partials)
    citable = renderer.citable_points(partials)
    return renderer.stage_request(stage, prompt, max_tokens, material, citable)


def merged_partial(renderer: PromptRenderer, reply: ModelReply, partials: list[Partial]) -> Partial:
    """The partial result of ``reply`` to a request of ``partials``: its points carry the
    quotes of the points they cite (a reply with citations is written as its points)."""
    origins = [point for partial in partials for point in partial.points]
    grounded = ground_reply(reply, renderer.citable_points(partials), origins)
    first_page = min(partial.first_page for partial in partials)
    last_page = max(partial.last_page for partial in partials)
    text = points_text(grounded.points) if reply.blocks else reply.text
    return Partial(text, first_page, last_page, grounded.points)


async def reduce_until_final_fits(
    ctx: RunContext, partials: list[Partial], chunk_count: int
) -> tuple[list[Partial], int]:
    """Reduce ``partials`` until the final prompt fits; return them and the number of levels."""
    level = 0
    while True:
        _, final_tokens = final_prompt(ctx.renderer, partials, chunk_count)
        budgets = ctx.budgets
        if budgets.fits(final_tokens, budgets.output("final", budgets.final_max_tokens)):
            return partials, level
        level += 1
        reduced = await _reduce_level(ctx, partials, level)
        before, after = _material_tokens(ctx, partials), _material_tokens(ctx, reduced)
        if after >= before:
            raise BudgetError(
                f"reduce level {level} did not shrink the material ({before} -> {after} tokens) "
                f"with a reduce budget of {ctx.budgets.reduce_max_tokens} tokens in a "
                f"{ctx.model.context_window}-token window; raise --context-window or lower "
                f"--max-tokens"
            )
        partials = reduced


def _material_tokens(ctx: RunContext, partials: list[Partial]) -> int:
    return sum(ctx.model.estimate_tokens(partial.text) for partial in partials)


async def _reduce_level(ctx: RunContext, partials: list[Partial], level: int) -> list[Partial]:
    groups = pack_partials(ctx.renderer, partials, level)
    ctx.emit(StageStarted("reduce", sum(1 for group in groups if len(group) > 1), level))
    merged = await asyncio.gather(
        *(
            _merge_group(ctx, group, level, number, len(groups))
            for number, group in enumerate(groups, 1)
        )
    )
    return [partial for group_result in merged for partial in group_result]


async def _merge_group(
    ctx: RunContext, group: list[Partial], level: int, number: int, groups: int
) -> list[Partial]:
    """Merge ``group``: one step of its level (a group of one partial is kept as it is)."""
    if len(group) == 1:
        return group
    step = Step("reduce", level)
    merged = await _reduce_group(ctx, step, group, number, groups)
    ctx.finish(step)
    return merged


def pack_partials(
    renderer: PromptRenderer, partials: list[Partial], level: int
) -> list[list[Partial]]:
    """The groups of reduce level ``level``: greedy, in document order, under the reduce
    prompt's capacity (a partial too large alone is cut in two)."""
    overhead = reduce_prompt(renderer, [], level, 1, 1)[1]
    budgets = renderer.budgets
    capacity = (
        budgets.request_limit - budgets.output("reduce", budgets.reduce_max_tokens) - overhead
    )
    return pack_in_order(_fitting_items(renderer, partials, level, overhead, capacity), capacity)


def _fitting_items(
    renderer: PromptRenderer, partials: list[Partial], level: int, overhead: int, capacity: int
) -> list[tuple[Partial, int]]:
    """The partials and their token cost, any that alone exceeds the capacity cut to fit."""
    items: list[tuple[Partial, int]] = []
    pending = list(reversed(partials))
    while pending:
        item = pending.pop()
        cost = reduce_prompt(renderer, [item], level, 1, 1)[1] - overhead
        if cost <= capacity:
            items.append((item, cost))
            continue
        halves = _split_partial(item)
        if halves is None:
            raise BudgetError(
                f"a partial result of pages {item.first_page}-{item.last_page} cannot fit a "
                f"reduce prompt in a {renderer.limits.context_window}-token window; raise "
                f"--context-window"
            )
        pending.extend(reversed(halves))
    return items


def _split_partial(partial: Partial) -> tuple[Partial, Partial] | None:
    """``partial`` in two, its points too (None when it cannot be cut)."""
    if partial.points:
        halves = split_points(partial.points)
        if halves is None:
            return None
        first, second = (
            Partial(points_text(half), partial.first_page, partial.last_page, half)
            for half in halves
        )
        return first, second
    texts = split_text(partial.text)
    if texts is None:
        return None
    return (
        Partial(texts[0], partial.first_page, partial.last_page),
        Partial(texts[1], partial.first_page, partial.last_page),
    )


def refused_part(ctx: RunContext, stage: Stage, group: list[Partial], reply: ModelReply) -> None:
    """Record that the model refused to merge ``group`` and stop the run (:class:`RefusalStop`)."""
    first_page = min((partial.first_page for partial in group), default=1)
    last_page = max((partial.last_page for partial in group), default=first_page)
    refusal = reply.refusal or Refusal()
    ctx.record_refusal(RefusedPart(stage, first_page, last_page, refusal, model=reply.model))
    raise RefusalStop


def reduce_prompt(
    renderer: PromptRenderer, group: list[Partial], level: int, number: int, groups: int
) -> tuple[str, int]:
    """The rendered reduce prompt of group ``number`` of ``groups`` and its token estimate."""
    return renderer.render(
        "reduce",
        renderer.citable_points(group),
        partials=group,
        level=level,
        group=number,
        groups=groups,
    )


async def _reduce_group(
    ctx: RunContext, step: Step, group: list[Partial], number: int, groups: int
) -> list[Partial]:
    if len(group) == 1:
        return group
    prompt, prompt_tokens = reduce_prompt(ctx.renderer, group, step.level, number, groups)
    budget = ctx.budgets.reduce_max_tokens
    if ctx.budgets.fits(prompt_tokens, ctx.budgets.output("reduce", budget)):
        request = points_request(ctx.renderer, "reduce", prompt, budget, group)
        reply = await ctx.complete(request, step)
        if reply.refused:
            refused_part(ctx, "reduce", group, reply)
        if not reply.truncated:
            return [merged_partial(ctx.renderer, reply, group)]
        ctx.reask(step, "max_tokens")
    half = len(group) // 2
    first, second = await asyncio.gather(
        _reduce_group(ctx, step, group[:half], number, groups),
        _reduce_group(ctx, step, group[half:], number, groups),
    )
    return [*first, *second]
