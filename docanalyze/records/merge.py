"""Records of all chunks merged into one list: each seen once, real repeats kept, none dropped.

Each chunk's reply gives records; each record's quote has been checked against the pages (a
:class:`Found`). :func:`merge_records` turns them into the document's records by these rules:

1. **A found record becomes a** :class:`~docanalyze.records.record.Record`: its pages, quote,
   status and span from its checked citation, its chunk in ``chunks``.
2. **Overlap.** Neighbouring chunks share text, so a record there is given twice. Two records
   from different chunks whose quotes were found at overlapping places in the document are one
   record seen twice: with equal fields (compared by :func:`normalized_value`) it is kept once
   (counted in ``overlap_repeats``); worded differently, they are a :class:`Conflict` with
   ``reason="overlap"``, for the model to resolve. Two unsupported records (their quotes were
   not found, so they have no place) from neighbouring chunks with equal fields and equal quotes
   are kept once too. The records one chunk gave are never merged by this rule: that chunk
   listed them as different records (a pair with the largest overlap is joined first).
3. **Real repeats.** Records with equal fields at places that do not overlap are both kept: the
   document says the same thing twice.
4. **Key** (``key`` given): after step 2, records whose every key field has equal (normalized),
   non-empty values describe the same thing. With equal other fields they are merged in code
   (counted in ``key_merges``); otherwise all of them (records merged in code included) are one
   :class:`Conflict` with ``reason="key"``. An overlap conflict whose members all have that key
   joins it. A record missing a key value is never merged by key, nor an unsupported one (its
   quote was found nowhere: merged, its fields would pass for checked ones).
5. **Nothing is dropped.** Every found record ends in exactly one output record (alone or
   merged, see :func:`combine`) or among one conflict's members.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from docanalyze.citations.locate import QUOTE_EDGES
from docanalyze.citations.normalize import normalize_for_matching
from docanalyze.citations.verify import CheckedCitation, Status
from docanalyze.records.record import Record

__all__ = [
    "Conflict",
    "Found",
    "Merged",
    "combine",
    "merge_records",
    "normalized_value",
    "ordered",
    "record_of",
    "same_fields",
]


@dataclass(frozen=True)
class Found:
    """A record as one chunk's reply gave it (the user's ``fields``), after its quote was
    checked (``check``); ``chunk`` is the chunk's index."""

    fields: Mapping[str, Any]
    chunk: int
    check: CheckedCitation


@dataclass(frozen=True)
class Conflict:
    """Records that are one thing worded differently, for the model to resolve into one:
    seen in the overlap of two chunks (``reason="overlap"``, ``key`` None) or sharing the
    ``key`` values (``reason="key"``). ``members`` are in document order."""

    members: tuple[Record, ...]
    reason: Literal["overlap", "key"]
    key: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Merged:
    """What :func:`merge_records` made: the ``records`` settled in code, in document order, the
    ``conflicts`` left to resolve, and how many records were merged by each rule."""

    records: tuple[Record, ...]
    conflicts: tuple[Conflict, ...]
    overlap_repeats: int
    key_merges: int


def record_of(found: Found) -> Record:
    """The record of one found record (rule 1 of the module docstring)."""
    check = found.check
    location = check.location
    return Record(
        fields=dict(found.fields),
        pages=check.pages,
        quotes=(check.quote,) if check.quote else (),
        status=check.status,
        cited_pages=check.cited_pages,
        spans=((location.start, location.end),) if location is not None else (),
        chunks=(found.chunk,),
    )


def normalized_value(value: Any) -> Hashable:
    """``value`` as compared for equality: a string normalized as quotes are matched
    (:func:`~docanalyze.citations.normalize.normalize_for_matching`) without its edge
    punctuation, a list as a tuple and a dict as its sorted items (recursively), anything else
    as it is. The result is hashable."""
    if isinstance(value, str):
        return normalize_for_matching(value).text.strip(QUOTE_EDGES)
    if isinstance(value, (list, tuple)):
        return tuple(normalized_value(item) for item in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(name), normalized_value(item)) for name, item in value.items()))
    hashable: Hashable = value
    return hashable


def _normalized_fields(record: Record, names: Iterable[str]) -> tuple[Hashable, ...]:
    return tuple(normalized_value(record.fields.get(name)) for name in names)


def same_fields(records: Sequence[Record], leave_out: Sequence[str] = ()) -> bool:
    """Whether ``records`` have equal normalized fields (a missing field counts as null)."""
    names = sorted({name for record in records for name in record.fields} - set(leave_out))
    first = _normalized_fields(records[0], names)
    return all(_normalized_fields(record, names) == first for record in records[1:])


def _order_key(record: Record) -> tuple[int, int, int]:
    """Document order: a located record by its first span (on its first page); an unsupported
    one after those of its first cited page, by chunk."""
    if record.spans:
        return (record.pages[0] if record.pages else 0, 0, record.spans[0][0])
    page = record.cited_pages[0] if record.cited_pages else sys.maxsize
    return (page, 1, record.chunks[0] if record.chunks else 0)


def ordered(records: Iterable[Record]) -> tuple[Record, ...]:
    """``records`` in document order (see :func:`_order_key`); equal ones keep their order."""
    return tuple(sorted(records, key=_order_key))


def combine(members: Sequence[Record], fields: Mapping[str, Any], *, resolved: bool) -> Record:
    """One record standing for ``members``, with ``fields``.

    Its pages, chunks and cited pages are those of all members; its quotes and spans those of
    its supported members in document order (a passage found twice is kept once), or the quotes
    of all when none is supported. Its status is unsupported when no member is supported, else
    corrected when a supported member is, else verified. ``resolved``: the fields were merged by
    the model (a member that was is resolved too).
    """
    supported = [member for member in members if member.status != "unsupported"]
    if supported:
        by_span: dict[tuple[int, int], str] = {}
        for member in supported:
            for span, quote in zip(member.spans, member.quotes):
                by_span.setdefault(span, quote)
        spans = tuple(sorted(by_span))
        quotes = tuple(by_span[span] for span in spans)
    else:
        spans = ()
        quotes = tuple(dict.fromkeys(quote for member in members for quote in member.quotes))
    status: Status = "unsupported"
    if supported:
        corrected = any(member.status == "corrected" for member in supported)
        status = "corrected" if corrected else "verified"
    return Record(
        fields=dict(fields),
        pages=tuple(sorted({page for member in members for page in member.pages})),
        quotes=quotes,
        status=status,
        cited_pages=tuple(sorted({page for member in members for page in member.cited_pages})),
        spans=spans,
        chunks=tuple(sorted({chunk for member in members for chunk in member.chunks})),
        document=members[0].document,
        resolved=resolved or any(member.resolved for member in members),
    )


class _Groups:
    """Disjoint groups of records, joined only when no chunk gave records to both."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.parent = list(range(len(records)))
        self.chunks = [set(record.chunks) for record in records]

    def find(self, at: int) -> int:
        while self.parent[at] != at:
            self.parent[at] = self.parent[self.parent[at]]
            at = self.parent[at]
        return at

    def join(self, first: int, second: int) -> None:
        first, second = self.find(first), self.find(second)
        if first != second and not self.chunks[first] & self.chunks[second]:
            self.parent[second] = first
            self.chunks[first] |= self.chunks[second]

    def members(self) -> list[list[int]]:
        """The groups, each in input order, in the order of their first member."""
        groups: dict[int, list[int]] = {}
        for at in range(len(self.parent)):
            groups.setdefault(self.find(at), []).append(at)
        return list(groups.values())


def _overlapping_pairs(records: Sequence[Record]) -> list[tuple[int, int, int]]:
    """``(overlap, i, j)`` for each pair of records, each from a different chunk, whose spans
    overlap, the largest overlap first."""
    located = sorted(
        ((span, at) for at, record in enumerate(records) for span in record.spans),
        key=lambda item: item[0],
    )
    pairs: dict[tuple[int, int], int] = {}
    for position, ((start, end), at) in enumerate(located):
        for (other_start, other_end), other in located[position + 1 :]:
            if other_start >= end:
                break
            if set(records[at].chunks).isdisjoint(records[other].chunks):
                pair = (min(at, other), max(at, other))
                overlap = min(end, other_end) - other_start
                pairs[pair] = max(pairs.get(pair, 0), overlap)
    return sorted((-overlap, i, j) for (i, j), overlap in pairs.items())


def _unsupported_repeats(records: Sequence[Record]) -> list[tuple[int, int]]:
    """Pairs of unsupported records from neighbouring chunks with equal fields and quotes."""
    alike: dict[tuple[Hashable, ...], list[int]] = {}
    for at, record in enumerate(records):
        if not record.spans:
            names = sorted(record.fields)
            signature = (*_normalized_fields(record, names), normalized_value(record.quotes))
            alike.setdefault((tuple(names), *signature), []).append(at)
    pairs = []
    for group in alike.values():
        for position, at in enumerate(group):
            for other in group[position + 1 :]:
                if any(abs(a - b) == 1 for a in records[at].chunks for b in records[other].chunks):
                    pairs.append((at, other))
    return pairs


def _merge_overlaps(records: Sequence[Record]) -> tuple[list[Record], list[Conflict], int]:
    """Rule 2: the records after merging those seen twice, the overlap conflicts, and how many
    records were merged away."""
    pairs = _overlapping_pairs(records)
    same = _Groups(records)
    for _, i, j in pairs:
        if same_fields((records[i], records[j])):
            same.join(i, j)
    for i, j in _unsupported_repeats(records):
        same.join(i, j)
    groups = same.members()
    merged = [
        records[group[0]] if len(group) == 1 else _combined([records[at] for at in group])
        for group in groups
    ]
    repeats = sum(len(group) - 1 for group in groups)
    group_of = {at: position for position, group in enumerate(groups) for at in group}
    differ = _Groups(merged)
    for _, i, j in pairs:
        if group_of[i] != group_of[j]:
            differ.join(group_of[i], group_of[j])
    kept, conflicts = [], []
    for group in differ.members():
        if len(group) == 1:
            kept.append(merged[group[0]])
        else:
            conflicts.append(Conflict(ordered(merged[at] for at in group), "overlap"))
    return kept, conflicts, repeats


def _combined(members: Sequence[Record]) -> Record:
    """Records with equal fields merged in code (the fields of the first in document order)."""
    members = ordered(members)
    return combine(members, members[0].fields, resolved=False)


def _key_of(members: Sequence[Record], key: Sequence[str]) -> tuple[Hashable, ...] | None:
    """The normalized key values the records share, or None (one is empty, or they differ)."""
    values = {_normalized_fields(member, key) for member in members}
    if len(values) != 1:
        return None
    (value,) = values
    return None if any(item in (None, "", ()) for item in value) else value


def _merge_keys(
    records: Sequence[Record], conflicts: Sequence[Conflict], key: Sequence[str]
) -> tuple[list[Record], list[Conflict], int]:
    """Rule 4: records (and overlap conflicts) sharing a key merged in code or made a key
    conflict; also how many records were merged away."""
    units: list[Record | Conflict] = [*records, *conflicts]
    by_key: dict[tuple[Hashable, ...], list[Record | Conflict]] = {}
    kept: list[Record] = []
    left: list[Conflict] = []
    merges = 0
    for unit in units:
        members = _members(unit)
        supported = all(member.status != "unsupported" for member in members)
        value = _key_of(members, key) if supported else None
        if value is None:
            _keep(unit, kept, left)
        else:
            by_key.setdefault(value, []).append(unit)
    for group in by_key.values():
        if len(group) == 1:
            _keep(group[0], kept, left)
            continue
        members = ordered(member for unit in group for member in _members(unit))
        if all(isinstance(unit, Record) for unit in group) and same_fields(members, key):
            kept.append(_combined(members))
            merges += len(members) - 1
        else:
            values = tuple(members[0].fields.get(name) for name in key)
            left.append(Conflict(members, "key", values))
    return kept, left, merges


def _members(unit: Record | Conflict) -> tuple[Record, ...]:
    return unit.members if isinstance(unit, Conflict) else (unit,)


def _keep(unit: Record | Conflict, records: list[Record], conflicts: list[Conflict]) -> None:
    """Put ``unit`` back among the ``records`` or the ``conflicts``, as it was."""
    if isinstance(unit, Conflict):
        conflicts.append(unit)
    else:
        records.append(unit)


def merge_records(found: Sequence[Found], key: Sequence[str] = ()) -> Merged:
    """The records of ``found`` merged across chunks by the rules of the module docstring;
    ``key`` names the fields that identify a record across the whole document."""
    records, conflicts, repeats = _merge_overlaps([record_of(item) for item in found])
    merges = 0
    if key:
        records, conflicts, merges = _merge_keys(records, conflicts, key)
    return Merged(
        records=ordered(records),
        conflicts=tuple(sorted(conflicts, key=lambda conflict: _order_key(conflict.members[0]))),
        overlap_repeats=repeats,
        key_merges=merges,
    )
