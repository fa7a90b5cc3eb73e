"""Each citation checked against the document: verified, corrected to its true page, or unsupported.

A citation is a claim, the pages the model cited for it, and the quote it gave as evidence. Its
quote is looked up in the pages' text (:func:`~docanalyze.citations.locate.locate`):

- found, and every page it cites holds a quote (a quote across a page break holds both pages):
  **verified**;
- found, but some page it cites holds none of its quotes (only other pages, or only some of its
  cited pages, as in "the rent is 1,200 EUR (p. 3) and the tenant may sublet (p. 9)" with the
  quote on p. 3 alone): **corrected**, its pages are where its quotes really are;
- found nowhere, too short to count away from its cited page, or no quote at all:
  **unsupported**; it has no pages. One that cites a page image docanalyze could not read
  (:attr:`~docanalyze.document.Page.unreadable`: no OCR) is ``unreadable`` too: it could not
  be checked (:attr:`VerificationSummary.unreadable` counts them).

Nothing is shown as checked that was not: a cited page no quote was found on is never counted as
verified, and a claim with no quote is unsupported, not trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from docanalyze.citations.locate import Location, PageIndex, locate
from docanalyze.document import Page

__all__ = [
    "UNSUPPORTED_MARK",
    "CheckedCitation",
    "Citation",
    "Status",
    "UnsupportedMode",
    "VerificationSummary",
    "check_citation",
    "check_quotes",
    "join_quotes",
    "verify",
]

Status = Literal["verified", "corrected", "unsupported"]
"""What checking a citation found."""
UnsupportedMode = Literal["mark", "drop"]
"""What a report does with an unsupported claim: mark it in place, or leave it out."""
UNSUPPORTED_MARK = "⚠"
"""The sign that marks an unsupported claim in a report."""
QUOTE_JOINER = " … "
"""Joins the quotes of a claim backed by several (shown as its one quote)."""


@dataclass(frozen=True)
class Citation:
    """A claim of a report, the page numbers cited for it, and the quote given as its evidence."""

    claim: str
    pages: tuple[int, ...]
    quote: str | None = None


@dataclass(frozen=True)
class CheckedCitation:
    """A :class:`Citation` after checking: ``pages`` are where its quote really is (none when it
    is unsupported), ``cited_pages`` what was cited; ``location`` is where the quote was found;
    ``unreadable``: it is unsupported and cites a page image docanalyze could not read."""

    claim: str
    pages: tuple[int, ...]
    quote: str | None
    status: Status
    cited_pages: tuple[int, ...]
    location: Location | None = None
    unreadable: bool = False


def check_citation(
    citation: Citation, index: PageIndex, near: Iterable[int] = ()
) -> CheckedCitation:
    """``citation`` checked against the pages of ``index`` (see the module docstring); a quote
    not on a cited page is looked for on the pages ``near`` first (those the model was shown),
    then anywhere."""
    location = locate(citation.quote, index, citation.pages, near) if citation.quote else None
    if location is None:
        unreadable = any(index.pages[at].unreadable for at in index.positions_of(citation.pages))
        return CheckedCitation(
            citation.claim, (), citation.quote, "unsupported", citation.pages, None, unreadable
        )
    status = _status(citation.pages, location.pages)
    return CheckedCitation(
        citation.claim, location.pages, citation.quote, status, citation.pages, location
    )


def check_quotes(citation: Citation, quotes: Sequence[str], index: PageIndex) -> CheckedCitation:
    """``citation`` checked with each of ``quotes`` as its evidence (a claim merging several
    points): unsupported unless every quote is found; its pages are all those they are on,
    verified when each quote is on a cited page and each cited page holds a quote, else
    corrected."""
    quote = join_quotes(quotes)
    if len(quotes) == 1:
        return check_citation(Citation(citation.claim, citation.pages, quotes[0]), index)
    checks = [check_citation(Citation(citation.claim, citation.pages, q), index) for q in quotes]
    if not checks or any(check.location is None for check in checks):
        unreadable = any(check.unreadable for check in checks)
        return CheckedCitation(
            citation.claim, (), quote, "unsupported", citation.pages, unreadable=unreadable
        )
    pages = tuple(sorted({page for check in checks for page in check.pages}))
    on_cited = all(set(check.pages) & set(citation.pages) for check in checks)
    status: Status = _status(citation.pages, pages) if on_cited else "corrected"
    return CheckedCitation(citation.claim, pages, quote, status, citation.pages, checks[0].location)


def _status(cited: Sequence[int], found: Sequence[int]) -> Status:
    """Verified when the quotes were found on a cited page and on every cited page."""
    covered = set(found) & set(cited) and set(cited) <= set(found)
    return "verified" if covered else "corrected"


def join_quotes(quotes: Sequence[str]) -> str | None:
    """The quotes of one claim as one text (None for none)."""
    return QUOTE_JOINER.join(quotes) if quotes else None


def verify(
    citations: Iterable[Citation], pages: PageIndex | Sequence[Page]
) -> list[CheckedCitation]:
    """Each of ``citations`` checked against ``pages`` (normalized once for all of them)."""
    index = pages if isinstance(pages, PageIndex) else PageIndex.of(pages)
    return [check_citation(citation, index) for citation in citations]


@dataclass(frozen=True)
class VerificationSummary:
    """How many citations of a report were verified, corrected and unsupported."""

    verified: int = 0
    corrected: int = 0
    unsupported: int = 0
    unreadable: int = 0
    """How many of the unsupported cite page images docanalyze could not read (no OCR)."""

    @classmethod
    def of(cls, checked: Iterable[CheckedCitation]) -> VerificationSummary:
        """The counts of ``checked``."""
        citations = list(checked)
        statuses = [citation.status for citation in citations]
        return cls(
            statuses.count("verified"),
            statuses.count("corrected"),
            statuses.count("unsupported"),
            sum(citation.unreadable for citation in citations),
        )

    @property
    def total(self) -> int:
        """How many citations were checked."""
        return self.verified + self.corrected + self.unsupported

    def describe(self, unsupported: UnsupportedMode = "mark") -> str:
        """One line for the end of a report, e.g. ``Citations: 41 verified, 3 corrected to their
        true page, 2 unsupported (marked ⚠).`` (``dropped`` with ``unsupported="drop"``)."""
        if not self.total:
            return "Citations: none to check."
        handled = f"marked {UNSUPPORTED_MARK}" if unsupported == "mark" else "dropped"
        tail = f" ({handled})" if self.unsupported else ""
        return (
            f"Citations: {self.verified} verified, {self.corrected} corrected to their true page, "
            f"{self.unsupported} unsupported{tail}."
        )
