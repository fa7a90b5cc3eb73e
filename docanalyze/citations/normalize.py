"""Text normalized for matching a quote against a page, with a map back to the original offsets.

:func:`normalize_for_matching` applies, to the quote and to the page alike:

- Unicode NFKC, so fullwidth and halfwidth forms (``２０２３``, ``，``, ``ｶ``) and ligatures
  (``ﬁ``, ``ﬂ``) read as their plain letters, digits and marks; then case-folding;
- one spelling for quotes and dashes: ``‘ ’ ‚`` and ``“ ” „ « » 「 」 『 』`` become ``'`` and
  ``"``; ``‐ ‑ ‒ – — ―`` and the minus sign become ``-``; ``。`` becomes ``.``, ``、`` ``,``,
  and ``…`` (NFKC) and ``⋯`` become ``...``;
- soft hyphens (and PDFium's hyphen markers) are removed, with the line break after them;
- a hyphen between two letters is removed, with the line break after it if any: ``infor-\\n
  mation`` and ``information`` match, and so do ``well-\\nknown`` and ``well-known`` (a hyphen
  at a line break cannot be told from a hyphenation, so hyphens inside words never count);
- zero-width spaces and joiners, and variation selectors, are removed;
- a run of whitespace becomes one space between two letters or digits of a script written with
  spaces, and is removed everywhere else: between CJK characters (CJK has no word boundaries, and
  PDF extraction often puts spaces or line breaks between them), next to punctuation, and at the
  ends.

The result maps each of its characters back to the original text (:meth:`Normalized.span`), so a
match is reported as the span of the original it came from.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from dataclasses import dataclass

from docanalyze.text.tokens import CJK_CHARACTER

__all__ = ["Normalized", "normalize_for_matching"]

_PUNCTUATION = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u300c\u300d\u300e\u300f", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58", "-"),
        "\u3002": ".",
        "\u3001": ",",
        "\u22ef": "...",
    }
)
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f\u3099\u309a"
_KANA = "\u3041-\u3096\u30a1-\u30fa"
_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff"
_TOKEN = re.compile(
    # a hyphen between two letters, with the line break after it
    r"(?P<hyphen>(?<=[^\W\d_])[-\u2010\u2011](?:[ \t]*\n\s*)?(?=[^\W\d_]))"
    # soft hyphens and PDFium's markers of a hyphen a line break made
    r"|(?P<soft>[\u00ad\x02\ufffe]\s*)"
    r"|(?P<invisible>[\u200b-\u200d\u2060\ufeff\ufe00-\ufe0f]+)"
    # whitespace; a single space between two ASCII letters or digits is left alone, unseen
    r"|(?P<space>\s{2,}|[^ \S]|(?<![A-Za-z0-9]) | (?![A-Za-z0-9]))"
    # an ASCII letter or kana carrying combining marks, or a non-ASCII character with its marks,
    # except the kana and CJK ideographs that normalization leaves as they are
    rf"|(?P<other>[A-Za-z{_KANA}][{_COMBINING}]+|[^\x00-\x7f{_KANA}{_IDEOGRAPHS}][{_COMBINING}]*)"
)


@dataclass(frozen=True)
class Normalized:
    """A text normalized for matching, and where each stretch of it came from in the original.

    The normalized text is made of segments, in order; segment ``k`` starts at ``starts[k]`` in
    :attr:`text` and comes from ``original[sources[k]:source_ends[k]]``. In a segment that is
    ``copied``, each character comes from the original character at the same distance from the
    segment's start; in another segment, every character comes from the whole source span.
    """

    text: str
    starts: tuple[int, ...]
    sources: tuple[int, ...]
    source_ends: tuple[int, ...]
    copied: tuple[bool, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` (not empty) comes from."""
        first = bisect.bisect_right(self.starts, start) - 1
        last = bisect.bisect_right(self.starts, end - 1) - 1
        original_start = self.sources[first]
        if self.copied[first]:
            original_start += start - self.starts[first]
        original_end = self.source_ends[last]
        if self.copied[last]:
            original_end = self.sources[last] + end - self.starts[last]
        return original_start, original_end

    def offset(self, original: int) -> int:
        """The position in :attr:`text` of the first character that comes from at or after
        character ``original`` of the original text (``len(text)`` when none does)."""
        k = bisect.bisect_right(self.source_ends, original)
        if k == len(self.starts):
            return len(self.text)
        if self.copied[k] and self.sources[k] < original:
            return self.starts[k] + original - self.sources[k]
        return self.starts[k]


def normalize_for_matching(text: str) -> Normalized:
    """``text`` normalized for matching (see the module docstring), with its map back."""
    pieces: list[str] = []
    starts: list[int] = []
    sources: list[int] = []
    source_ends: list[int] = []
    copied: list[bool] = []
    length = 0

    def add(piece: str, source: int, source_end: int, same: bool) -> None:
        nonlocal length
        if piece:
            pieces.append(piece)
            starts.append(length)
            sources.append(source)
            source_ends.append(source_end)
            copied.append(same)
            length += len(piece)

    position = 0
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        if start > position:
            add(text[position:start].lower(), position, start, True)
        kind = match.lastgroup
        if kind == "space":
            before = _base_before(text, start)
            after = text[end] if end < len(text) else ""
            if _in_spaced_word(before) and _in_spaced_word(after):
                add(" ", start, end, False)
        elif kind == "other":
            piece = _normalize_character(match.group())
            add(piece, start, end, len(piece) == 1 and end - start == 1)
        position = end
    if position < len(text):
        add(text[position:].lower(), position, len(text), True)
    return Normalized(
        "".join(pieces), tuple(starts), tuple(sources), tuple(source_ends), tuple(copied)
    )


def _base_before(text: str, position: int) -> str:
    """The character before ``position``, skipping combining marks (``""`` at the start)."""
    while position and unicodedata.combining(text[position - 1]):
        position -= 1
    return text[position - 1] if position else ""


@functools.lru_cache(maxsize=8192)
def _normalize_character(character: str) -> str:
    """One character (with its combining marks) normalized: NFKC, case-folded, punctuation
    unified."""
    folded = unicodedata.normalize("NFKC", character).casefold()
    return unicodedata.normalize("NFKC", folded).translate(_PUNCTUATION)


@functools.lru_cache(maxsize=8192)
def _in_spaced_word(character: str) -> bool:
    """Whether ``character`` is a letter or digit of a script that separates words by spaces."""
    if not character:
        return False
    if character.isascii():
        return character.isalnum()
    normalized = _normalize_character(character)
    return normalized.isalnum() and not CJK_CHARACTER.search(normalized)
