"""The plan of a run as text for a terminal: totals, a table of stages, cost, time, assumptions."""

from __future__ import annotations

from docanalyze.cost import format_usd
from docanalyze.planning.plan import RunPlan

__all__ = ["format_plan"]


def format_plan(plan: RunPlan) -> str:
    """``plan`` as the lines ``docanalyze plan`` prints."""
    lines = [
        (
            f"Plan for {plan.source} with {plan.model.name} "
            f"({plan.model.context_window:,}-token context window); no request was sent."
        ),
        "",
        (
            f"{_count(plan.page_count, 'page')}, {_count(plan.chunk_count, 'chunk')}, "
            f"{_count(plan.requests, 'request')}, {_count(plan.reduce_levels, 'reduce level')}"
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


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
