"""Each rule of normalize_page_text, one at a time."""

from __future__ import annotations

import pytest

from docanalyze.ingest.normalize import normalize_page_text


def test_crlf_and_lone_cr_become_lf() -> None:
    assert normalize_page_text("one\r\ntwo\rthree\nfour") == "one\ntwo\nthree\nfour"


@pytest.mark.parametrize(
    "raw",
    [
        "inter\x02\r\nnational",  # marker, then the line break (older PDFium)
        "inter\ufffe\r\nnational",
        "inter\x02national",  # marker with the break already removed (get_text_bounded)
        "inter\ufffenational",  # (get_text_range)
        "inter\u00ad\nnational",
    ],
)
def test_soft_hyphen_markers_rejoin_the_word(raw: str) -> None:
    assert normalize_page_text(f"an {raw} treaty") == "an international treaty"


def test_real_hyphens_at_line_ends_stay() -> None:
    assert normalize_page_text("well-\nknown") == "well-\nknown"


@pytest.mark.parametrize(
    ("ligature", "letters"),
    [
        ("\ufb00", "ff"),
        ("\ufb01", "fi"),
        ("\ufb02", "fl"),
        ("\ufb03", "ffi"),
        ("\ufb04", "ffl"),
        ("\ufb05", "st"),
        ("\ufb06", "st"),
    ],
)
def test_ligatures_are_spelled_out(ligature: str, letters: str) -> None:
    assert normalize_page_text(f"a{ligature}b") == f"a{letters}b"


def test_fullwidth_cjk_punctuation_and_digits_are_kept() -> None:
    text = "营业收入，同比增长１５％。是吗？好！（注：单位为元）"
    assert normalize_page_text(text) == text


def test_line_wrap_inside_a_cjk_sentence_is_joined() -> None:
    assert normalize_page_text("公司实现营业\n收入十二亿元。") == "公司实现营业收入十二亿元。"


@pytest.mark.parametrize("end", ["。", "！", "？", "；", "：", "。”", "！」"])
def test_line_break_after_sentence_end_is_kept(end: str) -> None:
    text = f"公司实现营业收入十二亿元{end}\n同比增长百分之十五。"
    assert normalize_page_text(text) == text


def test_heading_before_a_cjk_paragraph_keeps_its_line() -> None:
    text = (
        "董事长致辞\n"
        "董事长王建国表示，二〇二三年是公司发展历程中极不平凡的一年，面对原材料价格\n"
        "上涨和海外需求放缓，全体员工团结一心。"
    )
    expected = (
        "董事长致辞\n"
        "董事长王建国表示，二〇二三年是公司发展历程中极不平凡的一年，面对原材料价格"
        "上涨和海外需求放缓，全体员工团结一心。"
    )
    assert normalize_page_text(text) == expected


def test_cjk_paragraph_breaks_are_kept() -> None:
    text = "第一段的内容\n\n第二段的内容"
    assert normalize_page_text(text) == text


def test_line_break_between_latin_words_is_kept() -> None:
    assert normalize_page_text("the annual\nreport") == "the annual\nreport"


def test_trailing_spaces_are_stripped_per_line() -> None:
    assert normalize_page_text("first  \t\nsecond ") == "first\nsecond"


def test_three_or_more_newlines_collapse_to_two() -> None:
    assert normalize_page_text("a\n\n\n\nb\n \n \n\nc") == "a\n\nb\n\nc"


def test_page_is_stripped() -> None:
    assert normalize_page_text("\n\n  text  \n\n") == "text"


def test_control_characters_are_removed_but_tabs_kept() -> None:
    assert normalize_page_text("a\x00b\x07c\x1bd\tf\x7fg") == "abcd\tfg"


def test_normalizing_twice_changes_nothing() -> None:
    once = normalize_page_text("of\ufb01ce\x02\r\nwork  \r\n\r\n\r\n公司实现\n营业收入。")
    assert normalize_page_text(once) == once
