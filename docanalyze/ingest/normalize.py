"""Normalization of one page's extracted text: line ends, soft hyphens, ligatures, CJK wraps.

Every loader passes each page's text through :func:`normalize_page_text`, so the rest of
docanalyze sees the same clean text whether it came from PDFium, pypdf or a text file.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_page_text"]

_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
    }
)

# PDFium marks a hyphen that a line break made with \x02 (get_text_bounded) or \ufffe
# (get_text_range); the marker may or may not be followed by the line break itself.
# U+00AD (soft hyphen) means the same thing in text from other tools.
_SOFT_HYPHEN = re.compile("[\x02\ufffe\u00ad][ \t]*\n?")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_MANY_NEWLINES = re.compile(r"\n{3,}")

_CJK = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\U00020000-\U0003ffff"  # CJK Extensions B and later
)
_CJK_PUNCTUATION = "\u3000-\u303f\uff00-\uff65"  # CJK symbols, fullwidth forms
_CJK_CHAR = f"[{_CJK}{_CJK_PUNCTUATION}]"
_CJK_ANY = re.compile(_CJK_CHAR)
_CJK_LINE_BREAK = re.compile(f"(?<={_CJK_CHAR})\n(?={_CJK_CHAR})")
_SENTENCE_END = frozenset("。！？；：…．｡")
_CLOSING = frozenset("”’」』）》〉】〕")
_FULL_LINE_SHARE = 0.75
"""A line is a wrapped line when at least this share as wide as the widest CJK line."""


def normalize_page_text(text: str) -> str:
    """Clean one page's extracted text for analysis.

    Line ends become ``\\n``; PDFium's soft-hyphen markers are removed so hyphenated words
    rejoin; ligatures (U+FB00-FB06) are spelled out; line wraps inside CJK sentences are joined;
    control characters other than ``\\n`` and ``\\t`` are dropped; trailing spaces are stripped,
    runs of blank lines collapse to one, and the page is stripped. Fullwidth punctuation is kept
    (no NFKC).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x02" in text or "\ufffe" in text or "\u00ad" in text:
        text = _SOFT_HYPHEN.sub("", text)
    text = text.translate(_LIGATURES)
    text = _CONTROL.sub("", text)
    if " \n" in text or "\t\n" in text:  # the pattern is slow to scan for on long prose
        text = _TRAILING_SPACE.sub("", text)
    if _CJK_ANY.search(text):
        text = join_cjk_line_wraps(text)
    if "\n\n\n" in text:
        text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def join_cjk_line_wraps(text: str) -> str:
    """Remove line breaks that wrap a CJK sentence, keeping headings and paragraph breaks.

    A break between two CJK characters is a wrap when the line before it does not end a
    sentence (。！？；： …) and is nearly as wide as the widest CJK line, i.e. it is full.
    A short line, such as a heading or a list item, keeps its break.
    """
    lines = text.split("\n")
    full_width = _FULL_LINE_SHARE * max(
        (_display_width(line) for line in lines if re.search(_CJK_CHAR, line)), default=0
    )
    joined: list[str] = []
    for line in lines:
        if joined and _is_wrap(joined[-1], line, full_width):
            joined[-1] += line
        else:
            joined.append(line)
    return "\n".join(joined)


def _is_wrap(line: str, next_line: str, full_width: float) -> bool:
    if not _CJK_LINE_BREAK.search(f"{line[-1:]}\n{next_line[:1]}"):
        return False
    if _ends_sentence(line):
        return False
    return _display_width(line) >= full_width


def _ends_sentence(line: str) -> bool:
    last = line[-1]
    if last in _CLOSING and len(line) > 1:
        return line[-2] in _SENTENCE_END
    return last in _SENTENCE_END


def _display_width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)
