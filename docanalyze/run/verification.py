"""The report's citations checked in code before it is written, against the page text.

Every statement of a reply to a final request (the report, or its overview and sections) is
read with the quotes behind it (:mod:`docanalyze.run.grounding`) and checked with
:func:`~docanalyze.citations.markdown.check_report`: a quote on its cited page is verified, on
another page corrected to it, found nowhere (or no quote at all, or no citation where one is
due) unsupported, and marked or dropped as ``--unsupported`` says. The report then ends with a
note counting them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from docanalyze.citations.markdown import check_report
from docanalyze.citations.verify import CheckedCitation, VerificationSummary
from docanalyze.document import Partial
from docanalyze.models.base import ModelReply
from docanalyze.run.context import RunContext
from docanalyze.run.grounding import ground_reply

__all__ = ["CheckedText", "check_reply", "closing_note"]


@dataclass(frozen=True)
class CheckedText:
    """A reply's text after checking (citations corrected, unsupported claims marked or
    dropped) and its checked citations, in order."""

    text: str
    citations: tuple[CheckedCitation, ...]


def check_reply(ctx: RunContext, reply: ModelReply, partials: list[Partial]) -> CheckedText:
    """Check the citations of ``reply``, the answer to a final request of ``partials``."""
    origins = [point for partial in partials for point in partial.points]
    grounded = ground_reply(reply, ctx.renderer.citable_points(partials), origins)
    pages = ctx.cited_documents or ctx.document.pages
    checked = check_report(
        grounded.text,
        grounded.evidence,
        pages,
        unsupported=ctx.unsupported,
        require_citations=True,
        closing_note=False,
    )
    return CheckedText(checked.text.strip(), checked.citations)


def closing_note(ctx: RunContext, citations: Iterable[CheckedCitation]) -> str:
    """The note that ends the report: how many citations were verified, corrected and
    unsupported (:meth:`VerificationSummary.describe`)."""
    return "\n\n" + VerificationSummary.of(citations).describe(ctx.unsupported)
