"""The offline extractive backend, and the sentence and citation helpers it is built on."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from docanalyze.document import Document, Page
from docanalyze.models.base import Model, ModelReply, ModelRequest, Stage, Usage
from docanalyze.models.extractive.model import ExtractiveModel
from docanalyze.models.extractive.textunits import (
    format_citation,
    split_citation,
    split_marked_text,
    split_sentences,
)
from docanalyze.text.tokens import estimate_tokens

NOISE_EN = "Penguins huddle together on Antarctic ice to survive winter storms."
NOISE_ZH = "企鹅在南极的冰面上挤在一起度过漫长的冬夜。"

LEASE_EN = {
    4: [
        "The tenant pays the landlord a monthly rent of 1,200 EUR for the apartment.",
        "The rent is due to the landlord on the first day of each month.",
        "The landlord may raise the rent once a year by at most 3 percent.",
    ],
    5: [
        NOISE_EN,
        "The tenant pays the rent to the landlord by bank transfer each month.",
        "A late rent payment costs the tenant a fee of 50 EUR per month of delay.",
    ],
    6: [
        "The tenant pays a deposit of three months of rent to the landlord.",
        "The landlord returns the deposit to the tenant when the lease of the apartment ends.",
    ],
}

LEASE_ZH = {
    7: [
        "承租人每月向出租人支付租金五千元。",
        "租金应于每月一日前支付给出租人。",
        "出租人每年可上调租金，但不超过百分之三。",
    ],
    8: [
        NOISE_ZH,
        "承租人逾期支付租金的，应向出租人支付滞纳金。",
        "承租人应向出租人支付相当于三个月租金的押金。",
    ],
}


def marked_chunk(pages: dict[int, list[str]], joiner: str = " ") -> tuple[Document, str]:
    document = Document(
        "lease.pdf",
        tuple(Page(number, joiner.join(sentences)) for number, sentences in pages.items()),
    )
    return document, document.marked_text(0, len(document.text))


def complete(
    stage: Stage, material: tuple[str, ...], max_tokens: int, model: Model | None = None
) -> ModelReply:
    request = ModelRequest(
        prompt="Instructions the extractive backend ignores.",
        max_tokens=max_tokens,
        stage=stage,
        material=material,
    )
    return asyncio.run((model or ExtractiveModel()).complete(request))


BULLET = re.compile(r"^- (?P<text>.+) \(p\. (?P<page>\d+)\)$")


def parse_map_bullets(text: str) -> list[tuple[str, int]]:
    bullets: list[tuple[str, int]] = []
    for line in text.splitlines():
        match = BULLET.match(line)
        assert match, f"not a cited bullet: {line!r}"
        bullets.append((match["text"], int(match["page"])))
    return bullets


CHUNKS = {
    "english": marked_chunk(LEASE_EN),
    "chinese": marked_chunk(LEASE_ZH, joiner=""),
}


def test_implements_the_model_protocol() -> None:
    model = ExtractiveModel(context_window=50_000, max_output_tokens=8_000)
    assert isinstance(model, Model)
    assert (model.name, model.context_window, model.max_output_tokens) == (
        "extractive",
        50_000,
        8_000,
    )
    assert model.estimate_tokens("合同 contract") == estimate_tokens("合同 contract")
    asyncio.run(model.aclose())


@pytest.mark.parametrize("language", CHUNKS)
@pytest.mark.parametrize("max_tokens", [1, 8, 20, 35, 60, 120, 5000])
def test_map_stays_within_budget(language: str, max_tokens: int) -> None:
    _, text = CHUNKS[language]
    reply = complete("map", (text,), max_tokens)
    assert estimate_tokens(reply.text) <= max_tokens
    assert reply.stop_reason == "end_turn"
    if max_tokens >= 20:
        assert reply.text.startswith("- ")


@pytest.mark.parametrize("language", CHUNKS)
@pytest.mark.parametrize("max_tokens", [40, 90, 5000])
def test_map_quotes_sentences_with_their_page_in_document_order(
    language: str, max_tokens: int
) -> None:
    document, text = CHUNKS[language]
    bullets = parse_map_bullets(complete("map", (text,), max_tokens).text)
    assert bullets
    page_texts = {page.number: page.text for page in document.pages}
    positions = []
    for sentence, page in bullets:
        assert page in page_texts
        assert sentence in page_texts[page]
        positions.append(document.text.index(sentence))
    assert positions == sorted(positions)


@pytest.mark.parametrize("language", CHUNKS)
def test_generous_budget_keeps_every_sentence(language: str) -> None:
    _, text = CHUNKS[language]
    source = LEASE_EN if language == "english" else LEASE_ZH
    bullets = parse_map_bullets(complete("map", (text,), 5000).text)
    assert bullets == [
        (sentence, page) for page, sentences in source.items() for sentence in sentences
    ]


@pytest.mark.parametrize(("language", "noise"), [("english", NOISE_EN), ("chinese", NOISE_ZH)])
def test_tight_budget_drops_the_off_topic_sentence(language: str, noise: str) -> None:
    _, text = CHUNKS[language]
    everything = complete("map", (text,), 5000).text
    budget = estimate_tokens(everything) // 2
    tight = complete("map", (text,), budget).text
    assert noise in everything
    assert noise not in tight
    assert len(tight.splitlines()) >= 2


def test_a_sentence_too_long_for_the_budget_is_shortened() -> None:
    sentence = " ".join(f"word{i}" for i in range(200)) + "."
    reply = complete("map", (f"[Page 3]\n{sentence}",), 30)
    assert estimate_tokens(reply.text) <= 30
    assert reply.stop_reason == "end_turn"
    assert reply.text.startswith("- word0 word1")
    assert reply.text.endswith("… (p. 3)")


def test_material_is_quoted_literally_never_rendered() -> None:
    text = "[Page 2]\nThe clause {{ 7*7 }} applies {% if x %}always{% endif %}. Nothing else."
    mapped = complete("map", (text,), 500).text
    assert "{{ 7*7 }} applies {% if x %}always{% endif %}." in mapped
    reduced = complete("reduce", ("- The clause {{ 7*7 }} applies. (p. 2)",), 500).text
    assert reduced == "- The clause {{ 7*7 }} applies. (p. 2)"


def test_usage_and_model_name() -> None:
    model = ExtractiveModel()
    request = ModelRequest(
        prompt="P" * 300, max_tokens=500, stage="map", material=(CHUNKS["english"][1],)
    )
    reply = asyncio.run(model.complete(request))
    assert reply.model == "extractive"
    assert reply.usage.requests == 0
    assert reply.usage.input_tokens == estimate_tokens("P" * 300)
    assert reply.usage.output_tokens == estimate_tokens(reply.text) > 0
    assert reply.usage.estimated and (reply.usage + Usage()).estimated
    assert not reply.truncated


@pytest.mark.parametrize("stage", ["map", "reduce", "final"])
def test_output_is_deterministic(stage: Stage) -> None:
    _, text = CHUNKS["english"]
    material = (text,) if stage == "map" else (complete("map", (text,), 5000).text,)
    first = complete(stage, material, 120)
    second = complete(stage, material, 120, model=ExtractiveModel())
    assert first.text == second.text
    assert first.text


REDUCE_MATERIAL = (
    (
        "- The monthly rent is 1,200 EUR. (p. 2)\n"
        "- The tenant may sublet the apartment with the landlord's written consent. (p. 3)"
    ),
    (
        "- The monthly rent is 1,200 EUR. (p. 9)\n"
        "- the monthly  rent is EUR 1,200 (pp. 11–12)\n"
        "- The monthly rent is 1,300 EUR. (p. 10)\n"
        "- Either party may end the lease with three months' notice. (p. 10)"
    ),
)


def test_reduce_merges_duplicates_and_unions_their_pages() -> None:
    lines = complete("reduce", REDUCE_MATERIAL, 1000).text.splitlines()
    assert lines == [
        "- The monthly rent is 1,200 EUR. (pp. 2, 9, 11–12)",
        "- The tenant may sublet the apartment with the landlord's written consent. (p. 3)",
        "- The monthly rent is 1,300 EUR. (p. 10)",
        "- Either party may end the lease with three months' notice. (p. 10)",
    ]


def many_bullets(count: int) -> tuple[str, ...]:
    topics = ["rent", "deposit", "notice", "repairs", "insurance", "utilities", "keys"]
    bullets = [
        f"- Clause {i}: the {topics[i % 7]} terms bind party {i % 5} from month {i % 12} "
        f"of year {2020 + i % 6}. (p. {i // 3 + 1})"
        for i in range(count)
    ]
    return tuple("\n".join(bullets[i : i + 20]) for i in range(0, count, 20))


@pytest.mark.parametrize("max_tokens", [1, 15, 100, 400, 1500])
def test_reduce_stays_within_budget_and_in_document_order(max_tokens: int) -> None:
    material = many_bullets(200)
    reply = complete("reduce", material, max_tokens)
    assert estimate_tokens(reply.text) <= max_tokens
    assert reply.stop_reason == "end_turn"
    clauses = [int(m) for m in re.findall(r"^- Clause (\d+):", reply.text, re.MULTILINE)]
    assert clauses == sorted(clauses)
    for line in reply.text.splitlines():
        assert BULLET.match(line), line
    if max_tokens >= 100:
        assert len(clauses) >= max_tokens // 60


def test_reduce_is_fast_over_200_bullets() -> None:
    material = many_bullets(200)
    started = time.perf_counter()
    complete("reduce", material, 2000)
    assert time.perf_counter() - started < 1.0


def test_map_is_fast_on_a_10000_character_chunk() -> None:
    words = ["rent", "tenant", "landlord", "deposit", "repair", "notice", "term", "fee"]
    sentences = [
        f"The {words[i % 8]} clause {i} binds the {words[(i * 3) % 8]} for {i % 12} months."
        for i in range(200)
    ]
    text = "[Page 1]\n" + " ".join(sentences)
    assert len(text) >= 10_000
    started = time.perf_counter()
    reply = complete("map", (text,), 2048)
    assert time.perf_counter() - started < 1.0
    assert estimate_tokens(reply.text) <= 2048


@pytest.mark.parametrize("max_tokens", [60, 150, 400, 3000])
def test_final_has_overview_and_key_points_within_budget(max_tokens: int) -> None:
    _, text = CHUNKS["english"]
    material = (complete("map", (text,), 5000).text,)
    reply = complete("final", material, max_tokens)
    assert estimate_tokens(reply.text) <= max_tokens
    assert reply.stop_reason == "end_turn"
    overview_part, key_points_part = reply.text.split("\n\n## Key points\n\n")
    assert overview_part.startswith("## Overview\n\n")
    overview = overview_part.removeprefix("## Overview\n\n")
    assert "\n" not in overview and not overview.startswith("- ")
    assert re.search(r"\(p\. [456]\)\.", overview)
    bullets = key_points_part.splitlines()
    assert bullets and all(BULLET.match(line) for line in bullets)
    if max_tokens >= 400:
        assert 3 <= len(re.findall(r"\(p\. \d+\)\.", overview)) <= 5


def test_final_overview_keeps_the_most_central_points() -> None:
    _, text = CHUNKS["english"]
    report = complete("final", (complete("map", (text,), 5000).text,), 3000).text
    overview = report.split("\n\n## Key points")[0]
    assert NOISE_EN.rstrip(".") not in overview
    assert NOISE_EN in report


def test_chinese_end_to_end() -> None:
    _, text = CHUNKS["chinese"]
    mapped = complete("map", (text,), 60).text
    bullets = parse_map_bullets(mapped)
    assert bullets and all(sentence.endswith("。") for sentence, _ in bullets)
    assert {page for _, page in bullets} <= {7, 8}
    reduced = complete("reduce", (mapped, mapped), 1000).text
    assert reduced == mapped
    report = complete("final", (reduced,), 1000).text
    assert report.startswith("## Overview\n\n")
    assert "（" not in report and "(p. 7)" in report


def test_split_sentences_keeps_abbreviations_and_decimals_together() -> None:
    text = (
        "Rent rises by 2.5 percent, e.g. in 2026. Mr. Smith signed it!\n"
        "Is it binding? yes, it is. A new sentence that\n"
        "wraps onto the next line of the same paragraph.\n\nAnother paragraph"
    )
    assert split_sentences(text) == [
        "Rent rises by 2.5 percent, e.g. in 2026.",
        "Mr. Smith signed it!",
        "Is it binding? yes, it is.",
        "A new sentence that wraps onto the next line of the same paragraph.",
        "Another paragraph",
    ]


def test_split_sentences_cjk() -> None:
    text = "合同期限为三年。租金每月五千元\n整！是否续约？由双方协商；另行约定"
    assert split_sentences(text) == [
        "合同期限为三年。",
        "租金每月五千元整！",
        "是否续约？",
        "由双方协商；",
        "另行约定",
    ]


@pytest.mark.parametrize(
    ("heading", "body"),
    [
        (
            "Annual Report 2023",
            (
                "The company was founded in 2008 and makes industrial robots and\n"
                "warehouse systems for customers in Europe and in Asia."
            ),
        ),
        (
            "二〇二三年年度报告",
            "公司成立于二〇〇八年，主要从事工业机器人和智能仓储设备\n的研发、生产与销售。",
        ),
    ],
)
def test_a_short_line_is_a_heading_not_part_of_the_next_sentence(heading: str, body: str) -> None:
    sentences = split_sentences(f"{heading}\n{body}")
    assert sentences[0] == heading
    assert len(sentences) == 2


@pytest.mark.parametrize(
    ("marked", "expected"),
    [
        (
            "[Page 3]\nThe rent is paid on the first day\n\n[Page 4]\nof each month. Keys are returned.",
            [
                ("The rent is paid on the first day of each month.", {3, 4}),
                ("Keys are returned.", {4}),
            ],
        ),
        (
            "[Page 3]\nThe rent is paid on time.\n\n[Page 4]\nKeys are returned.",
            [("The rent is paid on time.", {3}), ("Keys are returned.", {4})],
        ),
        (
            "[Page 7]\n租金应于每月一日\n\n[Page 8]\n前支付。押金为三个月租金。",
            [("租金应于每月一日前支付。", {7, 8}), ("押金为三个月租金。", {8})],
        ),
    ],
)
def test_a_sentence_cut_by_a_page_break_is_joined_and_cites_both_pages(
    marked: str, expected: list[tuple[str, set[int]]]
) -> None:
    sentences = split_marked_text(marked)
    assert [(sentence.text, set(sentence.pages)) for sentence in sentences] == expected
    reply = complete("map", (marked,), 1000).text
    assert ("(pp. 3–4)" in reply or "(pp. 7–8)" in reply) == (len(expected[0][1]) == 2)


def test_split_sentences_cuts_overlong_sentences() -> None:
    row = ", ".join(f"item {i}" for i in range(300))
    pieces = split_sentences(row)
    assert len(pieces) > 1
    assert all(len(piece) <= 500 for piece in pieces)
    assert " ".join(pieces) == row


@pytest.mark.parametrize(
    ("pages", "citation"),
    [([3], "(p. 3)"), ([5, 3, 4], "(pp. 3–5)"), ([9, 2, 3, 11, 12], "(pp. 2–3, 9, 11–12)")],
)
def test_citations_round_trip(pages: list[int], citation: str) -> None:
    assert format_citation(pages) == citation
    assert split_citation(f"Some point. {citation}") == ("Some point.", frozenset(pages))


def test_reduce_keeps_near_identical_points_that_differ_in_a_number() -> None:
    notice = "- The tenant must give written notice of termination to the landlord within"
    material = (
        f"{notice} 30 days. (p. 4)",
        (
            f"{notice} 60 days. (p. 8)\n"
            "- The tenant must give the landlord written notice of termination within 30 days. (p. 9)"
        ),
    )
    assert complete("reduce", material, 1000).text.splitlines() == [
        f"{notice} 30 days. (pp. 4, 9)",
        f"{notice} 60 days. (p. 8)",
    ]
