"""The planted records a request lets the fake model see, read from its user messages.

Tests and fixtures plant one sentence per record: a marker ``REC-nnnn`` followed by
``name: value`` pairs separated by ``; ``, ending with a period (or ``。``), e.g.
``Record REC-0007 id: OB-7; party: Acme Corp; deadline: 2027-03-01.`` The fake model finds them
in the text of the user messages (text blocks, and the text of documents and search results),
each on the page of the last "[Page N]" marker before it in its message (docanalyze marks pages
that way), if there is one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fakeserver.citable import page_marker_before, sentence_spans
from fakeserver.recording import content_text

__all__ = ["RECORD", "PlantedRecord", "field_key", "planted_records"]

RECORD = re.compile(r"REC-\d{4}")
"""How the tests and fixtures spell a planted record's marker."""
_SEPARATORS = re.compile(r"[\s_-]+")
_CLOSING_QUOTES = "\"'”’」』"
"""Quote marks a quoted record sentence ends with (after its period), left out of its last value."""


def field_key(name: str) -> str:
    """``name`` as a field is matched: case-insensitive, with ``_``, ``-`` and spaces alike."""
    return _SEPARATORS.sub("_", name.strip().lower())


@dataclass(frozen=True)
class PlantedRecord:
    """One planted record: its marker, its ``name: value`` pairs (keyed by :func:`field_key`),
    the whole sentence as written and the page it is on (None without a page marker)."""

    marker: str
    sentence: str
    page: int | None
    values: Mapping[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """The value of the pair whose name matches ``name`` (None when it has none)."""
        return self.values.get(field_key(name))


def planted_records(body: Mapping[str, Any]) -> list[PlantedRecord]:
    """The planted records of ``body``'s user messages in order of appearance; a sentence seen
    twice on the same page (the same text sent twice) counts once."""
    seen: set[tuple[str, int | None]] = set()
    records = []
    for text in _user_texts(body):
        for record in _records_in(text):
            if (record.sentence, record.page) not in seen:
                seen.add((record.sentence, record.page))
                records.append(record)
    return records


def _user_texts(body: Mapping[str, Any]) -> Iterator[str]:
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, Mapping) and message.get("role") == "user":
            yield content_text(message.get("content"))


def _records_in(text: str) -> Iterator[PlantedRecord]:
    for start, end in sentence_spans(text):
        sentence = text[start:end].strip()
        marker = RECORD.search(sentence)
        if marker is None:
            continue
        pairs = sentence[marker.end() :].strip().rstrip(_CLOSING_QUOTES).rstrip(".。")
        yield PlantedRecord(
            marker.group(),
            sentence,
            page_marker_before(text, start),
            dict(_pairs(pairs)),
        )


def _pairs(text: str) -> Iterator[tuple[str, str]]:
    for pair in text.split("; "):
        name, colon, value = pair.partition(":")
        if colon and name.strip():
            yield field_key(name), value.strip()
