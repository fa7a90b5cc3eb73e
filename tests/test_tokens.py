"""Tests of the CJK-aware token estimate."""

from __future__ import annotations

import random
import string

import pytest

from docanalyze.tokens import estimate_tokens, is_cjk_heavy

HAN = [chr(code) for code in range(0x4E00, 0x4E00 + 3000)]
ENGLISH = (
    "The committee reviewed the annual budget and found that spending on maintenance "
    "had risen by twelve percent, mostly because of delayed repairs to the east wing. "
)


def han_text(length: int, seed: int = 0) -> str:
    return "".join(random.Random(seed).choices(HAN, k=length))


def test_empty_text_costs_nothing() -> None:
    assert estimate_tokens("") == 0


@pytest.mark.parametrize("text", ["a", "ab", "abc", " ", "\n"])
def test_any_text_costs_at_least_one_token(text: str) -> None:
    assert estimate_tokens(text) == 1


@pytest.mark.parametrize("repeats", [1, 7, 100])
def test_english_costs_about_a_token_per_three_characters(repeats: int) -> None:
    text = ENGLISH * repeats
    assert abs(estimate_tokens(text) - len(text) / 3) <= 1


def test_english_estimate_errs_high_against_four_characters_per_token() -> None:
    text = ENGLISH * 50
    assert estimate_tokens(text) > len(text) / 4


@pytest.mark.parametrize("length", [1, 10, 5_000])
def test_chinese_costs_a_token_per_character(length: int) -> None:
    assert estimate_tokens(han_text(length)) == length


@pytest.mark.parametrize(
    "text", ["ひらがなとカタカナ", "한국어 문장입니다", "漢字"], ids=["kana", "hangul", "kanji"]
)
def test_japanese_and_korean_count_as_cjk(text: str) -> None:
    non_cjk = sum(character == " " for character in text)
    assert estimate_tokens(text) == len(text) - non_cjk + (1 if non_cjk else 0)


def test_mixed_text_adds_both_rates() -> None:
    chinese, english = han_text(900, seed=1), ENGLISH * 9
    mixed = chinese + english
    assert abs(estimate_tokens(mixed) - (len(chinese) + len(english) / 3)) <= 1
    assert estimate_tokens(mixed) <= estimate_tokens(chinese) + estimate_tokens(english)


def test_fullwidth_and_ideographic_punctuation_count_as_cjk() -> None:
    punctuation = "，。！？；：（）「」『』、　～"
    assert estimate_tokens(punctuation) == len(punctuation)


def test_latin_punctuation_does_not_count_as_cjk() -> None:
    punctuation = string.punctuation * 3
    assert estimate_tokens(punctuation) == len(punctuation) // 3


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
