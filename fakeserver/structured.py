"""The fake model's answers to structured requests, and the record errors it makes on demand.

A request with ``output_config.format`` (structured outputs, JSON outputs:
https://platform.claude.com/docs/en/build-with-claude/structured-outputs) is answered with one
text block holding JSON that follows the schema ("Valid JSON matching your schema in the
response's text content block"), filled from the planted records the request's user messages
show (:mod:`fakeserver.planted_records`, :mod:`fakeserver.schema_fill`). The reply is cut at
``max_tokens`` like any other (the JSON is then incomplete, as the docs warn), and a scripted
reply (e.g. a refusal) still comes first. Requests without a format go to ``plain``.

:class:`RecordErrors` make the model err, deterministically for a seed, in ways the JSON still
follows the schema (constrained decoding allows no other error, apart from the two the docs
name: a refusal and a cut reply, which tests script): one paged record in ``wrong_page_every``
gets a wrong page, one reply in ``invent_every`` holds an invented record (``REC-9nnn``, its
string fields saying INVENTED) whose quote is found nowhere, and one string ``enum`` value in
``enum_case_every`` comes back in another capitalization (the docs: "Structured outputs don't
guarantee the capitalization of string enum and const values", typically "the first letter of
a word following a space"). :attr:`StructuredResponder.errors_made` lists every error made.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from fakeserver.planted_records import RECORD, PlantedRecord, planted_records
from fakeserver.recording import RecordedRequest
from fakeserver.replies import Responder, ScriptedReply, echo_responder
from fakeserver.schema_fill import fill_answer
from fakeserver.structured_rules import output_format

__all__ = ["RecordError", "RecordErrors", "StructuredResponder"]

INVENTED_RECORD_BASE = 9000


@dataclass(frozen=True)
class RecordErrors:
    """How often the fake model errs in structured answers (0: never), and the seed that
    places the errors."""

    wrong_page_every: int = 0
    """One record with a page in this many is given a wrong page."""
    invent_every: int = 0
    """One structured reply in this many holds an invented record, quoted from nowhere."""
    enum_case_every: int = 0
    """One string enum value in this many comes back in another capitalization."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("wrong_page_every", "invent_every", "enum_case_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (never) or more, got {getattr(self, name)}")


@dataclass(frozen=True)
class RecordError:
    """One error the fake model made: ``kind`` "wrong_page", "invented" or "enum_case", in the
    reply to the request ``request_id`` (and ``custom_id`` in a batch), on the record
    ``marker``; ``written`` is what it wrote (the page, the quote, the enum value) and
    ``truth`` what was right (None for an invented record)."""

    kind: str
    request_id: str
    marker: str
    written: object
    truth: object = None
    custom_id: str | None = None


class _InventedValues(Mapping[str, str]):
    """Every field of an invented record says so."""

    def __init__(self, marker: str) -> None:
        self.text = f"INVENTED {marker}"

    def __getitem__(self, key: str) -> str:
        return self.text

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class StructuredResponder:
    """A responder for structured requests (see the module docstring); thread-safe."""

    def __init__(
        self, errors: RecordErrors | None = None, *, plain: Responder = echo_responder
    ) -> None:
        self.errors = errors or RecordErrors()
        self.plain = plain
        self._lock = threading.Lock()
        seeded = random.Random(self.errors.seed)
        self._phases = {
            name: seeded.randrange(max(1, getattr(self.errors, f"{name}_every")))
            for name in ("wrong_page", "invent", "enum_case")
        }
        self._random = seeded
        self._counts = dict.fromkeys(self._phases, 0)
        self._errors_made: list[RecordError] = []

    @property
    def errors_made(self) -> list[RecordError]:
        """A copy of every error made so far, oldest first."""
        with self._lock:
            return list(self._errors_made)

    def __call__(self, request: RecordedRequest) -> str | ScriptedReply:
        found = output_format(request.body)
        if found is None:
            return self.plain(request)
        schema = found[1]["schema"]
        with self._lock:
            records = [self._paged(record, request) for record in planted_records(request.body)]
            invented = self._invented(records, request)
            if invented is not None:
                records.insert(self._random.randint(0, len(records)), invented)
            answer = fill_answer(schema, records)
            if self.errors.enum_case_every:
                answer = self._recased(answer, _string_enums(schema), request)
        return json.dumps(answer, ensure_ascii=False)

    def _due(self, name: str) -> bool:
        """Whether this occasion of ``name`` is the one in N that errs."""
        every: int = getattr(self.errors, f"{name}_every")
        if not every:
            return False
        self._counts[name] += 1
        return (self._counts[name] - 1) % every == self._phases[name]

    def _paged(self, record: PlantedRecord, request: RecordedRequest) -> PlantedRecord:
        if record.page is None or not self._due("wrong_page"):
            return record
        page = record.page + self._random.randint(1, 3)
        self._record("wrong_page", request, record.marker, page, record.page)
        return replace(record, page=page)

    def _invented(
        self, records: list[PlantedRecord], request: RecordedRequest
    ) -> PlantedRecord | None:
        if not self._due("invent"):
            return None
        invented = sum(error.kind == "invented" for error in self._errors_made)
        marker = f"REC-{INVENTED_RECORD_BASE + invented + 1}"
        sentence = f"Record {marker} (INVENTED) a committee that never met approved it."
        page = next((r.page for r in reversed(records) if r.page is not None), None)
        self._record("invented", request, marker, sentence, None)
        return PlantedRecord(marker, sentence, page, _InventedValues(marker))

    def _recased(
        self, value: Any, enums: frozenset[str], request: RecordedRequest, marker: str = ""
    ) -> Any:
        """``value`` with one string enum value in N recased (the answer's items in order);
        ``marker`` is the record the value belongs to (read from the item's quote)."""
        if isinstance(value, dict):
            texts = [item for item in value.values() if isinstance(item, str)]
            marker = next((m.group() for t in texts if (m := RECORD.search(t))), marker)
            return {k: self._recased(item, enums, request, marker) for k, item in value.items()}
        if isinstance(value, list):
            return [self._recased(item, enums, request, marker) for item in value]
        recased = _recase(value) if isinstance(value, str) and value in enums else value
        if recased != value and self._due("enum_case"):
            self._record("enum_case", request, marker, recased, value)
            return recased
        return value

    def _record(
        self, kind: str, request: RecordedRequest, marker: str, written: object, truth: object
    ) -> None:
        error = RecordError(kind, request.request_id, marker, written, truth, request.custom_id)
        self._errors_made.append(error)


def _recase(value: str) -> str:
    """``value`` with the first letter of its second word (else of itself) swapped in case."""
    at = value.find(" ") + 1
    if at == 0 or at >= len(value):
        at = 0
    return value[:at] + value[at : at + 1].swapcase() + value[at + 1 :]


def _string_enums(node: object) -> frozenset[str]:
    """Every string value of an ``enum`` or ``const`` in the schema ``node``."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            enum = item.get("enum")
            values = enum if isinstance(enum, list) else []
            found.update(v for v in [*values, item.get("const")] if isinstance(v, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return frozenset(found)
