"""Tests of the CJK-aware token estimate, and of its calibration against the fake server."""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest

from docanalyze.ingest.sources import resolve_document
from docanalyze.models.anthropic.catalog import tokenizer_ratio
from docanalyze.text.tokens import estimate_for_tokenizer, estimate_tokens, is_cjk_heavy
from fakeserver import FakeMessagesAPI, count_tokens
from fixtures.texts import SAMPLE_EN, SAMPLE_TXT, SAMPLE_ZH, Page, page_text

HAN = [chr(code) for code in range(0x4E00, 0x4E00 + 3000)]
ENGLISH = (
    "The committee reviewed the annual budget and found that spending on maintenance "
    "had risen by twelve percent, mostly because of delayed repairs to the east wing. "
)
TOLERANCE = 0.15


def han_text(length: int, seed: int = 0) -> str:
    return "".join(random.Random(seed).choices(HAN, k=length))


def fixture_text(pages: list[Page]) -> str:
    return "\n\n".join(page_text(page) for page in pages)


def test_empty_text_costs_nothing() -> None:
    assert estimate_tokens("") == 0


@pytest.mark.parametrize("text", ["a", "ab", "7", ".", " ", "\n"])
def test_any_text_costs_at_least_one_token(text: str) -> None:
    assert estimate_tokens(text) == 1


@pytest.mark.parametrize(
    ("word", "tokens"), [("a", 1), ("the", 2), ("budget", 2), ("committee", 3), ("2023", 2)]
)
def test_a_word_costs_half_a_token_plus_a_quarter_per_character(word: str, tokens: int) -> None:
    assert estimate_tokens(word) == tokens
    assert estimate_tokens(f"{word} {word}") == pytest.approx(2 * (0.5 + len(word) / 4), abs=1)


def test_ascii_whitespace_is_free() -> None:
    spaced = ENGLISH.replace(" ", "  \n\t ")
    assert estimate_tokens(spaced) == estimate_tokens(ENGLISH)


@pytest.mark.parametrize(
    "text",
    [ENGLISH * 20, fixture_text(SAMPLE_EN), fixture_text(SAMPLE_TXT)],
    ids=["repeated-sentence", "sample-en", "sample-txt"],
)
def test_english_prose_is_within_15_percent_of_the_server_and_never_below(text: str) -> None:
    server = count_tokens(text)
    assert server <= estimate_tokens(text) <= server * (1 + TOLERANCE)


def test_chinese_prose_is_within_15_percent_of_the_server_and_never_below() -> None:
    text = fixture_text(SAMPLE_ZH)
    server = count_tokens(text)
    assert server <= estimate_tokens(text) <= server * (1 + TOLERANCE)


@pytest.mark.parametrize("name", ["sample-en.pdf", "sample-zh.pdf"])
def test_extracted_pdf_text_with_page_markers_is_within_15_percent(
    fixtures_dir: Path, name: str
) -> None:
    document = resolve_document(str(fixtures_dir / name))
    text = document.marked_text(0, len(document.text))
    server = count_tokens(text)
    assert server <= estimate_tokens(text) <= server * (1 + TOLERANCE)


def test_english_errs_high_but_less_than_the_old_three_characters_per_token() -> None:
    text = ENGLISH * 50
    assert count_tokens(text) < estimate_tokens(text) < len(text) / 3


@pytest.mark.parametrize("length", [1, 10, 5_000])
def test_chinese_costs_a_token_per_character(length: int) -> None:
    assert estimate_tokens(han_text(length)) == length


@pytest.mark.parametrize(
    "text", ["ひらがなとカタカナ", "한국어 문장입니다", "漢字"], ids=["kana", "hangul", "kanji"]
)
def test_japanese_and_korean_count_as_cjk(text: str) -> None:
    assert estimate_tokens(text) == len(text.replace(" ", ""))


def test_mixed_text_adds_both_rates() -> None:
    chinese, english = han_text(900, seed=1), ENGLISH * 9
    mixed = chinese + english
    assert abs(estimate_tokens(mixed) - (estimate_tokens(chinese) + estimate_tokens(english))) <= 1


def test_fullwidth_and_ideographic_punctuation_count_as_cjk() -> None:
    punctuation = "，。！？；：（）「」『』、　～"
    assert estimate_tokens(punctuation) == len(punctuation)


def test_latin_punctuation_costs_a_token_a_character() -> None:
    punctuation = string.punctuation * 3
    assert estimate_tokens(punctuation) == len(punctuation) == count_tokens(punctuation)


def test_accented_letters_cost_at_least_what_the_server_counts() -> None:
    text = "Société Générale a publié ses résultats trimestriels à Zürich. " * 10
    assert estimate_tokens(text) >= count_tokens(text)


def test_chinese_text_is_cjk_heavy_and_english_is_not() -> None:
    assert is_cjk_heavy(han_text(2_000))
    assert not is_cjk_heavy(ENGLISH * 20)
    assert not is_cjk_heavy("")
    assert not is_cjk_heavy(" \n\t ")


def test_cjk_heavy_ignores_whitespace_and_uses_the_threshold() -> None:
    # 3 Han characters among 10 non-space characters, padded with plenty of whitespace.
    text = "漢 字 文" + " " * 50 + "abcdefg" + "\n" * 50
    assert is_cjk_heavy(text, threshold=0.3)
    assert not is_cjk_heavy(text, threshold=0.31)
    assert is_cjk_heavy(ENGLISH * 3 + han_text(200), threshold=0.3)
    assert not is_cjk_heavy(ENGLISH * 3 + han_text(40), threshold=0.3)


def _reference_estimate(text: str) -> int:
    """The rule of the module docstring, written the plain way."""
    if not text:
        return 0
    words = re.findall(r"[A-Za-z0-9]+", text)
    others = [c for c in text if not (c.isascii() and (c.isalnum() or c in " \t\n\r\f\v"))]
    return max(1, math.ceil(0.5 * len(words) + 0.25 * sum(map(len, words))) + len(others))


def test_the_fast_estimate_follows_the_rule_on_mixed_text() -> None:
    rng = random.Random(5)
    alphabet = "abcXYZ019 \t\n.,;'-éü中文。，\u3000\U0001f600\ud800_"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        assert estimate_tokens(text) == _reference_estimate(text), repr(text)


@pytest.mark.parametrize(
    ("text", "language"),
    [(fixture_text(SAMPLE_EN), "en"), (fixture_text(SAMPLE_ZH), "zh"), (ENGLISH * 40, "en")],
)
def test_the_newer_tokenizers_estimate_is_within_10_percent_of_its_count(
    make_fake_api: Callable[..., FakeMessagesAPI], text: str, language: str
) -> None:
    # Claude Opus 4.7 and later count about 30% more tokens, but not on CJK characters.
    server = make_fake_api(model_rules=True)
    sdk = anthropic.Anthropic(api_key="test-key", base_url=server.base_url, max_retries=0)
    messages: Any = [{"role": "user", "content": text}]
    counted = sdk.messages.count_tokens(model="claude-sonnet-5-5", messages=messages).input_tokens
    estimate = estimate_for_tokenizer(text, 1.3) + math.ceil(7 * 1.3)  # with the framing
    assert counted <= estimate <= counted * 1.10, language


def test_the_newer_tokenizer_counts_chinese_as_the_earlier_one_does() -> None:
    chinese = han_text(2000)
    assert estimate_for_tokenizer(chinese, 1.3) == estimate_tokens(chinese) == 2000
    assert estimate_for_tokenizer(ENGLISH, 1.3) == math.ceil(estimate_tokens(ENGLISH) * 1.3)
    mixed = chinese + ENGLISH
    assert estimate_for_tokenizer(mixed, 1.3) == 2000 + math.ceil(estimate_tokens(ENGLISH) * 1.3)


@pytest.mark.parametrize(
    ("model", "ratio"),
    [("claude-nova-6", 1.3), ("claude-opus-4-9", 1.3), ("claude-opus-4-1", 1.0),
     ("claude-opus-4-20250514", 1.0), ("claude-3-opus-20240229", 1.0), ("claude-sonnet-5-5", 1.3),
     ("claude-haiku-4-5", 1.0)],
)  # fmt: skip
def test_a_model_the_catalog_does_not_know_counts_with_its_generations_tokenizer(
    model: str, ratio: float
) -> None:
    assert tokenizer_ratio(model) == ratio
