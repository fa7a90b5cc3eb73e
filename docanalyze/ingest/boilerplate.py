"""Boilerplate out of a document's pages before chunking: running headers and footers, page
numbers and table-of-contents dot leaders; words hyphenated across line ends and wrapped line
fragments joined.

- **Running header/footer**: a line among the first (last) :data:`EDGE_LINES` lines of at
  least :data:`RUNNING_SHARE` of the pages, and of at least :data:`MIN_RUNNING_PAGES` pages,
  that reads the same there (spaces collapsed, case folded) but for numbers that follow the
  page number ("Data Model – Edition 1.0 GeoBase® 9" on page 9, "… 10" on page 10). A line
  whose numbers vary otherwise (an invoice number, a date, an amount) is content and stays.
- **Page number**: a line that is only a page number ("12", "- 12 -", "Page 12 of 40",
  "12/40", "第 12 页") among the first or last two lines of a page, its number the page's own
  plus an offset that half the pages share (a quantity alone on a last line stays).
- **Dot leader**: a table of contents, :data:`MIN_CONTENTS_LINES` lines or more whose titles
  run to their page numbers through dots ("Introduction ........ 3"), the numbers in order
  and within the document; a price list or fee schedule stays.
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
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import pairwise

from docanalyze.document import BoilerplateCount, Document

__all__ = [
    "EDGE_LINES",
    "FRONT_MATTER_PAGES",
    "FULL_LINE_SHARE",
    "MAX_RUNNING_CHARS",
    "MIN_CONTENTS_LINES",
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
FRONT_MATTER_PAGES = 5
"""How far beyond the last page a printed page number (in a header, a table of contents) goes."""
MIN_CONTENTS_LINES = 3
"""A table of contents has at least this many dot-leader lines on a page."""
_PAGE_NUMBER_LINES = 2
_MIN_NUMBERED_PAGES = 2
_Place = tuple[int, int, int, list[int]]
"""A line at a page's edge: the page's index and number, the line's index and its numbers."""

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
    r"(?:(?:\s?\.){4,}|(?:\s?·){4,}|…{2,}|(?:\s?_){4,})\s*(?P<page>\d{1,4}|[ivxlcdm]{1,7})$"
)
_TOKENS = re.compile(r"\d+|[^\W\d_]+")
_ROMAN = re.compile("[ivxlcdm]+")
_ROMAN_DIGITS = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
_MASK = "\ue000"  # a digit run in a line's key; a character that no text holds
_JOINED_BEFORE = re.compile(f"{_MASK}[.,/:-]$")
_JOINED_AFTER = re.compile(f"[.,/:-]{_MASK}")
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
    texts, count = clean_pages([page.text for page in read], [page.number for page in read])
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


def clean_pages(
    texts: Sequence[str], numbers: Sequence[int] | None = None
) -> tuple[list[str], BoilerplateCount]:
    """The pages' texts without boilerplate, and what was taken out (see the module docstring).
    ``numbers`` are the pages' numbers (1, 2, … when not given): a page number or a running
    line's number must follow them to be boilerplate."""
    pages = [text.split("\n") for text in texts]
    page_numbers = list(numbers) if numbers is not None else list(range(1, len(pages) + 1))
    last_page = max(page_numbers, default=0)
    kinds: list[dict[int, str]] = [{} for _ in pages]
    _mark_page_numbers(pages, page_numbers, kinds)
    _mark_running(pages, page_numbers, kinds, top=True)
    _mark_running(pages, page_numbers, kinds, top=False)
    count = BoilerplateCount()
    cleaned: list[str] = []
    for lines, marked in zip(pages, kinds):
        _mark_contents(lines, last_page, marked)
        count += BoilerplateCount(**Counter(marked.values()))
        kept = [line for index, line in enumerate(lines) if index not in marked]
        cleaned.append(_join_fragments(_HYPHENATED.sub("", "\n".join(kept))).strip())
    return cleaned, count


def _key(line: str) -> str:
    """A line as compared across pages: digits masked, spaces collapsed, case folded."""
    return " ".join(_DIGITS.sub(_MASK, line).split()).casefold()


def _edge(lines: list[str], top: bool, size: int) -> list[int]:
    """Indexes of the first (or last) ``size`` non-blank lines, fewer on a page of few lines
    (at most a quarter of them, at least one), so that an edge never takes in the body."""
    filled = [index for index, line in enumerate(lines) if line.strip()]
    size = min(size, max(1, len(filled) // 4))
    return filled[:size] if top else filled[-size:]


def _mark_page_numbers(
    pages: list[list[str]], numbers: list[int], kinds: list[dict[int, str]]
) -> None:
    """Mark the lines that are only a page number, among the first or last two of a page, whose
    number is the page's own plus an offset that at least half the pages (two at least) share:
    a quantity or a total alone on a page's last line varies otherwise and stays."""
    found: dict[tuple[bool, int], list[tuple[int, int]]] = {}
    for page, (lines, number) in enumerate(zip(pages, numbers)):
        edges = {*_edge(lines, True, _PAGE_NUMBER_LINES), *_edge(lines, False, _PAGE_NUMBER_LINES)}
        for index in edges:
            printed = _printed_number(lines[index].strip())
            if printed is not None:
                roman, value = printed
                found.setdefault((roman, value - number), []).append((page, index))
    needed = max(_MIN_NUMBERED_PAGES, math.ceil(RUNNING_SHARE * len(pages)))
    for places in found.values():
        if len({page for page, _ in places}) >= needed:
            for page, index in places:
                kinds[page][index] = "page_numbers"


def _printed_number(text: str) -> tuple[bool, int] | None:
    """Whether a page-number line's number is in roman numerals, and its value; None when the
    line is not a page number."""
    if not _PAGE_NUMBER.match(text):
        return None
    for token in _TOKENS.findall(text):
        if token.isdigit():
            return False, int(token)
        if _ROMAN.fullmatch(token):
            return True, _roman_value(token)
    return None


def _roman_value(numeral: str) -> int:
    values = [_ROMAN_DIGITS[letter] for letter in numeral]
    return sum(-v if v < after else v for v, after in zip(values, [*values[1:], 0]))


def _mark_running(
    pages: list[list[str]], numbers: list[int], kinds: list[dict[int, str]], *, top: bool
) -> None:
    """Mark the running headers (``top``) or footers: lines among a page's first (last)
    :data:`EDGE_LINES` that read the same on enough pages, but for numbers that each either
    stay the same or follow the page number (a page number, never beyond the last page by more
    than :data:`FRONT_MATTER_PAGES`). A line whose numbers vary otherwise (an invoice number,
    a date, an amount) is content."""
    found: dict[str, list[_Place]] = {}
    for page, (lines, number) in enumerate(zip(pages, numbers)):
        for index in _edge(lines, top, EDGE_LINES):
            if index not in kinds[page] and _may_run(lines, index):
                values = [int(digits) for digits in _DIGITS.findall(lines[index])]
                found.setdefault(_key(lines[index]), []).append((page, number, index, values))
    needed = max(MIN_RUNNING_PAGES, math.ceil(RUNNING_SHARE * len(pages)))
    highest = max(numbers, default=0) + FRONT_MATTER_PAGES
    for key, places in found.items():
        rules = [
            _number_rule(places, position, may_track, highest)
            for position, may_track in enumerate(_standalone_numbers(key))
        ]
        matching = [place for place in places if all(rule(place) for rule in rules)]
        if key and len({page for page, *_ in matching}) >= needed:
            for page, _, index, _ in matching:
                kinds[page][index] = "headers" if top else "footers"


def _standalone_numbers(key: str) -> list[bool]:
    """For each number of a line (masked in its :func:`_key`), whether it stands
    alone, so that it may be a page number: not part of a date, a decimal or a code."""
    return [
        not (_JOINED_BEFORE.search(key[: mask.start()]) or _JOINED_AFTER.match(key[mask.end() :]))
        for mask in re.finditer(_MASK, key)
    ]


def _number_rule(
    places: list[_Place], position: int, may_track: bool, highest: int
) -> Callable[[_Place], bool]:
    """Which lines keep the number at ``position`` as most of them do: the same number on each
    page, or (``may_track``) one that follows the page number, none above ``highest``."""
    constant, same = Counter(values[position] for *_, values in places).most_common(1)[0]
    offsets = Counter(
        values[position] - number
        for _, number, _, values in places
        if may_track and values[position] <= highest
    ).most_common(1)
    if offsets and offsets[0][1] > same:
        offset = offsets[0][0]
        return lambda place: place[3][position] - place[1] == offset
    return lambda place: place[3][position] == constant


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


def _mark_contents(lines: list[str], last_page: int, kinds: dict[int, str]) -> None:
    """Mark a table of contents: at least :data:`MIN_CONTENTS_LINES` dot-leader lines on the
    page whose page numbers do not go down and stay within the document (plus
    :data:`FRONT_MATTER_PAGES`); a price list or fee schedule with dot leaders stays."""
    entries: list[tuple[int, tuple[bool, int]]] = []
    for index, line in enumerate(lines):
        match = _DOT_LEADER.search(line.strip())
        if match and index not in kinds:
            target = match.group("page")
            roman = not target.isdigit()
            entries.append((index, (not roman, _roman_value(target) if roman else int(target))))
    targets = [target for _, target in entries]
    in_order = all(before <= after for before, after in pairwise(targets))
    within = all(value <= last_page + FRONT_MATTER_PAGES for _, value in targets)
    if len(entries) >= MIN_CONTENTS_LINES and in_order and within:
        kinds.update((index, "dot_leaders") for index, _ in entries)


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
