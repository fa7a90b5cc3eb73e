"""``docanalyze extract`` on a Chinese document, against the fake Messages API through the SDK:
every record with its true page and a verified quote, and the language in the prompt.

The fake model reads a planted record as a ``REC-nnnn`` sentence of ``name: value`` pairs
separated by ``"; "``, ended (in Chinese) by ``。`` (:mod:`fakeserver.planted_records`); the
last pair, ``备注: 无``, is not a field of the schema, so the ``。`` stays out of the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import docanalyze
from fakeserver import FakeMessagesAPI, RecordErrors

MakeFakeApi = Callable[..., FakeMessagesAPI]
FILLER = "检查人员走访了现场，记录了每台水泵和阀门的状况。维修人员更换了读数显示缓慢泄漏的密封件。"
PARTIES = ("甲公司", "乙物流有限公司", "丙水务集团")
ACTIONS = ("每季度提交安全报告", "更换磨损的水泵密封件", "每月两次培训仓库员工")
SCHEMA: dict[str, Any] = {
    "title": "义务",
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "义务编号，例如 ZH-001。"},
        "party": {"type": "string", "description": "须履行义务的一方。"},
        "action": {"type": "string", "description": "须做的事项。"},
        "deadline": {"type": ["string", "null"], "description": "期限（YYYY-MM-DD）。"},
    },
    "required": ["id", "party", "action", "deadline"],
    "additionalProperties": False,
}
PAGES = 8


def fields_of(number: int) -> dict[str, str]:
    return {
        "id": f"ZH-{number:03d}",
        "party": PARTIES[number % len(PARTIES)],
        "action": ACTIONS[number % len(ACTIONS)],
        "deadline": f"2027-{1 + number % 12:02d}-{1 + number % 28:02d}",
    }


def sentence(number: int) -> str:
    pairs = "; ".join(f"{name}: {value}" for name, value in fields_of(number).items())
    return f"记录 REC-{number:04d} {pairs}; 备注: 无。"


def write_document(path: Path) -> dict[str, int]:
    """:data:`PAGES` pages of Chinese prose, two records on each; every record's id and page."""
    pages, truth = [], {}
    for page in range(1, PAGES + 1):
        first, second = 2 * page - 1, 2 * page
        truth |= {f"ZH-{first:03d}": page, f"ZH-{second:03d}": page}
        pages.append(FILLER * 3 + sentence(first) + FILLER * 3 + sentence(second) + FILLER * 3)
    path.write_text("\f".join(pages), encoding="utf-8")
    return truth


@pytest.fixture
def chinese(
    tmp_path: Path, make_fake_api: MakeFakeApi, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[FakeMessagesAPI, Path, dict[str, int]]]:
    def start(**settings: Any) -> tuple[FakeMessagesAPI, Path, dict[str, int]]:
        api = make_fake_api(**settings)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-zh")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        path = tmp_path / "义务.txt"
        return api, path, write_document(path)

    return start


@pytest.mark.parametrize("language", ["zh", None])
def test_a_chinese_document_gives_every_record_on_its_page_with_a_verified_quote(
    chinese: Callable[..., tuple[FakeMessagesAPI, Path, dict[str, int]]], language: str | None
) -> None:
    api, path, truth = chinese()
    result = docanalyze.extract(path, SCHEMA, language=language, chunk_size=900, chunk_overlap=0)

    assert result.complete and result.chunk_count > 1
    assert {record.fields["id"]: record.pages for record in result.records} == {
        name: (page,) for name, page in truth.items()
    }
    for record in result.records:
        number = int(record.fields["id"].removeprefix("ZH-"))
        assert dict(record.fields) == fields_of(number)
        assert record.status == "verified" and record.quote == sentence(number)
    prompts = [request.prompt for request in api.requests if request.body.get("messages")]
    assert len(prompts) == result.chunk_count
    assert all("Write field values in Chinese (简体中文)" in prompt for prompt in prompts)
    assert all("义务编号" in prompt for prompt in prompts)  # the fields' descriptions


def test_wrong_pages_in_a_chinese_document_are_corrected(
    chinese: Callable[..., tuple[FakeMessagesAPI, Path, dict[str, int]]],
) -> None:
    api, path, truth = chinese(record_errors=RecordErrors(wrong_page_every=2, seed=1))
    result = docanalyze.extract(path, SCHEMA, language="zh", chunk_size=900, chunk_overlap=0)
    wrong = {error.marker for error in api.record_errors_made if error.kind == "wrong_page"}
    assert len(wrong) >= PAGES // 2
    by_marker = {re.findall(r"REC-\d{4}", r.quote or "")[0]: r for r in result.records}
    assert {by_marker[marker].status for marker in wrong} == {"corrected"}
    assert {r.fields["id"]: r.pages for r in result.records} == {
        name: (page,) for name, page in truth.items()
    }


def overlap_document(path: Path, chunk_size: int, overlap: int) -> str:
    """Chinese pages of short paragraphs and one record, a paragraph of its own, placed where
    two neighbouring chunks overlap (tried at each paragraph break until the chunks of the
    document hold it in both); returns the record's sentence."""
    from docanalyze.ingest import document_from_text
    from docanalyze.ingest.boilerplate import without_boilerplate
    from docanalyze.ingest.chunking import chunks_to_analyze

    record = sentence(7)
    pages = ["\n\n".join([FILLER] * 6) for _ in range(4)]
    for page in range(len(pages)):
        paragraphs = pages[page].split("\n\n")
        for at in range(1, len(paragraphs)):
            candidate = pages.copy()
            candidate[page] = "\n\n".join([*paragraphs[:at], record, *paragraphs[at:]])
            text = "\f".join(candidate)
            document = without_boilerplate(document_from_text(text, "义务.txt"))
            where = document.text.find(record)
            chunks = chunks_to_analyze(document, chunk_size=chunk_size, chunk_overlap=overlap)
            holding = [c for c in chunks if c.start <= where and where + len(record) <= c.end]
            if len(holding) == 2:
                path.write_text(text, encoding="utf-8")
                return record
    raise AssertionError("no overlap holds the record")


def test_a_chinese_record_in_the_overlap_of_two_chunks_is_one_row(
    chinese: Callable[..., tuple[FakeMessagesAPI, Path, dict[str, int]]], tmp_path: Path
) -> None:
    chinese()
    path = tmp_path / "重叠.txt"
    overlap_document(path, chunk_size=400, overlap=120)
    result = docanalyze.extract(path, SCHEMA, chunk_size=400, chunk_overlap=120)
    (row,) = result.records
    assert row.fields == fields_of(7) and row.status == "verified"
    assert len(row.chunks) == 2 and result.counts.overlap_repeats == 1
