"""A report's page citations on its HTML page: each shows the quote that supports its claim and
links its page of the source PDF.

Each citation of a claim (:func:`~docanalyze.citations.markdown.find_claims`) becomes
``(<span class="cite" data-status="verified">…p. 4…</span>)``: the pages link to
``FILE.pdf#page=N`` when the document is a PDF file (:class:`PageLinks`), their ``title`` shows
the quote on hover, and a popover shows it, with what checking found, on hover, click or focus
(CSS only, no JavaScript). A claim is matched to its check in
:attr:`Report.citations <docanalyze.report.result.Report.citations>` by its text
(:func:`~docanalyze.citations.markdown.claim_key`); a citation no check matches is shown as
``unchecked``, never as checked. Each citation shows the status of its own pages: ``verified``
only when it was cited and its quote was found on each of its pages; one whose pages do not all
hold a quote shows as ``corrected`` (or ``unsupported``), even when another citation of the same
claim is verified. The ``⚠`` that marks an unsupported claim is highlighted.

Citations are swapped for placeholders before the Markdown is rendered (so its rendering is
unchanged; their parentheses stay as written) and the placeholders for elements after it; one
that ends up inside a tag or a code span is put back as the plain text it was.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from urllib.parse import quote as url_quote

from markupsafe import Markup, escape

from docanalyze.citations.markdown import Claim, claim_key, find_claims
from docanalyze.citations.pages import CITATION, format_pages, parse_pages
from docanalyze.citations.verify import UNSUPPORTED_MARK, CheckedCitation
from docanalyze.report.markdown import markdown_to_html

__all__ = ["PageLinks", "citation_element", "cited_markdown_to_html"]

_MARK = re.compile(rf"[ \t]*{UNSUPPORTED_MARK}(?:[ \t]*unsupported)?")
"""The mark of an unsupported claim, right after its last citation."""
_TAG_OR_TEXT = re.compile(r"(<[^>]*>)")


@dataclass(frozen=True)
class PageLinks:
    """Where a report's page citations link: its PDF files, relative to the page's folder.

    ``sources`` are the report's documents as given (a path each); a citation naming a document
    (``(a.pdf, p. 3)``) links to the source of that name, one naming none to the only source.
    ``folder`` is where the HTML page is written: links are relative to it; None links to the
    paths as given. A document that is not a ``.pdf`` file gets no link.
    """

    sources: tuple[str, ...]
    folder: Path | None = None

    def href(self, document: str | None, page: int) -> str | None:
        """The link to ``page`` of ``document`` (None: the only source), or None."""
        source = self._source(document)
        if source is None or not source.lower().endswith(".pdf"):
            return None
        return f"{self._path(source)}#page={page}"

    def _source(self, document: str | None) -> str | None:
        if document is None:
            return self.sources[0] if len(self.sources) == 1 else None
        named = [s for s in self.sources if document in (s, PurePath(s).name)]
        return named[0] if named else None

    def _path(self, source: str) -> str:
        if self.folder is None:
            return url_quote(PurePath(source).as_posix())
        try:
            relative = os.path.relpath(os.path.abspath(source), os.path.abspath(self.folder))
        except ValueError:  # another drive (Windows): no relative path
            return Path(os.path.abspath(source)).as_uri()
        return url_quote(PurePath(relative).as_posix())


def cited_markdown_to_html(
    markdown: str,
    citations: Sequence[CheckedCitation],
    links: PageLinks,
    *,
    quoted: bool = False,
    id_prefix: str = "cite",
) -> Markup:
    """``markdown`` as safe HTML (:func:`~docanalyze.report.markdown.markdown_to_html`) whose
    citations show their claims' quotes and link their pages (see the module docstring).

    ``id_prefix`` keeps the popovers' ids apart when a page shows several reports.
    """
    placeholders = _Placeholders(id_prefix)
    checks = _ChecksByClaim(citations)
    lines = markdown.split("\n")
    edits: defaultdict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for claim in find_claims(markdown):
        line = lines[claim.line]
        mark = _MARK.match(line, claim.citations[-1][1])
        checked = checks.take(_claim_text(line, claim, mark))
        for start, end in claim.citations:
            edits[claim.line].append(placeholders.citation(line, start, end, checked, links))
        if mark and checked is not None and checked.status == "unsupported":
            edits[claim.line].append(placeholders.mark(line, mark))
    for number, line_edits in edits.items():
        for start, end, new in sorted(line_edits, reverse=True):
            lines[number] = lines[number][:start] + new + lines[number][end:]
    return placeholders.fill(markdown_to_html("\n".join(lines), quoted=quoted))


def _claim_text(line: str, claim: Claim, mark: re.Match[str] | None) -> str:
    """The claim's text without the mark of an unsupported claim."""
    if mark is None:
        return line[claim.start : claim.end]
    return line[claim.start : mark.start()] + line[mark.end() : claim.end]


class _ChecksByClaim:
    """The checks of a report's claims, each taken once, by :func:`claim_key`."""

    def __init__(self, citations: Iterable[CheckedCitation]) -> None:
        self._checks: defaultdict[str, deque[CheckedCitation]] = defaultdict(deque)
        for citation in citations:
            self._checks[claim_key(citation.claim)].append(citation)

    def take(self, claim: str) -> CheckedCitation | None:
        checks = self._checks.get(claim_key(claim))
        return checks.popleft() if checks else None


class _Placeholders:
    """Plain-text stand-ins for the elements, put in the Markdown and then replaced."""

    def __init__(self, id_prefix: str) -> None:
        self.token = uuid.uuid4().hex
        self.pattern = re.compile(rf"{self.token}c(\d+)z")
        self.id_prefix = id_prefix
        self.elements: list[Markup] = []
        self.texts: list[str] = []

    def _add(self, element: Markup, text: str) -> str:
        self.elements.append(element)
        self.texts.append(text)
        return f"{self.token}c{len(self.elements) - 1}z"

    def citation(
        self,
        line: str,
        start: int,
        end: int,
        checked: CheckedCitation | None,
        links: PageLinks,
    ) -> tuple[int, int, str]:
        """The edit of ``line`` that puts a placeholder inside the citation's parentheses."""
        match = CITATION.fullmatch(line, start, end)
        assert match is not None  # a claim's citation spans come from CITATION
        inner = line[start + 1 : end - 1]
        pages = parse_pages(match["pages"])
        href = links.href(match["document"], pages[0])
        element_id = f"{self.id_prefix}-{len(self.elements)}"
        element = citation_element(inner.strip(), href, _own(checked, pages), element_id)
        return start + 1, end - 1, self._add(element, inner)

    def mark(self, line: str, mark: re.Match[str]) -> tuple[int, int, str]:
        """The edit of ``line`` that puts a placeholder for the unsupported mark."""
        text = mark.group().strip()
        element = Markup(
            '<mark class="unsupported" title="No page of the document supports this claim">'
            "{}</mark>"
        ).format(text)
        return mark.start(), mark.end(), " " + self._add(element, text)

    def fill(self, html: Markup) -> Markup:
        """``html`` with each placeholder replaced: by its element in text, by its own text
        inside a tag or a code span."""
        pieces: list[str] = []
        in_code = 0
        for piece in _TAG_OR_TEXT.split(str(html)):
            if piece.startswith("<"):
                in_code += piece.startswith("<code") - piece.startswith("</code")
                pieces.append(self.pattern.sub(self._as_text, piece))
            elif in_code:
                pieces.append(self.pattern.sub(self._as_text, piece))
            else:
                pieces.append(self.pattern.sub(self._as_element, piece))
        return Markup("".join(pieces))

    def _as_text(self, match: re.Match[str]) -> str:
        return str(escape(self.texts[int(match[1])]))

    def _as_element(self, match: re.Match[str]) -> str:
        return str(self.elements[int(match[1])])


def _own(checked: CheckedCitation | None, pages: Sequence[int]) -> CheckedCitation | None:
    """The check of one citation of a claim, showing ``pages``: verified only when the claim's
    quotes were found on each of them and they were cited; else corrected (or unsupported),
    naming the pages the model cited."""
    if checked is None or checked.status == "unsupported":
        return checked
    found_here = set(pages) <= set(checked.pages)
    if found_here and set(pages) <= set(checked.cited_pages):
        return replace(checked, status="verified")
    if found_here:  # the report already shows the true pages: say what was cited instead
        return replace(checked, status="corrected")
    return replace(checked, status="corrected", cited_pages=tuple(pages))


def citation_element(
    label: str, href: str | None, checked: CheckedCitation | None, element_id: str
) -> Markup:
    """A citation's pages, linked, with its quote in a title and a popover."""
    status = "unchecked" if checked is None else checked.status
    finding = _finding(checked)
    quote = checked.quote if checked is not None else None
    title = f"“{quote}” — {finding}" if quote else finding
    pages = (
        Markup('<a href="{}" title="{}" aria-describedby="{}">{}</a>')
        if href is not None
        else Markup('<span class="pages" title="{}" aria-describedby="{}">{}</span>')
    )
    linked = (
        pages.format(href, title, element_id, label)
        if href is not None
        else pages.format(title, element_id, label)
    )
    shown_quote = Markup('<q class="quote-text">{}</q>').format(quote) if quote else Markup("")
    return Markup(
        '<span class="cite" data-status="{}" tabindex="0">{}'
        '<span class="quote" role="tooltip" id="{}">{}<span class="finding">{}</span></span>'
        "</span>"
    ).format(status, linked, element_id, shown_quote, finding)


def _finding(checked: CheckedCitation | None) -> str:
    """What checking the claim's quote found, in a sentence."""
    if checked is None:
        return "Not checked: no quote was checked for this claim."
    if checked.status == "verified":
        return f"Verified: the quote is on {format_pages(checked.pages)}."
    if checked.status == "corrected":
        return (
            f"Corrected: cited {format_pages(checked.cited_pages)}; "
            f"the quote is on {format_pages(checked.pages)}."
        )
    if checked.quote:
        return "Unsupported: this quote is not in the document."
    return "Unsupported: no quote from the document supports this claim."
