"""A fast, CJK-aware estimate of how many tokens a text costs.

Claude's tokenizer is not public, so budgets use an estimate shaped like a subword tokenizer and
calibrated to err a little high:

- a run of ASCII letters and digits (a word, a number) costs half a token to start plus a quarter
  of a token per character: "the" is 1.25, "committee" 2.75;
- every other character that is not ASCII whitespace costs one token: ASCII punctuation, CJK
  characters and punctuation, accented letters, emoji, and non-ASCII spaces such as U+3000;
- ASCII whitespace is free (a tokenizer folds it into the next word).

On English prose this is about 4-13% above the fake server's tokenizer
(:mod:`fakeserver.tokenizer`, one token per started four letters of a word, one per
other character), and on Chinese prose about equal to it; both count one token per CJK
character. Budgets keep a further safety margin (:mod:`docanalyze.prompting.budgets`), and the Claude client
corrects its rate-limit debits from the usage the API reports.
"""

from __future__ import annotations

import functools
import math
import re
import string

__all__ = [
    "CJK_CHARACTER",
    "count_cjk",
    "estimate_for_tokenizer",
    "estimate_tokens",
    "is_cjk_heavy",
]

CJK_CHARACTER = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3200-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0002fa1f]"
)
"""One CJK character: an ideograph, kana, hangul, or a CJK or fullwidth punctuation mark."""
_FREE_OR_WORD = re.compile(r"[A-Za-z0-9 \t\n\r\f\v]+")
_WORD_BYTES = frozenset((string.ascii_letters + string.digits).encode())
_MARK_WORD_BYTES = bytes(ord("a") if byte in _WORD_BYTES else ord(" ") for byte in range(256))
"""Maps each ASCII letter or digit byte to ``a`` and every other byte to a space. In UTF-8 no
byte of a non-ASCII character is an ASCII byte, so the marks of a text's encoding have one
``a`` per word character, and the runs of ``a`` are its words."""

TOKENS_PER_WORD = 0.5
"""What starting a run of ASCII letters and digits costs."""
TOKENS_PER_WORD_CHARACTER = 0.25
"""What each ASCII letter or digit costs on top."""


@functools.lru_cache(maxsize=64)
def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (see the module docstring); at least 1 unless empty.

    The last 64 answers are remembered: a prompt is estimated for its budget and again, moments
    later, for the rate limiter and the cost; only the first time costs anything. (A small
    cache: it holds the prompts themselves.)
    """
    if not text:
        return 0
    marks = text.encode("utf-8", "surrogatepass").translate(_MARK_WORD_BYTES)
    words = len(marks.split())
    word_characters = marks.count(b"a")
    others = len(_FREE_OR_WORD.sub("", text))
    word_tokens = words * TOKENS_PER_WORD + word_characters * TOKENS_PER_WORD_CHARACTER
    return max(1, math.ceil(word_tokens) + others)


@functools.lru_cache(maxsize=64)
def count_cjk(text: str) -> int:
    """How many CJK characters (and CJK or fullwidth punctuation marks) ``text`` has."""
    return len(text) - len(CJK_CHARACTER.sub("", text))


def estimate_for_tokenizer(text: str, ratio: float) -> int:
    """The estimate of ``text`` for a tokenizer that counts ``ratio`` times the earlier
    tokenizer's tokens, except on CJK characters, which it counts the same.

    That is the newer tokenizer of Claude Opus 4.7 and later (ratio 1.3): Anthropic gives
    "roughly 1.0-1.35x depending on the content type", and published measurements put Chinese
    near 1.0. With a key, a run fits this estimate to ``count_tokens`` as well.
    """
    raw = estimate_tokens(text)
    if ratio == 1.0 or not raw:
        return raw
    cjk = min(raw, count_cjk(text))
    return cjk + math.ceil((raw - cjk) * ratio)


def is_cjk_heavy(text: str, threshold: float = 0.3) -> bool:
    """Whether at least ``threshold`` of the non-space characters of ``text`` are CJK."""
    sample = "".join(text[:20000].split())
    if not sample:
        return False
    return len(CJK_CHARACTER.findall(sample)) / len(sample) >= threshold
