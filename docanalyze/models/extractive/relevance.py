"""How much a text bears on a question, for the offline analyzer's ``--question`` mode.

A question's key terms are its words (lowercased, a plural ``s`` dropped, function words left
out) and, in CJK text, its character bigrams that hold no function character (的, 是, 什么...).
A text's relevance is the share of those key terms it contains, from 0 to 1; it is relevant
from :data:`MIN_RELEVANCE` on, i.e. when it shares about a third of the question's key terms.
Keyword overlap cannot see paraphrases: it is a fallback for runs without Claude.
"""

from __future__ import annotations

from collections.abc import Sequence

from docanalyze.models.extractive.textunits import is_cjk_char, terms

__all__ = ["MIN_RELEVANCE", "is_relevant", "question_terms", "relevance_scores"]

MIN_RELEVANCE = 0.3
"""A text sharing at least this share of the question's key terms is relevant."""
_STEM_LENGTH = 8


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_FUNCTION_WORDS = _word_set("""
    a an the and or but if of to in on at by for with from into onto about as than then so
    is are was were be been being am do does did doing done have has had having will would
    shall should can could may might must what which who whom whose when where why how whether
    this that these those there here it its they them their we our you your he she his her i me
    my not no any all some each every such other more most much many few very also only just
    please tell say says said give list explain describe document report text page pages part
    """)
_CJK_FUNCTION_CHARACTERS = frozenset("的了是吗呢么什哪些多少如何为怎样谁几否在和与及或有个这那请")


def question_terms(question: str) -> frozenset[str]:
    """The key terms of ``question`` (see the module docstring)."""
    return frozenset(
        _stem(term)
        for term in terms(question)
        if term not in _FUNCTION_WORDS and not _is_function_bigram(term)
    )


def relevance_scores(question: str, texts: Sequence[str]) -> list[float]:
    """For each text, the share of the question's key terms it contains (0 without any)."""
    wanted = question_terms(question)
    if not wanted:
        return [0.0] * len(texts)
    return [len(wanted & _stems(text)) / len(wanted) for text in texts]


def is_relevant(score: float) -> bool:
    """Whether a relevance score means the text bears on the question."""
    return score >= MIN_RELEVANCE


def _stems(text: str) -> frozenset[str]:
    return frozenset(_stem(term) for term in terms(text))


def _stem(term: str) -> str:
    """A crude stem, so that "risks" meets "risk" and "deadlines" meets "deadline"."""
    if is_cjk_char(term[0]):
        return term
    if len(term) > 4 and term.endswith("ies"):
        term = term[:-3] + "y"
    elif len(term) > 3 and term.endswith("s") and not term.endswith("ss"):
        term = term[:-1]
    return term[:_STEM_LENGTH]


def _is_function_bigram(term: str) -> bool:
    return is_cjk_char(term[0]) and any(char in _CJK_FUNCTION_CHARACTERS for char in term)
