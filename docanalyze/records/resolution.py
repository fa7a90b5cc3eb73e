"""Resolving records worded differently that are one thing: with the model, bounded.

A :class:`~docanalyze.records.merge.Conflict` holds records merging in code could not make one
(equal ``--key`` values, or the same passage read twice in an overlap, but fields worded
differently). Each is asked of the model once with ``resolve.j2``: the reply is one record in
the schema (structured output), whose pages, quotes and status are its members'
(:func:`~docanalyze.records.merge.combine`). A conflict too large for one request is resolved
in halves first, then the two results are resolved together: at most ``2n - 1`` requests for
``n`` members, in ``log2(n)`` levels, and no member is left out for want of room. A member set
the model does not resolve (refused, cut twice, off the schema after its re-asks) keeps its
members as they are, with a notice: nothing is dropped. A request that fails for good, or
``--max-cost``, stops its conflict (its members are kept) and ends the run incomplete once the
other conflicts are resolved.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docanalyze.events import Notice, StageStarted
from docanalyze.models.base import schema_tokens
from docanalyze.models.structured import canonical_enums, parsed_json, schema_problems
from docanalyze.records.extraction import MAX_INVALID_REASKS, problem_note, schema_values
from docanalyze.records.merge import Conflict, combine, normalized_value, same_fields
from docanalyze.records.record import Record
from docanalyze.records.schema import RecordSchema
from docanalyze.run.context import CostStop, PartStop, RunContext, Step

__all__ = ["ResolvedRecords", "resolve_conflicts", "resolve_prompt"]


@dataclass(frozen=True)
class ResolvedRecords:
    """What resolving gave: the records (one per resolved conflict, the members of the others)
    and how many conflicts the model resolved and could not."""

    records: tuple[Record, ...]
    resolved: int
    unresolved: int
    stop: CostStop | PartStop | None = None
    """What stopped resolving (``--max-cost``, a request that failed for good); the
    conflicts it stopped keep their members, the others their resolution."""


def resolve_prompt(
    ctx: RunContext, schema: RecordSchema, members: Sequence[Record], key: tuple[str, ...]
) -> tuple[str, int]:
    """``resolve.j2`` rendered for ``members``, and its estimate (with the schema it is sent
    with)."""
    records = [
        _Shown(json.dumps(dict(member.fields), ensure_ascii=False), member.pages, member.quote)
        for member in members
    ]
    prompt, tokens = ctx.renderer.render(
        "resolve", (), records=records, **schema_values(schema, key)
    )
    return prompt, tokens + schema_tokens(
        ctx.renderer.limits.estimate_tokens, schema.record_schema()
    )


async def resolve_conflicts(
    ctx: RunContext, schema: RecordSchema, conflicts: Sequence[Conflict], key: tuple[str, ...]
) -> ResolvedRecords:
    """Every conflict resolved concurrently (see the module docstring). A conflict that
    ``--max-cost`` or a request failing for good stopped keeps its members; the others are
    resolved all the same, and :attr:`ResolvedRecords.stop` says what stopped."""
    if not conflicts:
        return ResolvedRecords((), 0, 0)
    ctx.emit(StageStarted("reduce", len(conflicts), 1, label="resolve records"))
    resolver = _Resolver(ctx, schema, key)
    outcomes = await asyncio.gather(
        *(resolver.conflict(conflict) for conflict in conflicts), return_exceptions=True
    )
    records: list[Record] = []
    stop: CostStop | PartStop | None = None
    for conflict, outcome in zip(conflicts, outcomes):
        if isinstance(outcome, (CostStop, PartStop)):
            stop = stop or outcome
            outcome = tuple(conflict.members)
        elif isinstance(outcome, BaseException):
            raise outcome
        records += outcome
    unresolved = sum(not isinstance(outcome, tuple) or len(outcome) > 1 for outcome in outcomes)
    return ResolvedRecords(tuple(records), len(conflicts) - unresolved, unresolved, stop)


@dataclass(frozen=True)
class _Shown:
    """A member as ``resolve.j2`` shows it."""

    fields: str
    pages: tuple[int, ...]
    quote: str


@dataclass
class _Resolver:
    ctx: RunContext
    schema: RecordSchema
    key: tuple[str, ...]

    async def conflict(self, conflict: Conflict) -> tuple[Record, ...]:
        step = Step("reduce", 1)
        merged = await self._members(step, conflict.members)
        self.ctx.finish(step)
        return merged

    async def _members(self, step: Step, members: Sequence[Record]) -> tuple[Record, ...]:
        """One record for ``members``, or the members themselves when that failed. A lone
        record needs nothing; records already alike are one in code (no request)."""
        if len(members) == 1:
            return tuple(members)
        if same_fields(members):
            return (combine(members, members[0].fields, resolved=False),)
        prompt, tokens = resolve_prompt(self.ctx, self.schema, members, self.key)
        budgets = self.ctx.budgets
        max_tokens = budgets.reduce_max_tokens
        if not budgets.fits(tokens, budgets.output("reduce", max_tokens)):
            if len(members) == 2:
                self._unresolved(
                    f"two records of {self.schema.title!r} do not fit one request to be merged "
                    f"({tokens:,} tokens; raise --context-window to merge them)"
                )
                return tuple(members)
            middle = len(members) // 2
            halves = await asyncio.gather(
                self._members(step, members[:middle]), self._members(step, members[middle:])
            )
            if len(halves[0]) != 1 or len(halves[1]) != 1:
                return (*halves[0], *halves[1])
            return await self._members(step, (*halves[0], *halves[1]))
        fields = await self._ask(step, prompt, max_tokens, members)
        if fields is None:
            return tuple(members)
        return (combine(members, fields, resolved=True),)

    async def _ask(
        self, step: Step, prompt: str, max_tokens: int, members: Sequence[Record]
    ) -> Mapping[str, Any] | None:
        """The record the model wrote for ``prompt``; None when it gave none that follows the
        schema and takes every value from ``members`` (:func:`_unfaithful`): refused, cut with
        twice the room too, or off after :data:`MAX_INVALID_REASKS` re-asks."""
        ctx, schema = self.ctx, self.schema.record_schema()
        note, invalid, widened = "", 0, False
        while True:
            request = ctx.renderer.stage_request(
                "reduce",
                prompt + note,
                max_tokens,
                (),
                template="resolve",
                output_schema=schema,
            )
            reply = await ctx.complete(request, step)  # one that fails for good stops it
            if reply.refused:
                self._unresolved(f"{reply.model} refused it")
                return None
            if reply.truncated:
                if widened or max_tokens * 2 > ctx.model.max_output_tokens:
                    self._unresolved("the reply was cut at max_tokens")
                    return None
                ctx.reask(step, "max_tokens")
                max_tokens, widened = max_tokens * 2, True
                continue
            value = canonical_enums(schema, parsed_json(reply.text))
            invented: list[str] = []
            if not isinstance(value, dict):
                wrong = ["the reply is not a JSON object"]
            else:
                wrong = schema_problems(schema, value) or self.schema.validate(value)
                invented = [] if wrong else _unfaithful(value, members, self.key)
                wrong = wrong or invented
            if not wrong and isinstance(value, dict):
                return _members_values(value, members)
            if invalid == MAX_INVALID_REASKS:
                why = "values none of the records has" if invented else "JSON off the schema"
                self._unresolved(f"its replies gave {why}")
                return None
            invalid += 1
            ctx.reask(step, "off-schema")
            note += problem_note(wrong)

    def _unresolved(self, why: str) -> None:
        """Say why records were kept apart."""
        self.ctx.emit(Notice(f"records worded differently were kept apart, not merged: {why}"))


def _unfaithful(
    fields: Mapping[str, Any], members: Sequence[Record], key: Sequence[str]
) -> list[str]:
    """What in a resolved record no member says (none: each field's value is one of the
    members', the key fields' the value they share): its values are the members' checked ones,
    so the record may carry their quotes."""
    wrong = []
    for name, value in fields.items():
        said = {normalized_value(member.fields.get(name)) for member in members}
        if normalized_value(value) not in said:
            shared = " (the key the records share)" if name in key else ""
            wrong.append(f"/{name}: {value!r} is not the value of any of the records{shared}")
    return wrong[:3]


def _members_values(fields: Mapping[str, Any], members: Sequence[Record]) -> dict[str, Any]:
    """``fields`` (faithful: :func:`_unfaithful` found nothing) with each value written as the
    first member that has it writes it, so that a merged record holds only checked text (not
    ``ob-1`` for ``OB-1``, nor ``resign`` for ``re-sign``)."""
    written = {}
    for name, value in fields.items():
        wanted = normalized_value(value)
        written[name] = next(
            (
                member.fields.get(name)
                for member in members
                if normalized_value(member.fields.get(name)) == wanted
            ),
            value,
        )
    return written
