"""A fast, CJK-aware estimate of how many tokens a text costs.

Claude's tokenizer is not public, so budgets use an estimate that errs high: a CJK character is
about one token, Latin text about four characters per token. The estimate counts every non-ASCII
character (CJK, Cyrillic, Thai, curly quotes...) as a whole token and three ASCII characters per
token, so that budgets keep a margin.
"""

from __future__ import annotations

import re

__all__ = ["estimate_tokens", "is_cjk_heavy"]

_CJK = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3200-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0002fa1f]"
)

CHARS_PER_TOKEN = 3.0


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text``: one per non-ASCII character, one per 3 ASCII ones."""
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))
    return len(text) - ascii_chars + int(ascii_chars / CHARS_PER_TOKEN + 0.999)


def is_cjk_heavy(text: str, threshold: float = 0.3) -> bool:
    """Whether at least ``threshold`` of the non-space characters of ``text`` are CJK."""
    sample = "".join(text[:20000].split())
    if not sample:
        return False
    return len(_CJK.findall(sample)) / len(sample) >= threshold
