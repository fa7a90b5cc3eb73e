"""Where a sentence ends: the one rule for the offline analyzer's sentences and a report's claims.

A CJK full stop, question or exclamation mark (or semicolon) always ends a sentence. A Latin
``.``, ``!`` or ``?`` followed by a space ends it unless the next word starts in lower case, or
the period ends a known abbreviation (``Ltd.``, ``Fig.``), an initial (``J.``, ``X.``) or a
dotted word (``e.g.``, ``U.S.``).
"""

from __future__ import annotations

__all__ = ["ends_sentence"]

_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "no",
        "nos",
        "art",
        "arts",
        "sec",
        "secs",
        "fig",
        "figs",
        "vs",
        "etc",
        "cf",
        "p",
        "pp",
        "vol",
        "ch",
        "inc",
        "ltd",
        "co",
        "corp",
        "jr",
        "sr",
        "approx",
        "dept",
        "est",
        "al",
        "ca",
        "para",
        "paras",
        "nr",
        "abs",
        "min",
        "max",
        "op",
        "ed",
        "eds",
        "rev",
        "gen",
        "gov",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    }
)


def ends_sentence(paragraph: str, mark: int, end: int) -> bool:
    """Whether the punctuation at ``mark`` (through ``end``) really ends a sentence."""
    if paragraph[mark] in "。！？；":
        return True
    following = paragraph[end:].lstrip()
    if following and following[0].islower():
        return False
    if paragraph[mark] != ".":
        return True
    word = paragraph[:mark].rsplit(maxsplit=1)[-1] if paragraph[:mark].strip() else ""
    word = word.lstrip("(\"'“‘[")
    if _is_number(word):
        return True  # "rose to 1.4. Capital…"
    if "." in word or (len(word) == 1 and word.isalpha()):
        return False  # "e.g.", "U.S.", initials like "J."
    return word.lower() not in _ABBREVIATIONS


def _is_number(word: str) -> bool:
    """Whether ``word`` is a number such as ``1.4`` or ``2,340`` (its period ends a sentence)."""
    return word.replace(".", "").replace(",", "").isdigit()
