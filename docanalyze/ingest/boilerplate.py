"""Boilerplate out of a document's pages before chunking: running headers and footers, page
numbers and table-of-contents dot leaders; words hyphenated across line ends and wrapped line
fragments joined.

- **Running header/footer**: a line that, with its digits masked and its spaces collapsed,
  stands among the first (last) :data:`EDGE_LINES` lines of at least
  :data:`RUNNING_SHARE` of the pages, and of at least :data:`MIN_RUNNING_PAGES` pages
  ("Data Model – Edition 1.0 GeoBase® 9" on page 9, "… 10" on page 10).
- **Page number**: a line that is only a page number ("12", "- 12 -", "Page 12 of 40",
  "12/40", "第 12 页") among the first or last two lines of a page.
- **Dot leader**: a table-of-contents line whose title runs to its page number through dots
  ("Introduction ........ 3").
- **Hyphenation**: ``docu-\\nment`` becomes ``document`` when the word goes on in lower case.
- **Line fragments**: a line that does not end a sentence is joined to the next when that one
  goes on in lower case (wrapped prose, OCR lines).

The cleaned pages replace the document's own (:func:`without_boilerplate`), so chunks, prompts
and the citations checked against the page text all see the same text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from docanalyze.document import BoilerplateCount, Document

__all__ = [
    "EDGE_LINES",
    "FULL_LINE_SHARE",
    "MAX_RUNNING_CHARS",
    "MIN_RUNNING_PAGES",
    "RUNNING_SHARE",
    "clean_pages",
    "without_boilerplate",
]

EDGE_LINES = 3
"""How many lines at the top (bottom) of a page a running header (footer) may be among."""
RUNNING_SHARE = 0.5
"""The share of pages a line must repeat on to be a running header or footer."""
MIN_RUNNING_PAGES = 3
"""A running header or footer repeats on at least this many pages."""
MAX_RUNNING_CHARS = 160
"""A running header or footer is one short line; a longer one is prose."""
SENTENCE_WORDS = 8
"""A line that ends a sentence of this many words or more is prose, never a header or footer."""
_PAGE_NUMBER_LINES = 2

_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|p\.|pg\.?|seite|página|pagina|side|sida|strona)\s*)?"
    r"[-–—(\[]?\s*(?:\d{1,4}|(?-i:[ivxlcdm]{1,7}))\s*[-–—)\]]?"
    r"(?:\s*(?:of|/|von|de|di|sur|van|из)\s*\d{1,4})?$"
    r"|^第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?$"
    r"|^\d{1,4}\s*/\s*\d{1,4}$",
    re.IGNORECASE,
)
_DOT_LEADER = re.compile(
    r"(?:(?:\s?\.){4,}|(?:\s?·){4,}|…{2,}|(?:\s?_){4,})\s*(?:\d{1,4}|[ivxlcdm]{1,7})$"
)
_HYPHENATED = re.compile(r"(?<=[^\W\d_]{2})-\n(?=[a-zà-öø-ÿ]{2})")
_SENTENCE_ENDS = frozenset(".!?:;。！？；：…\"'”’)]」』")
_CONTINUES_LOWER = re.compile(r"^[a-zà-öø-ÿ]")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
FULL_LINE_SHARE = 0.75
"""A line this share as wide as the page's widest, not ending a sentence, wraps on."""
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·‣▪]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")


def without_boilerplate(document: Document) -> Document:
    """``document`` with :func:`clean_pages` applied, its counts in ``boilerplate``; the same
    document when nothing changes. Page numbers (and section labels) stay; a page left empty
    stays, empty; a page image still to be read is left as it is."""
    read = [page for page in document.pages if not page.scanned]  # a page image has no lines yet
    texts, count = clean_pages([page.text for page in read])
    cleaned = {page.number: text for page, text in zip(read, texts)}
    if all(cleaned[page.number] == page.text for page in read):
        return replace(document, boilerplate=document.boilerplate or count)
    pages = tuple(
        replace(page, text=cleaned[page.number]) if page.number in cleaned else page
        for page in document.pages
    )
    return replace(
        document,
        pages=pages,
        boilerplate=document.boilerplate + count if document.boilerplate else count,
    )


def clean_pages(texts: Sequence[str]) -> tuple[list[str], BoilerplateCount]:
    """The pages' texts without boilerplate, and what was taken out (see the module docstring)."""
    pages = [text.split("\n") for text in texts]
    headers = _running_lines(pages, top=True)
    footers = _running_lines(pages, top=False)
    count = BoilerplateCount()
    cleaned: list[str] = []
    for lines in pages:
        kept, removed = _clean_page(lines, headers, footers)
        count += removed
        cleaned.append(_join_fragments(_HYPHENATED.sub("", "\n".join(kept))).strip())
    return cleaned, count


def _key(line: str) -> str:
    """A line as compared across pages: digits masked, spaces collapsed, case folded."""
    return " ".join(_DIGITS.sub("#", line).split()).casefold()


def _edge(lines: list[str], top: bool, size: int) -> list[int]:
    """Indexes of the first (or last) ``size`` non-blank lines, fewer on a page of few lines
    (at most a quarter of them, at least one), so that an edge never takes in the body."""
    filled = [index for index, line in enumerate(lines) if line.strip()]
    size = min(size, max(1, len(filled) // 4))
    return filled[:size] if top else filled[-size:]


def _running_lines(pages: list[list[str]], *, top: bool) -> frozenset[str]:
    """The keys of the lines that run along the top (or bottom) of enough pages."""
    seen: Counter[str] = Counter()
    for lines in pages:
        edge = _edge(lines, top, EDGE_LINES)
        seen.update({_key(lines[i]) for i in edge if _may_run(lines, i)})
    needed = max(MIN_RUNNING_PAGES, math.ceil(RUNNING_SHARE * len(pages)))
    return frozenset(key for key, pages_with in seen.items() if pages_with >= needed and key)


def _may_run(lines: list[str], index: int) -> bool:
    """Whether line ``index`` could be a running header or footer: a label, not prose. Headers
    and footers are short, do not end a sentence of several words and do not run on into the
    line below (or go on from the line above); so pages of prose that happen to open alike
    (a repeated form, a letter's greeting) keep their text."""
    text = lines[index].strip()
    sentence = (
        text.endswith((".", "!", "?", "。", "！", "？")) and len(text.split()) >= SENTENCE_WORDS
    )
    below = lines[index + 1] if index + 1 < len(lines) else ""
    flows = _runs_on(text, below) or (index > 0 and _runs_on(lines[index - 1].strip(), text))
    return len(text) <= MAX_RUNNING_CHARS and not sentence and not flows


def _clean_page(
    lines: list[str], headers: frozenset[str], footers: frozenset[str]
) -> tuple[list[str], BoilerplateCount]:
    top, bottom = _edge(lines, True, EDGE_LINES), _edge(lines, False, EDGE_LINES)
    numbers = {*_edge(lines, True, _PAGE_NUMBER_LINES), *_edge(lines, False, _PAGE_NUMBER_LINES)}
    kinds = {index: "page_numbers" for index in numbers if _PAGE_NUMBER.match(lines[index].strip())}
    for index in top:
        if index not in kinds and _key(lines[index]) in headers:
            kinds[index] = "headers"
    for index in bottom:
        if index not in kinds and _key(lines[index]) in footers:
            kinds[index] = "footers"
    for index, line in enumerate(lines):
        if index not in kinds and _DOT_LEADER.search(line.strip()):
            kinds[index] = "dot_leaders"
    removed = Counter(kinds.values())
    kept = [line for index, line in enumerate(lines) if index not in kinds]
    return kept, BoilerplateCount(**removed)


def _join_fragments(text: str) -> str:
    """Join each line that does not end a sentence to the next when that one goes on in lower
    case, or when the line is full (:data:`FULL_LINE_SHARE` as wide as the page's widest) and
    the next is no list item: prose wrapped (or cut by OCR) into lines becomes one line per
    paragraph, while headings and a paragraph's short last line keep their breaks."""
    lines = text.split("\n")
    full = FULL_LINE_SHARE * max((len(line.strip()) for line in lines), default=0)
    joined: list[str] = []
    previous = ""
    for line in lines:
        if joined and _goes_on(previous, line, full):
            joined[-1] = f"{joined[-1].rstrip()} {line.strip()}"
        else:
            joined.append(line)
        previous = line.strip()
    return "\n".join(joined)


def _runs_on(line: str, next_line: str) -> bool:
    """Whether ``next_line`` plainly carries on the sentence of ``line``: no sentence end
    between them, and the next goes on in lower case."""
    if not line or line[-1] in _SENTENCE_ENDS or _LIST_ITEM.match(next_line):
        return False
    return bool(_CONTINUES_LOWER.match(next_line.strip()))


def _goes_on(line: str, next_line: str, full: float) -> bool:
    """Whether ``next_line`` carries on the sentence of ``line`` (both as extracted)."""
    if not line or not next_line.strip() or line[-1] in _SENTENCE_ENDS or line[-1] == "-":
        return False
    if _LIST_ITEM.match(next_line) or _CJK.match(line[-1]):
        return False
    return bool(_CONTINUES_LOWER.match(next_line)) or len(line) >= full
