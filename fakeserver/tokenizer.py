"""The fake server's tokenizer: a deterministic stand-in for Claude's (which is not public).

Rules, applied left to right over the text:

- each CJK character (Han, kana, hangul, CJK and fullwidth punctuation) is one token;
- each run of ASCII letters and digits is ``ceil(len(run) / 4)`` tokens;
- every other non-whitespace character (punctuation, accented letters, emoji, ...) is one token;
- whitespace (anything ``str.isspace`` accepts, including the ideographic space U+3000) is free.

CJK and "other" characters cost the same; they are listed apart because that is the contract the
client's estimator (:mod:`docanalyze.text.tokens`) is checked against. The rules are simple enough that
a text can be cut at an exact token boundary, which is how the server honours ``max_tokens`` and
splits a reply into stream deltas.
"""

from __future__ import annotations

import functools
import re
from itertools import islice

__all__ = [
    "count_cjk_tokens",
    "count_tokens",
    "split_into_chunks",
    "token_pieces",
    "truncate_to_tokens",
]

ASCII_CHARS_PER_TOKEN = 4

# A piece of up to four ASCII letters/digits: a run of n of them costs ceil(n / 4) tokens.
_ASCII_ALNUM_PIECE = re.compile(rf"[A-Za-z0-9]{{1,{ASCII_CHARS_PER_TOKEN}}}")
# Whitespace or an ASCII letter/digit: what remains after removing these costs one token a char.
_FREE_OR_ALNUM = re.compile(r"[A-Za-z0-9\s]+")
# One token with the whitespace before it: a slice of up to four ASCII letters/digits, or any
# other single non-whitespace character.
_PIECE = re.compile(rf"\s*(?:[A-Za-z0-9]{{1,{ASCII_CHARS_PER_TOKEN}}}|[^A-Za-z0-9\s])")


# Han, kana, hangul, CJK and fullwidth punctuation (each one token).
_CJK = re.compile(
    "[\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3200-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0002fa1f]"
)


@functools.lru_cache(maxsize=256)
def count_cjk_tokens(text: str) -> int:
    """How many of the tokens of ``text`` are CJK characters (one token each)."""
    return len(text) - len(_CJK.sub("", text))


@functools.lru_cache(maxsize=256)
def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` under the rules in this module's docstring.

    A request's texts are counted several times (its size, its cacheable prefixes), so the last
    answers are remembered.
    """
    alnum_tokens = len(_ASCII_ALNUM_PIECE.findall(text))
    other_tokens = len(_FREE_OR_ALNUM.sub("", text))
    return alnum_tokens + other_tokens


def token_pieces(text: str) -> list[str]:
    """``text`` cut into one piece per token; joining the pieces gives back ``text`` exactly.

    Each piece is one token with the whitespace that precedes it; whitespace at the very end of
    the text is attached to the last piece.
    """
    pieces = _PIECE.findall(text)
    consumed = sum(len(piece) for piece in pieces)
    if consumed < len(text):  # only trailing whitespace is left
        tail = text[consumed:]
        if pieces:
            pieces[-1] += tail
        else:
            pieces.append(tail)
    return pieces


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` of at most ``max_tokens`` tokens, without trailing space."""
    if max_tokens <= 0:
        return ""
    kept = [match.group() for match in islice(_PIECE.finditer(text), max_tokens + 1)]
    if len(kept) <= max_tokens:
        return text
    return "".join(kept[:max_tokens])


def split_into_chunks(text: str, tokens_per_chunk: int) -> list[str]:
    """``text`` cut into chunks of ``tokens_per_chunk`` tokens each (the last may be shorter).

    Joining the chunks gives back ``text``. An empty text gives no chunks.
    """
    if tokens_per_chunk < 1:
        raise ValueError(f"tokens_per_chunk must be at least 1, got {tokens_per_chunk}")
    pieces = token_pieces(text)
    return [
        "".join(pieces[start : start + tokens_per_chunk])
        for start in range(0, len(pieces), tokens_per_chunk)
    ]
