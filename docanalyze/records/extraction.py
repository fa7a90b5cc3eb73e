"""The map stage of ``docanalyze extract``: every chunk's records, in the schema, each checked.

Each chunk is asked once for its records with structured output (the reply is JSON following
:meth:`RecordSchema.request_schema <docanalyze.records.schema.RecordSchema.request_schema>`).
A reply is a result only when it is whole: a reply cut at ``max_tokens`` is asked again with
twice the room when that fits, else in two halves, as the report's map stage does (a span too
short to cut again fails its chunk, as a request that fails for good does); a reply that
ended off its schema (not JSON, or a record that breaks the user's schema) is asked again with
what was wrong, at most :data:`MAX_INVALID_REASKS` times, then its chunk fails (the run ends
with the other chunks' records, exit 3, and the next run asks only for it). A refused chunk is
recorded as refused. Every record's quote is checked against the pages at once
(:func:`~docanalyze.citations.verify.check_citation`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from docanalyze.citations.locate import PageIndex
from docanalyze.citations.verify import Citation, check_citation
from docanalyze.document import Chunk
from docanalyze.errors import BudgetError, RequestFailed
from docanalyze.events import StageStarted
from docanalyze.models.base import ModelReply, Refusal, schema_tokens
from docanalyze.models.structured import canonical_enums, parsed_json, schema_problems
from docanalyze.prompting.budgets import Budgets
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.records.merge import Found
from docanalyze.records.schema import RecordSchema
from docanalyze.run.context import CostStop, FailedPart, RefusedPart, RunContext, Step
from docanalyze.run.map import span_middle, spans_that_fit

__all__ = [
    "MAX_INVALID_REASKS",
    "ChunkRecords",
    "ExtractPrompt",
    "extract_chunks",
    "extract_prompt",
    "extract_spans",
    "problem_note",
    "schema_values",
    "span_problem",
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


def span_problem(budgets: Budgets, rendered: ExtractPrompt, max_tokens: int) -> str | None:
    """Why ``rendered`` cannot be sent with ``max_tokens`` of output (its span is then asked in
    halves), or None when it can."""
    fits = budgets.fits(rendered.tokens, budgets.output("map", max_tokens))
    return None if fits else "does not fit the window"


def extract_spans(
    renderer: PromptRenderer, schema: RecordSchema, chunk: Chunk, key: tuple[str, ...] = ()
) -> list[ExtractPrompt]:
    """The prompts a run sends first for ``chunk``: one, or those of its halves when it does
    not fit (:func:`span_problem`), before any reply (a cut reply may split it further)."""
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
    index = PageIndex.of(ctx.document.pages)
    extractor = _ChunkExtractor(ctx, schema, key, index)
    outcomes = await asyncio.gather(
        *(extractor.chunk(chunk) for chunk in chunks), return_exceptions=True
    )
    for outcome in outcomes:  # raised once every chunk is done: the others' replies are kept
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcome for outcome in outcomes if isinstance(outcome, ChunkRecords)], bool(
        extractor.cost_stopped
    )


@dataclass
class _ChunkExtractor:
    ctx: RunContext
    schema: RecordSchema
    key: tuple[str, ...]
    index: PageIndex
    cost_stopped: set[int] = field(default_factory=set)
    """The chunks a request of which ``--max-cost`` stopped before it was sent."""

    async def chunk(self, chunk: Chunk) -> ChunkRecords:
        step = Step("map")
        found, requests = await self._span(
            step, chunk, chunk.start, chunk.end, self.ctx.budgets.map_max_tokens, ""
        )
        unanswered = {part.chunk_index for part in self.ctx.refusals} | {
            part.chunk_index for part in self.ctx.failures
        }
        answered = chunk.index not in unanswered | self.cost_stopped
        if answered:
            self.ctx.finish(step)
        return ChunkRecords(chunk, tuple(found), answered, requests)

    async def _span(
        self, step: Step, chunk: Chunk, start: int, end: int, max_tokens: int, problems: str
    ) -> tuple[list[Found], int]:
        ctx, budgets = self.ctx, self.ctx.budgets
        rendered = extract_prompt(ctx.renderer, self.schema, chunk, start, end, self.key)
        prompt = rendered.prompt + problems
        unsendable = span_problem(budgets, rendered, max_tokens)
        if unsendable is not None:
            return await self._halves(step, chunk, start, end, max_tokens, unsendable)
        request = ctx.renderer.stage_request(
            "map",
            prompt,
            max_tokens,
            (rendered.text,),
            template="extract",
            output_schema=self.schema.request_schema(),
        )
        try:
            reply = await ctx.complete(request, step)
        except CostStop:  # not sent: the run ends with what the other requests gave
            self.cost_stopped.add(chunk.index)
            return [], 0
        except RequestFailed as error:
            pages = rendered.first_page, rendered.last_page
            ctx.record_failure(FailedPart("map", str(error), chunk.index, *pages), error)
            return [], 1
        if reply.refused:
            refusal = reply.refusal or Refusal()
            part = RefusedPart("map", rendered.first_page, rendered.last_page, refusal, chunk.index)
            ctx.record_refusal(replace(part, model=reply.model))
            return [], 1
        if reply.truncated:
            ctx.reask(step, "max_tokens")
            larger = max_tokens * 2
            if (
                max_tokens == budgets.map_max_tokens
                and budgets.fits(rendered.tokens, budgets.output("map", larger))
                and budgets.output("map", larger) <= ctx.model.max_output_tokens
            ):
                found, asked = await self._span(step, chunk, start, end, larger, problems)
                return found, asked + 1
            try:
                found, asked = await self._halves(
                    step, chunk, start, end, max_tokens, "was cut at max_tokens"
                )
            except BudgetError as error:  # too short to cut again: the chunk fails, not the run
                pages = rendered.first_page, rendered.last_page
                failed = RequestFailed(str(error), "map")
                ctx.record_failure(FailedPart("map", str(error), chunk.index, *pages), failed)
                return [], 1
            return found, asked + 1
        records, wrong = self._records(reply)
        if not wrong:
            return [self._found(record, chunk) for record in records], 1
        attempts = problems.count(_PROBLEM_NOTE_START)
        if attempts >= MAX_INVALID_REASKS:
            off_schema = RequestFailed(
                f"the replies for chunk {chunk.index + 1} (pages {rendered.first_page}-"
                f"{rendered.last_page}) did not follow the schema {MAX_INVALID_REASKS + 1} "
                f"times: {wrong[0]}",
                "map",
            )
            pages = rendered.first_page, rendered.last_page
            ctx.record_failure(FailedPart("map", str(off_schema), chunk.index, *pages), off_schema)
            return [], 1
        ctx.reask(step, "off-schema")
        note = problems + problem_note(wrong)
        found, asked = await self._span(step, chunk, start, end, max_tokens, note)
        return found, asked + 1

    async def _halves(
        self, step: Step, chunk: Chunk, start: int, end: int, max_tokens: int, reason: str
    ) -> tuple[list[Found], int]:
        middle = span_middle(self.ctx.document, chunk, start, end, reason, max_tokens)
        (first, asked_first), (second, asked_second) = await asyncio.gather(
            self._span(step, chunk, start, middle, max_tokens, ""),
            self._span(step, chunk, middle, end, max_tokens, ""),
        )
        return [*first, *second], asked_first + asked_second

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
