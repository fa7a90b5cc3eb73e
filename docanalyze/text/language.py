"""The language a report is written in: detected from the document, or chosen with ``--language``.

Detection is a deliberately simple heuristic over the letters of the text (a sample of at most
:data:`SAMPLE_CHARS` characters, taken from its beginning, middle and end):

1. Count the letters of each script. A CJK character weighs :data:`CJK_WEIGHT` letters, since
   it carries about as much as a short word; the script with the most weight wins.
2. CJK: Hangul outweighing Han and kana is Korean; kana making up at least :data:`KANA_SHARE`
   of Han plus kana is Japanese (Japanese prose is a third or more kana, Chinese has none);
   otherwise Chinese (Simplified and Traditional are not told apart).
3. Cyrillic is Russian; Greek, Arabic, Hebrew and Thai are their main language.
4. Latin text is English unless the function words of French, German or Spanish outnumber the
   English ones (a count over a small list of frequent, unambiguous words).
5. Text without letters is English.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from docanalyze.errors import UsageError

__all__ = [
    "LANGUAGE_NAMES",
    "Language",
    "detect_language",
    "language_for",
    "resolve_language",
]

SAMPLE_CHARS = 60_000
"""Detection reads at most this many characters of a document."""
CJK_WEIGHT = 3
"""How many Latin letters one CJK character counts for when scripts are compared."""
KANA_SHARE = 0.1
"""Kana making up at least this share of Han plus kana marks Japanese."""
DEFAULT_LANGUAGE = "en"

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "zh": "Chinese (简体中文)",
    "ja": "Japanese (日本語)",
    "ko": "Korean (한국어)",
    "ru": "Russian (русский)",
    "fr": "French (français)",
    "de": "German (Deutsch)",
    "es": "Spanish (español)",
    "it": "Italian (italiano)",
    "pt": "Portuguese (português)",
    "nl": "Dutch (Nederlands)",
    "pl": "Polish (polski)",
    "uk": "Ukrainian (українська)",
    "el": "Greek (ελληνικά)",
    "ar": "Arabic (العربية)",
    "he": "Hebrew (עברית)",
    "th": "Thai (ไทย)",
    "vi": "Vietnamese (Tiếng Việt)",
    "tr": "Turkish (Türkçe)",
    "hi": "Hindi (हिन्दी)",
}
"""The languages ``--language`` accepts, by ISO 639-1 code, with the name templates receive."""

_SCRIPTS: dict[str, re.Pattern[str]] = {
    "han": re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]"),
    "kana": re.compile("[\u3041-\u3096\u30a1-\u30fa\u31f0-\u31ff\uff66-\uff9d]"),
    "hangul": re.compile("[\u1100-\u11ff\u3131-\u318e\uac00-\ud7af]"),
    "cyrillic": re.compile("[\u0400-\u04ff]"),
    "greek": re.compile("[\u0370-\u03ff]"),
    "arabic": re.compile("[\u0600-\u06ff]"),
    "hebrew": re.compile("[\u0590-\u05ff]"),
    "thai": re.compile("[\u0e00-\u0e7f]"),
    "latin": re.compile("[A-Za-z\u00c0-\u024f]"),
}
_CJK_SCRIPTS = ("han", "kana", "hangul")
_SCRIPT_LANGUAGE = {
    "cyrillic": "ru",
    "greek": "el",
    "arabic": "ar",
    "hebrew": "he",
    "thai": "th",
    "latin": "en",
}


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": _word_set("the and of to is that with for are this was be on by it which from have has"),
    "fr": _word_set("le les des est une dans pour qui sur pas avec sont du au aux cette et"),
    "de": _word_set("der die das und ist nicht mit den dem ein eine zu von sich auch für"),
    "es": _word_set("el los las del que una por con para es se como más pero sus al y"),
}
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


@dataclass(frozen=True)
class Language:
    """A report language: its ISO 639-1 ``code`` and the ``name`` templates write in."""

    code: str
    name: str


def detect_language(text: str) -> str:
    """The ISO 639-1 code of the main language of ``text`` (see the module docstring)."""
    sample = _sample(text)
    counts = Counter({script: len(pattern.findall(sample)) for script, pattern in _SCRIPTS.items()})
    weights = {
        script: count * (CJK_WEIGHT if script in _CJK_SCRIPTS else 1)
        for script, count in counts.items()
    }
    cjk_weight = sum(weights[script] for script in _CJK_SCRIPTS)
    best_other = max((s for s in weights if s not in _CJK_SCRIPTS), key=weights.__getitem__)
    if cjk_weight == 0 and weights[best_other] == 0:
        return DEFAULT_LANGUAGE
    if cjk_weight > weights[best_other]:
        return _cjk_language(counts)
    if best_other == "latin":
        return _latin_language(sample)
    return _SCRIPT_LANGUAGE[best_other]


def language_for(requested: str) -> Language:
    """The :class:`Language` of a ``--language`` value: a code (``zh``, ``zh-CN``, ``ZH``) or an
    English name (``Chinese``). Raises :class:`UsageError` for a language not in the table."""
    wanted = requested.strip().replace("_", "-").lower()
    code = wanted.split("-")[0]
    if code in LANGUAGE_NAMES:
        return Language(code, LANGUAGE_NAMES[code])
    for candidate, name in LANGUAGE_NAMES.items():
        if name.split(" (")[0].lower() == wanted:
            return Language(candidate, name)
    raise UsageError(
        f"--language {requested}: unknown language; use one of {', '.join(LANGUAGE_NAMES)} "
        "(or leave it out to write in the document's language)"
    )


def resolve_language(requested: str | None, text: str) -> Language:
    """The language of the report: ``requested`` when given, else the one detected in ``text``."""
    if requested:
        return language_for(requested)
    return language_for(detect_language(text))


def _sample(text: str) -> str:
    """At most :data:`SAMPLE_CHARS` characters: the beginning, middle and end of ``text``."""
    if len(text) <= SAMPLE_CHARS:
        return text
    third = SAMPLE_CHARS // 3
    middle = len(text) // 2 - third // 2
    return text[:third] + text[middle : middle + third] + text[-third:]


def _cjk_language(counts: Counter[str]) -> str:
    if counts["hangul"] > counts["han"] + counts["kana"]:
        return "ko"
    if counts["kana"] >= KANA_SHARE * (counts["han"] + counts["kana"]):
        return "ja"
    return "zh"


def _latin_language(sample: str) -> str:
    words = Counter(word.lower() for word in _LATIN_WORD.findall(sample))
    hits = {
        code: sum(words[word] for word in function_words)
        for code, function_words in _FUNCTION_WORDS.items()
    }
    best = max(hits, key=hits.__getitem__)
    return best if hits[best] > hits[DEFAULT_LANGUAGE] else DEFAULT_LANGUAGE
