"""How reports and messages write a run's figures: all input tokens, and dollars.

These sit below :mod:`docanalyze.cost` (which re-exports them) so that the HTML page
(:mod:`docanalyze.report.html`) can use them without importing the cost rules and their errors.
"""

from __future__ import annotations

from docanalyze.models.base import Usage

__all__ = ["format_usd", "input_tokens_with_cache"]


def input_tokens_with_cache(usage: Usage) -> int:
    """All input tokens: uncached plus cache writes plus cache reads."""
    return usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens


def format_usd(amount: float) -> str:
    """``$1.04``; amounts under a cent keep two significant digits (``$0.0031``)."""
    if amount == 0 or amount >= 0.01:
        return f"${amount:,.2f}"
    return f"${amount:.2g}"
