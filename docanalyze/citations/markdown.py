"""A Markdown report's citations checked in place: corrected pages, unsupported claims marked or
dropped, and a closing note that counts them.

A **claim** is a sentence carrying one or more page citations (:data:`~.pages.CITATION`); a
sentence ends as the offline analyzer's do (:func:`~docanalyze.text.sentences.ends_sentence`:
not at ``Ltd.``, ``e.g.`` or an initial), a bullet's marker is not part of it, and a citation
standing after a sentence's end belongs to that sentence. Headings and fenced code are never claims. The caller gives the quote that
supports each claim, keyed by the claim's text (compared by :func:`claim_key`, so citations,
emphasis, case, spacing and outer punctuation do not matter). Each claim is checked as one
:class:`~.verify.Citation` of all the pages it cites, then:

- **verified**: left as written;
- **corrected**: its first citation is rewritten to the true pages, its other citations removed;
- **unsupported**: marked after its last citation (``mode="mark"``), or removed, with its line if
  nothing else is left on it (``mode="drop"``).

A claim's quote may be several quotes (a claim merging points of several pages): each must be
found, and the claim stands on every page they are on. With ``require_citations``, a
**statement** (any other sentence of the text, see :func:`find_statements`) is a claim that
should carry a citation and carries none: it is unsupported too, marked at its end or dropped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from docanalyze.citations.locate import QUOTE_EDGES, PageIndex
from docanalyze.citations.normalize import normalize_for_matching
from docanalyze.citations.pages import CITATION, format_citation, parse_pages
from docanalyze.citations.verify import (
    UNSUPPORTED_MARK,
    CheckedCitation,
    Citation,
    UnsupportedMode,
    VerificationSummary,
    check_quotes,
    join_quotes,
)
from docanalyze.document import Page
from docanalyze.text.sentences import ends_sentence

__all__ = [
    "CheckedReport",
    "Claim",
    "PageIndexes",
    "Pages",
    "Quotes",
    "check_report",
    "claim_key",
    "find_claims",
    "find_statements",
    "is_fence",
]

Pages: TypeAlias = "PageIndex | Sequence[Page]"
"""A document's pages, or their :class:`~.locate.PageIndex`."""
Quotes: TypeAlias = "str | Sequence[str] | None"
"""The evidence of one claim: a quote, several quotes (all must be found), or none."""
DEFAULT_MARKER = f"{UNSUPPORTED_MARK} unsupported"

_FENCE = re.compile(r"^\s*(?:```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_SENTENCE_END = re.compile(r"(?:[.!?](?=\s|$)|[。！？])[\"'”’」』)）\]*_]*(?:\s*\0+)*")
"""A sentence's end, with the citations (masked as NULs) right after it."""
_MARKUP = re.compile(r"[*_`]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_EMPTY_ITEM = re.compile(r"\s*(?:[-*+•]|\d{1,3}[.)])?\s*")
_NOT_PROSE = re.compile(r"^\s*(?:>|\||[-*_]{3,}\s*$|<)")
"""Lines that hold no statement of the model's: quotes, tables, rules, HTML."""
_WORD = re.compile(r"[^\W\d_]{2,}|[\u3400-\u9fff]")


@dataclass(frozen=True)
class Claim:
    """A sentence of a report that carries page citations.

    ``line`` is the index of its line in the report; ``start``:``end`` its span in that line and
    ``citations`` the spans of its citations there. ``pages`` are the pages it cites (those of
    ``document``, the document its first citation names, if any).
    """

    text: str
    line: int
    start: int
    end: int
    citations: tuple[tuple[int, int], ...]
    pages: tuple[int, ...]
    document: str | None
    fullwidth: bool

    @property
    def statement(self) -> str:
        """The claim without its citations: ``Rent is due monthly.``"""
        return re.sub(r"\s*" + CITATION.pattern, "", self.text).strip()

    @property
    def key(self) -> str:
        """:func:`claim_key` of the claim."""
        return claim_key(self.text)


@dataclass(frozen=True)
class CheckedReport:
    """A report after checking: its rewritten text, each claim's check, and their counts."""

    text: str
    citations: tuple[CheckedCitation, ...]
    summary: VerificationSummary


def claim_key(text: str) -> str:
    """What a claim's text is compared by: without its bullet, citations, emphasis and outer
    punctuation, normalized for matching (:func:`~.normalize.normalize_for_matching`)."""
    text = CITATION.sub(" ", _BULLET.sub("", text, count=1))
    return normalize_for_matching(_MARKUP.sub("", text)).text.strip(QUOTE_EDGES)


def find_claims(markdown: str) -> list[Claim]:
    """The claims of ``markdown``, in order (see the module docstring)."""
    return [sentence for sentence in _sentences_of(markdown) if sentence.citations]


def find_statements(markdown: str) -> list[Claim]:
    """Every sentence of ``markdown`` that states something, in order: the claims, and the
    sentences without a citation (as claims citing nothing) outside headings, code, block
    quotes, tables and rules that have a word and do not end with a colon (an introduction)."""
    return [
        sentence
        for sentence in _sentences_of(markdown)
        if sentence.citations
        or (_WORD.search(sentence.text) and not sentence.text.rstrip("*_ ").endswith((":", "：")))
    ]


def is_fence(line: str) -> bool:
    """Whether ``line`` opens or closes a fenced code block (whose lines are never claims)."""
    return bool(_FENCE.match(line))


def _sentences_of(markdown: str) -> list[Claim]:
    sentences: list[Claim] = []
    in_code = False
    for number, line in enumerate(markdown.split("\n")):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code or _HEADING.match(line) or _NOT_PROSE.match(line):
            continue
        citations = list(CITATION.finditer(line))
        for start, end in _sentences(line, citations):
            inside = [match for match in citations if start <= match.start() < end]
            sentences.append(_claim(line, number, start, end, inside))
    return sentences


def check_report(
    markdown: str,
    quotes: Mapping[str, Quotes],
    pages: Pages | Mapping[str, Pages] | PageIndexes,
    *,
    unsupported: UnsupportedMode = "mark",
    marker: str = DEFAULT_MARKER,
    require_citations: bool = False,
    closing_note: bool = True,
) -> CheckedReport:
    """Check each claim of ``markdown`` with its quote(s) from ``quotes`` (keyed by claim text)
    against ``pages``, rewrite the report (see the module docstring) and add a closing note
    (unless ``closing_note`` is False).

    ``pages`` is one document's pages, or, for a report citing several documents
    (``(a.pdf, p. 3)``), each document's pages by the name its citations use; a claim citing a
    document not given is unsupported; :class:`PageIndexes` lets several checks share the
    indexes. With ``require_citations``, every statement without a citation is unsupported too.
    """
    quote_of = {claim_key(claim): quote for claim, quote in quotes.items()}
    indexes = pages if isinstance(pages, PageIndexes) else PageIndexes(pages)
    lines = markdown.split("\n")
    checked: list[CheckedCitation] = []
    edits: defaultdict[int, list[tuple[int, int, str]]] = defaultdict(list)
    claims = find_statements(markdown) if require_citations else find_claims(markdown)
    for claim in claims:
        evidence = quote_of.get(claim.key)
        found = [evidence] if isinstance(evidence, str) else list(evidence or ())
        index = indexes.get(claim.document)
        result = (
            check_quotes(Citation(claim.statement, claim.pages), found, index)
            if index is not None and claim.citations
            else CheckedCitation(
                claim.statement, (), join_quotes(found), "unsupported", claim.pages
            )
        )
        checked.append(result)
        edits[claim.line].extend(_edits(lines[claim.line], claim, result, unsupported, marker))
    dropped: set[int] = set()
    for number, line_edits in edits.items():
        lines[number] = _apply(lines[number], line_edits)
        if unsupported == "drop" and _EMPTY_ITEM.fullmatch(lines[number]):
            dropped.add(number)
    text = "\n".join(line for number, line in enumerate(lines) if number not in dropped)
    summary = VerificationSummary.of(checked)
    text = _BLANK_LINES.sub("\n\n", text).rstrip()
    if closing_note:
        text = f"{text}\n\n{summary.describe(unsupported)}\n"
    return CheckedReport(text, tuple(checked), summary)


class PageIndexes:
    """The page index of each document, built the first time a claim cites it."""

    def __init__(self, pages: Pages | Mapping[str, Pages]) -> None:
        self._pages: Mapping[str, Pages] | Pages = pages
        self._built: dict[str | None, PageIndex | None] = {}

    def get(self, document: str | None) -> PageIndex | None:
        """The index of ``document`` (None: the one document), or None if it is not given."""
        if isinstance(self._pages, Mapping):
            if document is None and len(self._pages) == 1:
                document = next(iter(self._pages))
            if document is None or document not in self._pages:
                return None
            pages = self._pages[document]
        else:
            pages, document = self._pages, None
        if document not in self._built:
            self._built[document] = pages if isinstance(pages, PageIndex) else PageIndex.of(pages)
        return self._built[document]


def _sentences(line: str, citations: list[re.Match[str]]) -> list[tuple[int, int]]:
    """The spans of ``line``'s sentences, after its bullet marker; a span that is only
    citations joins the sentence before it. A period followed by citations always ends its
    sentence; any other end is one by :func:`~docanalyze.text.sentences.ends_sentence`."""
    masked = list(line)
    for match in citations:
        masked[match.start() : match.end()] = "\0" * (match.end() - match.start())
    plain = "".join(masked)
    bullet = _BULLET.match(line)
    start = bullet.end() if bullet else len(line) - len(line.lstrip())
    spans: list[tuple[int, int]] = []
    ends = [
        match.end()
        for match in _SENTENCE_END.finditer(plain, start)
        if "\0" in match.group() or ends_sentence(plain, match.start(), match.end())
    ]
    for end in [*ends, len(line)]:
        if not plain[start:end].strip():
            continue
        if spans and not plain[start:end].replace("\0", "").strip(QUOTE_EDGES):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        start = end + len(plain[end:]) - len(plain[end:].lstrip())
    return [
        (first, last - len(line[first:last]) + len(line[first:last].rstrip()))
        for first, last in spans
    ]


def _claim(line: str, number: int, start: int, end: int, citations: list[re.Match[str]]) -> Claim:
    document = citations[0]["document"] if citations else None
    pages = sorted(
        {
            page
            for match in citations
            if match["document"] == document
            for page in parse_pages(match["pages"])
        }
    )
    return Claim(
        text=line[start:end],
        line=number,
        start=start,
        end=end,
        citations=tuple(match.span() for match in citations),
        pages=tuple(pages),
        document=document,
        fullwidth=bool(citations) and citations[0].group().startswith("（"),
    )


def _edits(
    line: str, claim: Claim, result: CheckedCitation, mode: UnsupportedMode, marker: str
) -> list[tuple[int, int, str]]:
    """The replacements (start, end, new text) in ``line`` that show ``result``."""
    if result.status == "corrected":
        (first_start, first_end), *others = claim.citations
        correct = format_citation(result.pages, claim.document, fullwidth=claim.fullwidth)
        return [(first_start, first_end, correct)] + [
            (_after_space(line, start), end, "") for start, end in others
        ]
    if result.status == "verified":
        return []
    if mode == "mark":
        end = claim.citations[-1][1] if claim.citations else claim.end
        return [(end, end, f" {marker}")]
    return [(_after_space(line, claim.start), claim.end, "")]


def _after_space(line: str, start: int) -> int:
    """``start`` moved back over the spaces before it."""
    while start and line[start - 1] in " \t":
        start -= 1
    return start


def _apply(line: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        line = line[:start] + new + line[end:]
    return line
