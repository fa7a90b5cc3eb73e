"""Records of all chunks merged: overlap repeats once, real repeats kept, keys merged, none dropped."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from docanalyze.citations.locate import Location
from docanalyze.citations.verify import CheckedCitation, Status
from docanalyze.records.merge import (
    Found,
    Merged,
    combine,
    merge_records,
    normalized_value,
    ordered,
    record_of,
)

OBLIGATION = {"id": "OB-7", "party": "Acme Corp", "action": "deliver the audit report"}


def found(
    fields: dict[str, Any],
    chunk: int,
    span: tuple[int, int] | None,
    page: int = 1,
    quote: str = "Acme Corp shall deliver the audit report",
    status: Status = "verified",
    cited: tuple[int, ...] | None = None,
) -> Found:
    """A record of chunk ``chunk`` whose quote was found at ``span`` (None: unsupported)."""
    cited_pages = (page,) if cited is None else cited
    if span is None:
        check = CheckedCitation("", (), quote, "unsupported", cited_pages, None)
    else:
        location = Location((page,), span[0], span[1], quote)
        check = CheckedCitation("", (page,), quote, status, cited_pages, location)
    return Found(fields, chunk, check)


def test_a_record_in_the_overlap_of_two_chunks_is_kept_once() -> None:
    first = found(OBLIGATION, chunk=0, span=(1000, 1040), page=3)
    second = found({**OBLIGATION, "party": "ACME  corp."}, chunk=1, span=(1000, 1040), page=3)
    merged = merge_records([first, second])
    assert merged.overlap_repeats == 1
    assert not merged.conflicts
    (record,) = merged.records
    assert record.fields == OBLIGATION
    assert record.chunks == (0, 1)
    assert record.pages == (3,)
    assert record.quotes == ("Acme Corp shall deliver the audit report",)
    assert record.spans == ((1000, 1040),)
    assert record.status == "verified"
    assert not record.resolved


def test_spans_that_only_overlap_count_as_the_same_place() -> None:
    first = found(OBLIGATION, chunk=0, span=(1000, 1040))
    second = found(OBLIGATION, chunk=1, span=(1020, 1060), quote="deliver the audit report.")
    (record,) = merge_records([first, second]).records
    assert record.spans == ((1000, 1040), (1020, 1060))
    assert len(record.quotes) == 2


def test_a_record_in_the_overlap_worded_differently_is_a_conflict() -> None:
    first = found(OBLIGATION, chunk=0, span=(1000, 1040))
    second = found({**OBLIGATION, "action": "deliver the audit"}, chunk=1, span=(1005, 1040))
    merged = merge_records([first, second])
    assert not merged.records
    (conflict,) = merged.conflicts
    assert conflict.reason == "overlap"
    assert conflict.key is None
    assert [member.chunks for member in conflict.members] == [(0,), (1,)]


def test_two_records_of_one_chunk_at_one_place_are_kept_as_the_chunk_gave_them() -> None:
    one = found(OBLIGATION, chunk=0, span=(1000, 1040))
    other = found({**OBLIGATION, "id": "OB-8"}, chunk=0, span=(1000, 1040))
    merged = merge_records([one, other])
    assert len(merged.records) == 2
    assert not merged.conflicts


def test_two_records_of_one_sentence_seen_by_two_chunks_pair_up() -> None:
    both = [
        found(OBLIGATION, 0, (1000, 1060)),
        found({**OBLIGATION, "id": "OB-8"}, 0, (1000, 1060)),
        found({**OBLIGATION, "id": "OB-8"}, 1, (1000, 1060)),
        found(OBLIGATION, 1, (1000, 1060)),
    ]
    merged = merge_records(both)
    assert not merged.conflicts
    assert sorted(record.fields["id"] for record in merged.records) == ["OB-7", "OB-8"]
    assert all(record.chunks == (0, 1) for record in merged.records)
    assert merged.overlap_repeats == 2


def test_verbatim_repeats_on_two_pages_are_both_kept() -> None:
    first = found(OBLIGATION, chunk=0, span=(1000, 1040), page=3)
    second = found(OBLIGATION, chunk=1, span=(9000, 9040), page=12)
    merged = merge_records([second, first])
    assert [record.pages for record in merged.records] == [(3,), (12,)]
    assert merged.overlap_repeats == 0


def test_unsupported_duplicates_in_neighbouring_chunks_are_kept_once() -> None:
    first = found(OBLIGATION, chunk=2, span=None, cited=(5,))
    second = found(OBLIGATION, chunk=3, span=None, cited=(6,))
    far = found(OBLIGATION, chunk=7, span=None, cited=(20,))
    merged = merge_records([first, second, far])
    assert [record.chunks for record in merged.records] == [(2, 3), (7,)]
    assert merged.records[0].status == "unsupported"
    assert merged.records[0].cited_pages == (5, 6)
    assert merged.records[0].quotes == ("Acme Corp shall deliver the audit report",)
    assert merged.overlap_repeats == 1


def test_unsupported_records_with_different_quotes_are_both_kept() -> None:
    first = found(OBLIGATION, chunk=2, span=None)
    second = found(OBLIGATION, chunk=3, span=None, quote="something else entirely here")
    assert len(merge_records([first, second]).records) == 2


def test_a_key_merges_records_in_code_and_keeps_every_page() -> None:
    first = found(OBLIGATION, chunk=0, span=(1000, 1040), page=3)
    second = found({**OBLIGATION, "party": "acme corp"}, chunk=4, span=(9000, 9040), page=12)
    third = found(OBLIGATION, chunk=6, span=(15000, 15040), page=20, status="corrected")
    merged = merge_records([third, first, second], key=["id"])
    assert merged.key_merges == 2
    (record,) = merged.records
    assert record.pages == (3, 12, 20)
    assert record.spans == ((1000, 1040), (9000, 9040), (15000, 15040))
    assert record.chunks == (0, 4, 6)
    assert record.status == "corrected"
    assert record.fields == OBLIGATION  # the first in document order


def test_records_sharing_a_key_worded_differently_are_one_conflict() -> None:
    first = found(OBLIGATION, 0, (1000, 1040), page=3)
    repeat = found(OBLIGATION, 2, (5000, 5040), page=7)
    other = found({**OBLIGATION, "action": "send the audit report"}, 4, (9000, 9040), page=12)
    merged = merge_records([first, repeat, other], key=["id"])
    assert not merged.records
    (conflict,) = merged.conflicts
    assert conflict.reason == "key"
    assert conflict.key == ("OB-7",)
    assert [member.pages for member in conflict.members] == [(3,), (7,), (12,)]
    assert merged.key_merges == 0


def test_an_overlap_conflict_joins_the_records_of_its_key() -> None:
    first = found(OBLIGATION, 0, (1000, 1040))
    second = found({**OBLIGATION, "action": "deliver the audit"}, 1, (1000, 1040))
    later = found(OBLIGATION, 5, (9000, 9040), page=9)
    merged = merge_records([first, second, later], key=["id"])
    assert not merged.records
    (conflict,) = merged.conflicts
    assert conflict.reason == "key"
    assert len(conflict.members) == 3


@pytest.mark.parametrize("missing", [None, "", "  ", []])
def test_a_record_missing_its_key_is_never_merged_by_key(missing: Any) -> None:
    records = [
        found({**OBLIGATION, "id": missing}, 0, (1000, 1040)),
        found({**OBLIGATION, "id": missing}, 3, (9000, 9040)),
    ]
    merged = merge_records(records, key=["id"])
    assert len(merged.records) == 2
    assert merged.key_merges == 0


def test_combine_leaves_out_the_quotes_of_unsupported_members() -> None:
    supported = record_of(found(OBLIGATION, 0, (10, 50), page=1, status="corrected"))
    unsupported = record_of(found(OBLIGATION, 3, None, quote="not in the text", cited=(9,)))
    record = combine([unsupported, supported], {"id": "x"}, resolved=True)
    assert record.quotes == supported.quotes
    assert record.cited_pages == (1, 9)
    assert record.chunks == (0, 3)
    assert record.status == "corrected"
    assert record.resolved
    assert record.fields == {"id": "x"}


def test_ordered_puts_unsupported_records_after_the_located_ones_of_their_page() -> None:
    late = record_of(found(OBLIGATION, 2, (900, 940), page=4))
    early = record_of(found(OBLIGATION, 0, (100, 140), page=1))
    unsupported = record_of(found(OBLIGATION, 1, None, cited=(1,)))
    nowhere = record_of(found(OBLIGATION, 0, None, cited=()))
    assert ordered([nowhere, late, unsupported, early]) == (early, unsupported, late, nowhere)


def test_normalized_values_compare_as_quotes_do() -> None:
    assert normalized_value(" “Acme  Corp.” ") == normalized_value("acme corp")
    assert normalized_value({"b": ["X "], "a": 1}) == normalized_value({"a": 1, "b": ["x"]})
    assert normalized_value(1.5) == 1.5
    assert normalized_value("OB-7") != normalized_value("OB-8")


def _random_found(rng: random.Random, at: int) -> Found:
    fields = {"id": rng.choice(["A", "B", "b ", None, ""]), "text": rng.choice(["x", "y", "X"])}
    chunk = rng.randrange(6)
    cited = (1000 + at,)  # one cited page per input: which inputs an output stands for
    if rng.random() < 0.25:
        return found(fields, chunk, None, quote=rng.choice(["q one", "q two"]), cited=cited)
    start = rng.randrange(0, 400, 10)
    status: Status = rng.choice(["verified", "corrected"])
    return found(fields, chunk, (start, start + rng.randrange(5, 60)), status=status, cited=cited)


def _inputs_of(merged: Merged) -> Counter[int]:
    outputs = [*merged.records, *(m for c in merged.conflicts for m in c.members)]
    return Counter(page - 1000 for record in outputs for page in record.cited_pages)


@pytest.mark.parametrize("seed", range(40))
def test_nothing_is_dropped_or_counted_twice(seed: int) -> None:
    rng = random.Random(seed)
    inputs = [_random_found(rng, at) for at in range(rng.randrange(1, 40))]
    for key in ((), ("id",)):
        merged = merge_records(inputs, key=key)
        assert _inputs_of(merged) == Counter(range(len(inputs)))
        settled = len(merged.records) + sum(len(c.members) for c in merged.conflicts)
        assert settled + merged.overlap_repeats + merged.key_merges == len(inputs)
        assert merged.records == ordered(merged.records)


def test_an_unsupported_record_is_never_merged_by_key() -> None:
    """Its quote was found nowhere: merged with a checked record, its fields would pass for
    checked ones (e.g. a wrong amount chosen by the model, shown as verified)."""
    checked = found(OBLIGATION, chunk=0, span=(100, 140), page=2)
    invented = found({**OBLIGATION, "action": "pay 900 EUR"}, chunk=3, span=None, page=9)
    same_but_unsupported = found(OBLIGATION, chunk=5, span=None, page=12)
    merged = merge_records([checked, invented, same_but_unsupported], key=["id"])
    assert not merged.conflicts and merged.key_merges == 0
    assert sorted(record.status for record in merged.records) == [
        "unsupported",
        "unsupported",
        "verified",
    ]
