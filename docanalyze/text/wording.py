"""The fixed phrases docanalyze itself writes into a report (not the model): the offline
analyzer's title, note and headings, in the report's language.

English and Chinese are translated (in ``wordings.json``); every other language uses the English wording (the quoted
sentences stay in the document's language either way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Wording", "counted", "wording_for"]


@dataclass(frozen=True)
class Wording:
    """The phrases of an offline report in one language. ``title`` takes ``{source}``."""

    title: str
    offline_note: str
    offline_note_question: str
    overview: str
    key_points: str
    no_key_points: str
    question: str
    answer: str
    relevant_passages: str
    not_answered: str
    section: str
    """The heading of a section of a report written in sections; takes ``{pages}``."""


WORDINGS_FILE = Path(__file__).with_name("wordings.json")
"""The translations: one object of :class:`Wording`'s fields per language code."""


@cache
def _wordings() -> dict[str, Wording]:
    table = json.loads(WORDINGS_FILE.read_text(encoding="utf-8"))
    return {code: Wording(**phrases) for code, phrases in table.items()}


def wording_for(language: str | None) -> Wording:
    """The wording for a language code; English for ``None`` and untranslated languages."""
    wordings = _wordings()
    return wordings.get(language or "en", wordings["en"])


def counted(number: int, noun: str) -> str:
    """``number`` and the English ``noun``, plural unless it is one: ``1 page``, ``1,204 pages``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
