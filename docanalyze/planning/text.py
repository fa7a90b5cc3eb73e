"""The plan of a run as text for a terminal: totals, a table of stages, cost, time, assumptions;
for a corpus, its totals, the largest documents and what bounds the time."""

from __future__ import annotations

from docanalyze.cost import format_usd
from docanalyze.planning.corpus import CorpusPlan
from docanalyze.planning.plan import RunPlan
from docanalyze.text.wording import counted

__all__ = ["format_corpus_plan", "format_plan"]

LARGEST_SHOWN = 5
"""How many of a corpus's documents the text lists (the most requests first)."""


def format_plan(plan: RunPlan) -> str:
    """``plan`` as the lines ``docanalyze plan`` prints."""
    lines = [
        (
            f"Plan for {plan.source} with {plan.model.name} "
            f"({plan.model.context_window:,}-token context window); no request was sent."
        ),
        "",
        (
            f"{counted(plan.page_count, 'page')}, {counted(plan.chunk_count, 'chunk')}, "
            f"{counted(plan.requests, 'request')}, {_what(plan)}"
        ),
        "",
        *_stage_table(plan),
        "",
        f"Estimated cost: {_cost(plan)}",
        f"Estimated time: {_duration(plan.seconds)}",
        "",
        "Assumptions:",
        *(f"- {assumption}" for assumption in plan.assumptions),
    ]
    return "\n".join(lines) + "\n"


def _what(plan: RunPlan) -> str:
    """The reduce levels of a report, or the records an extraction asks for."""
    if plan.extraction is None:
        return counted(plan.reduce_levels, "reduce level")
    extraction = plan.extraction
    key = f", merged by --key {','.join(extraction.key)}" if extraction.key else ""
    return f"records of {extraction.title} ({extraction.schema}){key}"


def format_corpus_plan(plan: CorpusPlan) -> str:
    """``plan`` as the lines ``docanalyze plan`` prints for several documents."""
    lines = [
        (
            f"Plan for {counted(plan.documents, 'document')} with {plan.model.name} "
            f"({plan.model.context_window:,}-token context window); no request was sent."
        ),
        "",
        (
            f"{counted(plan.documents, 'document')}, {counted(plan.page_count, 'page')}, "
            f"{counted(plan.chunk_count, 'chunk')}, {counted(plan.requests, 'request')}"
        ),
        (
            f"{plan.input_tokens:,} input tokens, {plan.output_tokens:,} output tokens "
            f"(of which {plan.thinking_tokens:,} thinking)"
        ),
        "",
        f"Estimated cost: {_corpus_cost(plan)}",
        f"Estimated time: {_duration(plan.seconds)}, bound by {plan.time.bound}",
        *_largest(plan),
        *_failures(plan),
        "",
        "Assumptions:",
        *(f"- {assumption}" for assumption in plan.assumptions),
    ]
    return "\n".join(lines) + "\n"


def _corpus_cost(plan: CorpusPlan) -> str:
    prices = plan.standard_prices
    if prices is None or plan.standard_cost is None or plan.batch_cost is None:
        return f"unknown: {plan.plans[0].unknown_price if plan.plans else 'no document'}"
    return (
        f"{format_usd(plan.standard_cost)}, or {format_usd(plan.batch_cost)} with --batch "
        f"({plan.model.name} at ${prices.input:g} input and ${prices.output:g} output per "
        f"million tokens; prices checked {plan.prices_checked})"
    )


def _largest(plan: CorpusPlan) -> list[str]:
    """The documents with the most requests, for a start (``--format json`` lists them all)."""
    if plan.documents <= 1:
        return []
    largest = sorted(plan.plans, key=lambda each: (-each.requests, -each.input_tokens))
    shown = largest[:LARGEST_SHOWN]
    title = "Largest documents" if len(shown) < plan.documents else "Documents"
    lines = ["", f"{title} (--format json lists every document):"]
    for each in shown:
        lines.append(
            f"- {each.source}: {counted(each.page_count, 'page')}, "
            f"{counted(each.requests, 'request')}, {each.input_tokens:,} input tokens, "
            f"{_duration(each.seconds)} alone"
        )
    return lines


def _failures(plan: CorpusPlan) -> list[str]:
    if not plan.failures:
        return []
    count = counted(len(plan.failures), "document")
    return ["", f"{count} cannot be planned (a run would fail them too):"] + [
        f"- {failure.message}"
        if failure.source in failure.message
        else f"- {failure.source}: {failure.message}"
        for failure in plan.failures
    ]


def _stage_table(plan: RunPlan) -> list[str]:
    header = ("stage", "requests", "input tokens", "output tokens", "of which thinking", "time")
    rows = [
        (
            stage.label,
            f"{len(stage.requests):,}",
            f"{stage.input_tokens:,}",
            f"{stage.output_tokens:,}",
            f"{stage.thinking_tokens:,}",
            _duration(stage.seconds),
        )
        for stage in plan.stages
    ]
    rows.append(
        (
            "total",
            f"{plan.requests:,}",
            f"{plan.input_tokens:,}",
            f"{plan.output_tokens:,}",
            f"{sum(stage.thinking_tokens for stage in plan.stages):,}",
            _duration(plan.seconds),
        )
    )
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ).rstrip()
        for row in (header, *rows)
    ]


def _cost(plan: RunPlan) -> str:
    if plan.cost is None or plan.prices is None:
        return f"unknown: {plan.unknown_price}"
    prices = plan.prices
    batch = " with --batch" if plan.batch else ""
    return (
        f"{format_usd(plan.cost)} ({plan.model.name} at ${prices.input:g} input and "
        f"${prices.output:g} output per million tokens{batch}; "
        f"prices checked {plan.prices_checked})"
    )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
