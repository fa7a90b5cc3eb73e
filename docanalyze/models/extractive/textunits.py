"""Text units: sentences with their pages, page citations, and the terms that compare texts.

Shared by the offline extractive backend and anything else that needs to cut text into
sentences (CJK-aware) or read and write the page citations the prompts ask for: ``(p. 3)``,
``(pp. 3–5)``, ``(pp. 3, 7–9)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from docanalyze.citations.pages import PAGE_LIST, format_citation as cite_pages, parse_pages
from docanalyze.document import PAGE_MARKER_RE
from docanalyze.text.sentences import ends_sentence

__all__ = [
    "PageSentence",
    "cut_at_boundary",
    "format_citation",
    "is_cjk_char",
    "is_heading",
    "split_citation",
    "split_marked_text",
    "split_sentences",
    "terms",
    "truncate_to_fit",
]

MAX_SENTENCE_CHARS = 500
"""Longer sentences (e.g. table rows with no punctuation) are cut at clause or word boundaries."""

_CJK_RANGES = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
)
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")
_CJK_RUN = re.compile(f"[{_CJK_RANGES}]+")
_WORD = re.compile(r"\w+")

_CLOSERS = "\"'”’」』）)\\]"
_SENTENCE_END = re.compile(
    f"[。！？；][{_CLOSERS}]*"  # CJK: always ends a sentence
    f"|[.!?…][{_CLOSERS}]*(?=\\s|$)"  # Latin: only before a space or the end
)
_BULLET_LINE = re.compile(r"^\s*(?:[-*•·‣▪]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")
_TERMINAL_MARKS = frozenset(".!?…。！？；:：\"'”’」』）)]")
SHORT_LINE_RATIO = 0.6
"""A line narrower than this share of the widest line, not ending in a comma-like mark, ends its
paragraph: it is a heading or a paragraph's last line, not a wrapped one."""
_CONTINUING_MARKS = frozenset(",，、;；-")
_STATEMENT_ENDS = frozenset(".!?…。！？；")
_NUMBERED_HEADING = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,4}\.|[A-Z]\.)\s+\S")
MAX_HEADING_WORDS = 12
"""A line of more words is a statement, even without a full stop."""
MAX_CJK_HEADING_WIDTH = 40
"""A CJK line without sentence punctuation this wide or narrower is a heading."""
_SYMBOL_BULLET = re.compile(r"^[-*•·‣▪]\s+")
_CLAUSE_BREAKS = (", ", "; ", ": ", "，", "；", "：", "、")

_CITATION_AT_END = re.compile(
    rf"\s*[(（]\s*pp?\.\s*(?P<pages>{PAGE_LIST})\s*[)）]\s*(?P<after>[.。]?)\s*$"
)


@dataclass(frozen=True)
class PageSentence:
    """A sentence and the pages it is on: one page, two for a sentence that runs across a page
    break, none for text before the first page marker."""

    text: str
    pages: frozenset[int]


def is_cjk_char(char: str) -> bool:
    """Whether ``char`` is a CJK ideograph, kana or hangul syllable."""
    return bool(_CJK_CHAR.match(char))


def is_heading(sentence: str) -> bool:
    """Whether ``sentence`` is a heading, not a statement: a short line without sentence
    punctuation, in title case ("Risks and Outlook"), capitals, or numbered ("2.1 Scope");
    in CJK, a short line without sentence punctuation."""
    text = sentence.strip()
    if not text or text[-1] in _STATEMENT_ENDS:
        return False
    if any(is_cjk_char(char) for char in text):
        return _width(text) <= MAX_CJK_HEADING_WIDTH
    words = text.split()
    if len(words) > MAX_HEADING_WORDS:
        return False
    if _NUMBERED_HEADING.match(text) or text.isupper():
        return True
    long_words = [word for word in words if len(word) > 3 and word[0].isalpha()]
    capitalized = sum(1 for word in long_words if word[0].isupper())
    return bool(long_words) and capitalized * 2 >= len(long_words) and words[0][0].isupper()


def split_marked_text(marked_text: str) -> list[PageSentence]:
    """Sentences of text holding ``[Page N]`` marker lines, each with the page whose marker
    precedes it. A sentence cut by a page break is joined back and cites both pages."""
    pieces = PAGE_MARKER_RE.split(marked_text)
    sentences = [PageSentence(text, frozenset()) for text in split_sentences(pieces[0])]
    for number, text in zip(pieces[1::2], pieces[2::2]):
        page = frozenset({int(number)})
        on_page = [PageSentence(sentence, page) for sentence in split_sentences(text)]
        if sentences and on_page and _continues(sentences[-1].text, on_page[0].text):
            previous, first = sentences.pop(), on_page[0]
            joined = _join_lines(previous.text, first.text)
            on_page[0] = PageSentence(joined, previous.pages | first.pages)
        sentences.extend(on_page)
    return sentences


def _continues(before: str, after: str) -> bool:
    """Whether ``after`` (a page's first sentence) carries on ``before`` (the last one before)."""
    if before[-1] in _TERMINAL_MARKS or before[-1].isdigit():
        return False
    return after[0].islower() or (is_cjk_char(after[0]) and is_cjk_char(before[-1]))


def split_sentences(text: str) -> list[str]:
    """Cut ``text`` into sentences, whitespace collapsed, in order.

    Blank lines and list items always separate sentences; within a paragraph, CJK text ends
    at 。！？； and Latin text at ``.``, ``!`` or ``?`` followed by a space and a word that does
    not start in lower case, unless the period ends a known abbreviation or an initial.
    """
    sentences: list[str] = []
    for paragraph in _paragraphs(text):
        for sentence in _split_paragraph(paragraph):
            sentences.extend(_split_long(sentence, MAX_SENTENCE_CHARS))
    return sentences


def _paragraphs(text: str) -> list[str]:
    """Paragraphs of ``text``: wrapped lines joined, split at blank lines, short lines and
    before list items."""
    lines = text.splitlines()
    widest = max((_width(line.strip()) for line in lines), default=0)
    paragraphs: list[str] = []
    current = ""
    for raw_line in lines:
        line = _SYMBOL_BULLET.sub("", " ".join(raw_line.split()))
        if not line or _BULLET_LINE.match(raw_line):
            if current:
                paragraphs.append(current)
            current = line
        else:
            current = _join_lines(current, line)
        if (
            current
            and _width(line) < SHORT_LINE_RATIO * widest
            and line[-1] not in _CONTINUING_MARKS
        ):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def _width(line: str) -> int:
    """Display width of ``line``: CJK characters count double."""
    return len(line) + len(_CJK_CHAR.findall(line))


def _join_lines(left: str, right: str) -> str:
    if not left:
        return right
    if is_cjk_char(left[-1]) and is_cjk_char(right[0]):
        return left + right
    return f"{left} {right}"


def _split_paragraph(paragraph: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        end = match.end()
        if not ends_sentence(paragraph, match.start(), end):
            continue
        sentence = paragraph[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = end
    rest = paragraph[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _split_long(sentence: str, limit: int) -> list[str]:
    """Cut ``sentence`` into pieces of at most ``limit`` characters at clause or word breaks."""
    pieces: list[str] = []
    while len(sentence) > limit:
        cut = _cut_position(sentence, limit)
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        pieces.append(sentence)
    return pieces


def _cut_position(text: str, limit: int) -> int:
    window = text[: limit + 1]
    floor = limit // 2
    for breaks in (_CLAUSE_BREAKS, (" ",)):
        best = max(window.rfind(mark) + len(mark.rstrip()) for mark in breaks)
        if best > floor:
            return best
    return limit


def terms(text: str) -> list[str]:
    """The terms that describe ``text``: lowercased words, and character bigrams in CJK runs."""
    found: list[str] = []
    for word in _WORD.findall(text):
        position = 0
        for run in _CJK_RUN.finditer(word):
            if run.start() > position:
                found.append(word[position : run.start()].lower())
            found.extend(_bigrams(run.group()))
            position = run.end()
        if position < len(word):
            found.append(word[position:].lower())
    return [term for term in found if term != "_"]


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def format_citation(pages: Iterable[int]) -> str:
    """A page citation: ``(p. 3)``, ``(pp. 3–5)`` or ``(pp. 3, 7–9)``; empty for no pages."""
    numbers = tuple(sorted(set(pages)))
    return cite_pages(numbers) if numbers else ""


def split_citation(line: str) -> tuple[str, frozenset[int]]:
    """Split a trailing page citation off ``line``: ``"Rent is due (pp. 3–4)."`` gives
    ``("Rent is due.", {3, 4})``. A line without one comes back unchanged, with no pages."""
    match = _CITATION_AT_END.search(line)
    if not match:
        return line.strip(), frozenset()
    text = line[: match.start()].rstrip() + match.group("after")
    return text.strip(), frozenset(parse_pages(match.group("pages")))


def truncate_to_fit(text: str, fits: Callable[[str], bool]) -> str | None:
    """The longest prefix of ``text`` ending at a word boundary (or, in CJK, any character),
    with an ellipsis, that ``fits``; ``None`` when not even one character does."""
    low, high = 1, len(text)
    best: str | None = None
    while low <= high:
        middle = (low + high) // 2
        candidate = text if middle == len(text) else cut_at_boundary(text, middle) + "…"
        if fits(candidate):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def cut_at_boundary(text: str, length: int) -> str:
    """``text`` cut to at most ``length`` characters, back to a word boundary outside CJK."""
    prefix = text[:length]
    if length < len(text) and not is_cjk_char(text[length - 1]) and not text[length].isspace():
        space = prefix.rfind(" ")
        if space > 0:
            prefix = prefix[:space]
    return prefix.rstrip(" ,;:")
