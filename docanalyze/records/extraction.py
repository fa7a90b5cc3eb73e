"""The map stage of ``docanalyze extract``: every chunk's records, in the schema, each checked.

Each chunk is asked once for its records with structured output (the reply is JSON following
:meth:`RecordSchema.request_schema <docanalyze.records.schema.RecordSchema.request_schema>`).
A reply is a result only when it is whole: a reply cut at ``max_tokens`` is asked again with
twice the room when that fits, else in two halves, by the code the report's map stage uses
(:class:`~docanalyze.run.spans.ChunkAsker`; a span too short to cut again fails its chunk, as
a request that fails for good does); a reply that ended off its schema (not JSON, or a record
that breaks the user's schema) is asked again with what was wrong, at most
:data:`MAX_INVALID_REASKS` times, then its chunk fails (the run ends with the other chunks'
records, exit 3, and the next run asks only for it). A refused chunk is
recorded as refused. Every record's quote is checked against the pages at once
(:func:`~docanalyze.citations.verify.check_citation`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docanalyze.citations.locate import PageIndex
from docanalyze.citations.verify import Citation, check_citation
from docanalyze.document import Chunk
from docanalyze.errors import RequestFailed
from docanalyze.events import StageStarted
from docanalyze.models.base import ModelReply, ModelRequest, schema_tokens
from docanalyze.models.structured import canonical_enums, parsed_json, schema_problems
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.records.merge import Found
from docanalyze.records.schema import RecordSchema
from docanalyze.run.context import RunContext
from docanalyze.run.spans import AskAgain, ChunkAsker, Span, span_problem, spans_that_fit

__all__ = [
    "MAX_INVALID_REASKS",
    "ChunkRecords",
    "ExtractPrompt",
    "extract_chunks",
    "extract_prompt",
    "extract_request",
    "extract_spans",
    "problem_note",
    "schema_values",
    "user_fields",
]

MAX_INVALID_REASKS = 2
"""How often a reply that ended off its schema is asked again before its chunk fails."""


@dataclass(frozen=True)
class ExtractPrompt:
    """The ``extract.j2`` prompt of a span of the document: its marked text, pages and estimate."""

    text: str
    first_page: int
    last_page: int
    prompt: str
    tokens: int


@dataclass(frozen=True)
class ChunkRecords:
    """The records of one chunk, as its replies gave them, each with its checked citation;
    ``answered``: every span of the chunk was answered (not refused, not failed, not stopped
    by ``--max-cost``); an unanswered chunk keeps the records of its answered spans."""

    chunk: Chunk
    found: tuple[Found, ...]
    answered: bool
    requests: int


def extract_prompt(
    renderer: PromptRenderer,
    schema: RecordSchema,
    chunk: Chunk,
    start: int,
    end: int,
    key: tuple[str, ...] = (),
) -> ExtractPrompt:
    """``extract.j2`` rendered for ``document.text[start:end]`` of ``chunk``, as it is sent."""
    document = renderer.document
    text = document.marked_text(start, end)
    first_page, last_page = document.page_at(start), document.page_at(max(start, end - 1))
    prompt, tokens = renderer.render(
        "extract",
        (),
        text=text,
        index=chunk.index + 1,
        total=chunk.total,
        first_page=first_page,
        last_page=last_page,
        **schema_values(schema, key),
    )
    tokens += schema_tokens(renderer.limits.estimate_tokens, schema.request_schema())
    return ExtractPrompt(text, first_page, last_page, prompt, tokens)


def extract_request(
    renderer: PromptRenderer,
    schema: RecordSchema,
    rendered: ExtractPrompt,
    max_tokens: int,
    note: str = "",
) -> ModelRequest:
    """The map request of ``rendered`` (``note``, what was wrong with earlier replies, added to
    its prompt), its reply in :meth:`RecordSchema.request_schema` (runs and dry runs alike)."""
    return renderer.stage_request(
        "map",
        rendered.prompt + note,
        max_tokens,
        (rendered.text,),
        template="extract",
        output_schema=schema.request_schema(),
    )


def extract_spans(
    renderer: PromptRenderer, schema: RecordSchema, chunk: Chunk, key: tuple[str, ...] = ()
) -> list[ExtractPrompt]:
    """The prompts a run sends first for ``chunk``: one, or those of its halves when it does
    not fit (:func:`~docanalyze.run.spans.span_problem`), before any reply (a cut reply may split it further)."""
    max_tokens = renderer.budgets.map_max_tokens

    def render(start: int, end: int) -> ExtractPrompt:
        return extract_prompt(renderer, schema, chunk, start, end, key)

    def problem(rendered: ExtractPrompt) -> str | None:
        return span_problem(renderer.budgets, rendered, max_tokens)

    return spans_that_fit(renderer.document, chunk, max_tokens, render, problem)


def schema_values(schema: RecordSchema, key: tuple[str, ...]) -> dict[str, object]:
    """What ``extract.j2`` and ``resolve.j2`` know of the schema: its JSON text, its title, its
    fields (name, type, description, required) and the ``--key`` fields."""
    return {
        "schema": json.dumps(schema.schema, ensure_ascii=False, indent=2),
        "schema_title": schema.title,
        "fields": schema.fields,
        "key": list(key),
    }


async def extract_chunks(
    ctx: RunContext, chunks: list[Chunk], schema: RecordSchema, key: tuple[str, ...] = ()
) -> tuple[list[ChunkRecords], bool]:
    """Every chunk's records, concurrently (the model bounds concurrency), in document order,
    and whether ``--max-cost`` stopped any request (its chunk's records are then not all here).

    A refused or failed chunk is recorded in ``ctx.refusals`` / ``ctx.failures``; it, and a
    chunk a request of which ``--max-cost`` stopped, is not ``answered``, and keeps the records
    its other requests gave (the other half of a chunk asked in halves). The caller decides how
    the run ends."""
    ctx.emit(StageStarted("map", len(chunks), label="extract records"))
    stage = _RecordsStage(ctx.renderer, schema, key, PageIndex.of(ctx.document.pages))
    askers = [ChunkAsker(ctx, stage, chunk, cost_stop_ends_run=False) for chunk in chunks]
    outcomes = await asyncio.gather(*(asker.ask() for asker in askers), return_exceptions=True)
    found: list[list[Found]] = []
    for outcome in outcomes:  # raised once every chunk is done: the others' replies are kept
        if isinstance(outcome, BaseException):
            raise outcome
        found.append(outcome)
    records = [
        ChunkRecords(asker.chunk, tuple(each), asker.answered, asker.requests)
        for asker, each in zip(askers, found, strict=True)
    ]
    return records, any(asker.cost_stopped for asker in askers)


@dataclass(frozen=True)
class _RecordsStage:
    """The records' map stage of a span (:class:`~docanalyze.run.spans.SpanStage`): a reply is
    its records, each with its checked citation, once it follows the schema; a reply off the
    schema is asked again with what was wrong, at most :data:`MAX_INVALID_REASKS` times."""

    renderer: PromptRenderer
    schema: RecordSchema
    key: tuple[str, ...]
    index: PageIndex

    def render(self, span: Span) -> ExtractPrompt:
        return extract_prompt(
            self.renderer, self.schema, span.chunk, span.start, span.end, self.key
        )

    def problem(self, rendered: ExtractPrompt, max_tokens: int) -> str | None:
        return span_problem(self.renderer.budgets, rendered, max_tokens)

    def request(self, rendered: ExtractPrompt, max_tokens: int, note: str) -> ModelRequest:
        return extract_request(self.renderer, self.schema, rendered, max_tokens, note)

    def results(
        self, span: Span, rendered: ExtractPrompt, reply: ModelReply, note: str
    ) -> list[Found] | AskAgain | RequestFailed:
        records, wrong = self._records(reply)
        if not wrong:
            return [self._found(record, span.chunk) for record in records]
        if note.count(_PROBLEM_NOTE_START) >= MAX_INVALID_REASKS:
            return RequestFailed(
                f"the replies for chunk {span.chunk.index + 1} (pages {rendered.first_page}-"
                f"{rendered.last_page}) did not follow the schema {MAX_INVALID_REASKS + 1} "
                f"times: {wrong[0]}",
                "map",
            )
        return AskAgain("off-schema", problem_note(wrong))

    def _records(self, reply: ModelReply) -> tuple[list[Mapping[str, Any]], list[str]]:
        """The records of ``reply`` and what is wrong with it (nothing: it is a result)."""
        value = parsed_json(reply.text)
        if value is None:
            return [], ["the reply is not JSON"]
        request_schema = self.schema.request_schema()
        value = canonical_enums(request_schema, value)  # enum values come in any case
        wrong = schema_problems(request_schema, value)
        if wrong:
            return [], wrong
        records: list[Mapping[str, Any]] = value["records"]
        for number, record in enumerate(records):
            fields = user_fields(record)
            wrong += [f"/records/{number}: {problem}" for problem in self.schema.validate(fields)]
        return records, wrong[:3]

    def _found(self, record: Mapping[str, Any], chunk: Chunk) -> Found:
        fields = user_fields(record)
        pages = tuple(page for page in record.get("pages") or () if isinstance(page, int))
        quote = str(record.get("quote") or "").strip() or None
        claim = json.dumps(fields, ensure_ascii=False)
        shown = range(chunk.first_page, chunk.last_page + 1)  # a repeat is the one it read
        check = check_citation(Citation(claim, pages, quote), self.index, near=shown)
        return Found(fields, chunk.index, check)


def user_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The user's fields of a record as the model wrote it: all but ``pages`` and ``quote``."""
    return {name: value for name, value in record.items() if name not in _CITATION_FIELDS}


_CITATION_FIELDS = frozenset({"pages", "quote"})
_PROBLEM_NOTE_START = "\n\nYour previous reply did not follow the schema:"


def problem_note(problems: list[str]) -> str:
    """What is appended to a prompt asked again after a reply off the schema, each time (it
    changes the request, so the store keeps the answers apart)."""
    listed = "\n".join(f"- {problem}" for problem in problems)
    return f"{_PROBLEM_NOTE_START}\n{listed}\nReply again with JSON that follows it."
