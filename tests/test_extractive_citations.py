"""The offline extractive analyzer given citable texts: the same text as without them, in
blocks whose citations quote the cited page or point verbatim."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import docanalyze
from docanalyze.citations.pages import CITATION, format_pages, parse_pages
from docanalyze.document import Document, Page
from docanalyze.models.base import CitableText, ModelReply, ModelRequest, Stage
from docanalyze.models.extractive.model import ExtractiveModel
from docanalyze.options import Options
from tests.test_extractive import LEASE_EN, LEASE_ZH

WRAPPED = {
    11: "The pump house was inspected on 3 May by the\ncity engineer. Its roof leaks in two "
    "places and\nthe main valve is",
    12: "corroded beyond repair. The inspector asked for a new valve before the winter.\n\n"
    "The budget for the repairs is 40,000 EUR.",
}


def document_of(pages: dict[int, str]) -> Document:
    return Document("doc.pdf", tuple(Page(number, text) for number, text in pages.items()))


def page_citable(document: Document) -> tuple[CitableText, ...]:
    return tuple(
        CitableText(page.text, f"Page {page.number}", (page.number,), "page")
        for page in document.pages
    )


def complete(
    stage: Stage, material: tuple[str, ...], citable: tuple[CitableText, ...] = ()
) -> ModelReply:
    request = ModelRequest(
        prompt="Instructions the extractive backend ignores.",
        max_tokens=4000,
        stage=stage,
        material=material,
        citable=citable,
    )
    return asyncio.run(ExtractiveModel().complete(request))


def points_of(reply: ModelReply, citable: tuple[CitableText, ...]) -> tuple[CitableText, ...]:
    """Points as the pipeline makes them of a cited reply: claim, quote and pages."""
    points = []
    for block in reply.blocks:
        for citation in block.citations:
            pages = citable[citation.source].pages
            claim = CITATION.sub("", block.text).strip(" -\n")
            text = f'{claim} "{citation.cited_text}"'
            points.append(CitableText(text, format_pages(pages), pages, "point"))
    return tuple(points)


def assert_cited_verbatim(reply: ModelReply, citable: tuple[CitableText, ...]) -> None:
    assert "".join(block.text for block in reply.blocks) == reply.text
    claims = [block for block in reply.blocks if CITATION.search(block.text)]
    assert claims and all(block.citations for block in claims)
    for block in claims:
        written = set(parse_pages(CITATION.findall(block.text)[-1][2]))
        for citation in block.citations:
            source = citable[citation.source]
            assert citation.cited_text in source.text
            assert len(citation.cited_text) >= 12
            assert written & set(source.pages)


@pytest.mark.parametrize("pages", [LEASE_EN, LEASE_ZH], ids=["english", "chinese"])
def test_map_cites_each_sentence_where_it_stands_on_its_page(pages: dict[int, list[str]]) -> None:
    joiner = "" if pages is LEASE_ZH else " "
    document = document_of({n: joiner.join(sentences) for n, sentences in pages.items()})
    material = (document.marked_text(0, len(document.text)),)
    citable = page_citable(document)
    reply = complete("map", material, citable)
    assert reply.text == complete("map", material).text
    assert_cited_verbatim(reply, citable)
    for block in reply.blocks:
        [citation] = block.citations
        assert citation.cited_text in block.text


def test_a_wrapped_sentence_is_cited_as_it_stands_and_one_across_pages_cites_both() -> None:
    document = document_of(WRAPPED)
    citable = page_citable(document)
    reply = complete("map", (document.marked_text(0, len(document.text)),), citable)
    assert_cited_verbatim(reply, citable)
    quotes = {(c.source, c.cited_text) for block in reply.blocks for c in block.citations}
    assert (0, "The pump house was inspected on 3 May by the\ncity engineer.") in quotes
    assert (0, "Its roof leaks in two places and\nthe main valve is") in quotes
    assert (1, "corroded beyond repair.") in quotes


def test_reduce_and_final_cite_the_points_they_keep() -> None:
    document = document_of({n: " ".join(sentences) for n, sentences in LEASE_EN.items()})
    pages = page_citable(document)
    mapped = complete("map", (document.marked_text(0, len(document.text)),), pages)
    points = points_of(mapped, pages) * 2  # the same points from two chunks
    material = (mapped.text, mapped.text)
    for stage in ("reduce", "final"):
        reply = complete(stage, material, points)
        assert reply.text == complete(stage, material).text
        assert_cited_verbatim(reply, points)
        cited = [len(block.citations) for block in reply.blocks if block.citations]
        assert set(cited) == {2}  # each bullet came from both copies of its point


def test_final_overview_sentences_are_cited_too() -> None:
    document = document_of({n: " ".join(sentences) for n, sentences in LEASE_EN.items()})
    pages = page_citable(document)
    mapped = complete("map", (document.marked_text(0, len(document.text)),), pages)
    reply = complete("final", (mapped.text,), points_of(mapped, pages))
    overview = reply.text.split("\n\n")[1]
    overview_blocks = [block for block in reply.blocks if block.text.strip() in overview]
    assert len(overview_blocks) >= 3 and all(block.citations for block in overview_blocks)


def test_without_material_the_citable_texts_are_extracted_from() -> None:
    document = document_of({n: " ".join(sentences) for n, sentences in LEASE_EN.items()})
    citable = page_citable(document)
    with_material = complete("map", (document.marked_text(0, len(document.text)),), citable)
    without_material = complete("map", (), citable)
    assert without_material.blocks and without_material.blocks == with_material.blocks


def test_usage_counts_the_citable_texts_as_input() -> None:
    document = document_of({n: " ".join(sentences) for n, sentences in LEASE_EN.items()})
    material = (document.marked_text(0, len(document.text)),)
    bare = complete("map", material)
    cited = complete("map", material, page_citable(document))
    assert cited.usage.input_tokens > bare.usage.input_tokens + 50
    assert cited.usage.output_tokens == bare.usage.output_tokens
    assert re.search(r"\(p\. 4\)", cited.text)


OFFLINE_RUNS = {
    "whole": Options(),
    "reduced": Options(
        chunk_size=600,
        context_window=4000,
        max_tokens=600,
        map_max_tokens=300,
        reduce_max_tokens=400,
    ),
}
ONE_UNIT_POINTS = {
    "sample-en.pdf": "- Northwind Logistics Ltd. is a freight and warehousing company headquartered "
    "in Rotterdam, with 2,340 employees in eleven countries. (p. 1)",
    "sample-zh.pdf": "- 二〇二三年，公司实现营业收入二十三亿四千万元，同比增长百分之十八点二； (p. 1)",
}


@pytest.mark.parametrize("run", OFFLINE_RUNS)
@pytest.mark.parametrize("sample", ["sample-en.pdf", "sample-zh.pdf"])
def test_an_offline_report_quotes_its_sentences_whole_and_every_citation_is_verified(
    fixtures_dir: Path, sample: str, run: str
) -> None:
    report = docanalyze.analyze(str(fixtures_dir / sample), options=OFFLINE_RUNS[run])
    assert report.citations and {cited.status for cited in report.citations} == {"verified"}
    assert report.to_markdown().rstrip().endswith(", 0 unsupported.")
    if run == "whole":
        assert ONE_UNIT_POINTS[sample] in report.to_markdown().splitlines()
    else:
        assert report.reduce_levels or len(report.chunks) > 1
