"""Citations checked in code: quotes found in the page text, statuses, and the rewritten report."""

from __future__ import annotations

import pytest

from docanalyze.citations.locate import PageIndex, locate
from docanalyze.citations.markdown import check_report, claim_key, find_claims
from docanalyze.citations.normalize import normalize_for_matching
from docanalyze.citations.pages import CITATION, format_citation, parse_pages
from docanalyze.citations.verify import Citation, VerificationSummary, check_citation, verify
from docanalyze.document import Document, Page
from docanalyze.run.several import cite_document

ENGLISH = (
    Page(1, "Lease agreement.\nThe Tenant shall pay the rent on the ﬁrst day of each month."),
    Page(2, "The Landlord keeps the  keys and all infor-\nmation about the\ndeposit in a"),
    Page(3, "safe at the bank. The lease is governed by the “laws of Ruritania” — strictly."),
    Page(4, "Termination requires written notice of ninety days. Rent is rent."),
)
CHINESE = (
    Page(1, "租赁合同\n第一条 租金"),
    Page(2, "承 租 人 应 于\n每 月 第 一 日 支 付 租 金 ， 逾 期 不 付 的 ，出租人可以解除合同。"),
    Page(3, "押金为人民币５０００元（大写：伍仟元整）。"),
)


def norm(text: str) -> str:
    return normalize_for_matching(text).text


# --- normalizing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page_text", "quote"),
    [
        ("all infor-\nmation about", "all information about"),  # hyphenation at a line break
        ("all infor-\n  mation about", "all information about"),
        ("all infor\u00admation about", "all information about"),  # soft hyphen
        ("on the ﬁrst day", "on the first day"),  # ligature
        ("the “laws of Ruritania”", 'the "laws of Ruritania"'),  # curly quotes
        ("it’s due", "it's due"),
        ("ninety days — strictly", "ninety days - strictly"),  # dashes
        ("the  keys\n and\tall", "the keys and all"),  # whitespace runs
        ("THE KEYS", "the keys"),  # case
        ("ÉTÉ Straße", "été strasse"),
        ("Café au lait", "Cafe\u0301 au lait"),  # composed and decomposed accents
    ],
)
def test_page_text_and_quote_normalize_alike(page_text: str, quote: str) -> None:
    assert norm(page_text) == norm(quote)


@pytest.mark.parametrize(
    ("page_text", "quote"),
    [
        ("承 租 人\n应 于", "承租人应于"),  # spaces and line breaks between CJK characters
        ("支 付 租 金 ， 逾 期", "支付租金，逾期"),
        ("支付租金，逾期", "支付租金,逾期"),  # fullwidth and ASCII comma
        ("（大写：伍仟元整）。", "(大写:伍仟元整)."),
        ("５０００元", "5000元"),  # fullwidth digits
        ("「租金」", "“租金”"),
        ("ｶﾀｶﾅ", "カタカナ"),  # halfwidth katakana
        ("か\u3099く", "がく"),  # a combining voiced sound mark
    ],
)
def test_chinese_page_text_and_quote_normalize_alike(page_text: str, quote: str) -> None:
    assert norm(page_text) == norm(quote)


def test_words_stay_apart_and_the_map_leads_back_to_the_original() -> None:
    original = "The  Landlord keeps all infor-\nmation."
    normalized = normalize_for_matching(original)
    assert normalized.text == "the landlord keeps all information."
    start = normalized.text.index("information")
    span = normalized.span(start, start + len("information"))
    assert original[span[0] : span[1]] == "infor-\nmation"
    start = normalized.text.index("landlord")
    assert original[slice(*normalized.span(start, start + 8))] == "Landlord"


# --- locating ----------------------------------------------------------------------------------


def test_a_quote_is_found_on_its_page_with_its_original_text() -> None:
    found = locate("the Tenant shall pay the rent on the first day", ENGLISH, cited=[1])
    assert found is not None
    assert found.pages == (1,)
    document = Document("lease.txt", ENGLISH)
    assert document.text[found.start : found.end] == found.text
    assert found.text == "The Tenant shall pay the rent on the ﬁrst day"


def test_a_quote_across_a_page_break_is_on_both_pages() -> None:
    found = locate("all information about the deposit in a safe at the bank", ENGLISH)
    assert found is not None
    assert found.pages == (2, 3)
    assert found.text == "all infor-\nmation about the\ndeposit in a\n\nsafe at the bank"


@pytest.mark.parametrize("ellipsis", ["...", "…", " […] "])
def test_an_ellipsis_quote_is_found_in_order(ellipsis: str) -> None:
    found = locate(f"The Landlord keeps the keys{ellipsis}in a safe at the bank", ENGLISH)
    assert found is not None
    assert found.pages == (2, 3)


def test_ellipsis_parts_out_of_order_or_pages_apart_are_not_found() -> None:
    assert locate("in a safe at the bank ... The Landlord keeps the keys", ENGLISH) is None
    assert locate("The Tenant shall pay the rent ... written notice of ninety", ENGLISH) is None


def test_an_invented_quote_is_not_found() -> None:
    assert locate("the Tenant may keep a dragon in the garden", ENGLISH, cited=[1]) is None


def test_a_chinese_quote_is_found_despite_inserted_spaces_and_fullwidth_marks() -> None:
    found = locate("承租人应于每月第一日支付租金,逾期不付的", CHINESE, cited=[2])
    assert found is not None and found.pages == (2,)
    assert found.text.startswith("承 租 人 应 于\n每 月")
    digits = locate("押金为人民币5000元(大写:伍仟元整)", CHINESE, cited=[3])
    assert digits is not None and digits.pages == (3,)


def test_a_short_quote_counts_only_on_its_cited_page() -> None:
    index = PageIndex.of(ENGLISH)
    assert locate("Rent is rent", index, cited=[4]) is not None  # short, exact on its page
    assert locate("Rent is", index, cited=[4]) is not None
    assert locate("Rent is", index, cited=[1]) is None  # short, only elsewhere: chance
    assert locate("ninety days", index, cited=[1]) is None
    assert locate("notice of ninety days", index, cited=[1]) is not None  # 12+ characters
    assert locate("租金", CHINESE, cited=[3]) is None  # fewer than 4 CJK characters
    assert locate("解除合同", CHINESE, cited=[3]) is not None  # 4 CJK characters


# --- verifying ---------------------------------------------------------------------------------


def test_each_status_and_the_true_pages() -> None:
    checked = verify(
        [
            Citation("Rent is due first", (1,), "pay the rent on the first day of each month"),
            Citation("Notice period", (2,), "written notice of ninety days"),
            Citation("Keys and info", (3,), "keeps the keys and all information about the"),
            Citation("Dragons", (1,), "the Tenant may keep a dragon in the garden"),
            Citation("No quote", (4,), None),
            Citation("Spanning", (2, 3), "deposit in a safe"),
        ],
        ENGLISH,
    )
    assert [(c.status, c.pages, c.cited_pages) for c in checked] == [
        ("verified", (1,), (1,)),
        ("corrected", (4,), (2,)),
        ("corrected", (2,), (3,)),
        ("unsupported", (), (1,)),
        ("unsupported", (), (4,)),
        ("verified", (2, 3), (2, 3)),
    ]


def test_a_quote_on_two_pages_is_verified_when_either_is_cited() -> None:
    [checked] = verify([Citation("x", (3,), "information about the deposit in a safe")], ENGLISH)
    assert (checked.status, checked.pages) == ("verified", (2, 3))


def test_the_summary_counts_and_says_what_happened() -> None:
    summary = VerificationSummary(41, 3, 2)
    assert summary.describe() == (
        "Citations: 41 verified, 3 corrected to their true page, 2 unsupported (marked ⚠)."
    )
    assert summary.describe("drop").endswith("2 unsupported (dropped).")
    assert VerificationSummary(5).describe() == (
        "Citations: 5 verified, 0 corrected to their true page, 0 unsupported."
    )
    assert VerificationSummary().describe() == "Citations: none to check."


# --- Markdown reports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("citation", "document", "pages"),
    [
        ("(p. 3)", None, (3,)),
        ("(pp. 3–4)", None, (3, 4)),
        ("(p. 3, 5)", None, (3, 5)),
        ("(a.pdf, p. 3)", "a.pdf", (3,)),
        ("（p. 3）", None, (3,)),
        ("（pp. 3，5）", None, (3, 5)),
    ],
)
def test_the_citation_pattern(citation: str, document: str | None, pages: tuple[int, ...]) -> None:
    match = CITATION.fullmatch(citation)
    assert match is not None
    assert match["document"] == document
    assert parse_pages(match["pages"]) == pages


def test_citations_are_written_with_ranges() -> None:
    assert format_citation((4, 3, 7)) == "(pp. 3–4, 7)"
    assert format_citation((9,), "a.pdf", fullwidth=True) == "（a.pdf, p. 9）"


REPORT = """# Lease

An overview without citations.

- **Rent** is paid on the first day (p. 3).
- The landlord keeps the keys (p. 2). The tenant may keep a dragon (p. 1).
- Notice takes ninety days (p. 4).

```
Code (p. 1) is not a claim.
```
"""
QUOTES = {
    "Rent is paid on the first day": "pay the rent on the ﬁrst day of each month",
    "The landlord keeps the keys": "The Landlord keeps the keys",
    "The tenant may keep a dragon": "the Tenant may keep a dragon in the garden",
}


def test_claims_are_cited_sentences_outside_headings_and_code() -> None:
    claims = find_claims(REPORT)
    assert [claim.key for claim in claims] == [
        "rent is paid on the first day",
        "the landlord keeps the keys",
        "the tenant may keep a dragon",
        "notice takes ninety days",
    ]
    assert claim_key("- *The*  Landlord keeps the keys (p. 9).") == "the landlord keeps the keys"
    after_the_end = find_claims("Rent is due. (p. 3). Keys are kept. Deposit (p. 4).")
    assert [(claim.text, claim.pages) for claim in after_the_end] == [
        ("Rent is due. (p. 3).", (3,)),
        ("Deposit (p. 4).", (4,)),
    ]


def test_a_claim_ends_where_a_sentence_ends_not_at_an_abbreviation_or_initial() -> None:
    claims = find_claims(
        "- Northwind Logistics Ltd. is a carrier, e.g. of freight. (p. 1)\n"
        "- 2) Sei X eine Menge auf X. Das gilt. (p. 2)\n"
        "- Acme Inc. (p. 3) The board met. (p. 4)"
    )
    assert [claim.text for claim in claims] == [
        "Northwind Logistics Ltd. is a carrier, e.g. of freight. (p. 1)",
        "2) Sei X eine Menge auf X. Das gilt. (p. 2)",
        "Acme Inc. (p. 3)",
        "The board met. (p. 4)",
    ]


def test_mark_mode_corrects_pages_marks_unsupported_claims_and_counts() -> None:
    checked = check_report(REPORT, QUOTES, ENGLISH)
    assert checked.text.splitlines()[4:7] == [
        "- **Rent** is paid on the first day (p. 1).",
        "- The landlord keeps the keys (p. 2). The tenant may keep a dragon (p. 1) ⚠ unsupported.",
        "- Notice takes ninety days (p. 4) ⚠ unsupported.",  # carries no quote
    ]
    assert "Code (p. 1) is not a claim." in checked.text
    assert checked.summary == VerificationSummary(1, 1, 2)
    assert checked.text.endswith(
        "\n\nCitations: 1 verified, 1 corrected to their true page, 2 unsupported (marked ⚠).\n"
    )


def test_a_corrected_claim_keeps_one_citation_of_its_true_page() -> None:
    report = "The landlord keeps the keys (p. 3) and more (pp. 4, 7).\n"
    quotes = {"The landlord keeps the keys and more": "The Landlord keeps the keys"}
    checked = check_report(report, quotes, ENGLISH)
    assert checked.text.splitlines()[0] == "The landlord keeps the keys (p. 2) and more."
    assert checked.citations[0].cited_pages == (3, 4, 7)


def test_drop_mode_removes_unsupported_claims_and_their_empty_lines() -> None:
    checked = check_report(REPORT, QUOTES, ENGLISH, unsupported="drop")
    assert checked.text.splitlines()[4:7] == [
        "- **Rent** is paid on the first day (p. 1).",
        "- The landlord keeps the keys (p. 2).",
        "",
    ]
    assert "ninety" not in checked.text.split("```")[0]
    assert checked.text.endswith("2 unsupported (dropped).\n")


def test_a_chinese_report_with_fullwidth_citations() -> None:
    report = (
        "- 租金于每月第一日支付（p. 3）。\n- 出租人可以养龙（p. 2）。\n- 押金五千元（p. 3）。\n"
    )
    quotes = {
        "租金于每月第一日支付": "每月第一日支付租金",
        "出租人可以养龙": "出租人可以养龙",
        "押金五千元": "押金为人民币5000元",
    }
    marked = check_report(report, quotes, CHINESE, marker="⚠ 未经核实")
    assert marked.text.splitlines()[:3] == [
        "- 租金于每月第一日支付（p. 2）。",
        "- 出租人可以养龙（p. 2） ⚠ 未经核实。",
        "- 押金五千元（p. 3）。",
    ]
    dropped = check_report(report, quotes, CHINESE, unsupported="drop")
    assert "养龙" not in dropped.text
    assert [c.status for c in dropped.citations] == ["corrected", "unsupported", "verified"]


def test_citations_name_their_document_once() -> None:
    text = "- Rent (p. 3).\n- Keys (b.pdf, p. 4).\n- 租金（pp. 5–6）"
    assert cite_document(text, "a.pdf") == (
        "- Rent (a.pdf, p. 3).\n- Keys (b.pdf, p. 4).\n- 租金(a.pdf, pp. 5–6)"
    )


def test_a_report_of_several_documents_checks_each_against_its_own() -> None:
    report = "- Rent monthly (a.pdf, p. 4).\n- 租金按月 (b.pdf, p. 2).\n- Other (c.pdf, p. 1).\n"
    quotes = {
        "Rent monthly": "pay the rent on the first day",
        "租金按月": "每月第一日支付租金",
        "Other": "the rent",
    }
    checked = check_report(report, quotes, {"a.pdf": ENGLISH, "b.pdf": CHINESE})
    assert checked.text.splitlines()[:3] == [
        "- Rent monthly (a.pdf, p. 1).",
        "- 租金按月 (b.pdf, p. 2).",
        "- Other (c.pdf, p. 1) ⚠ unsupported.",
    ]


def test_a_quote_said_twice_is_found_where_the_model_read_it() -> None:
    said = "The supplier shall deliver the audit report every quarter."
    pages = [Page(number, said if number in (2, 5) else "Nothing here.") for number in range(1, 7)]
    index = PageIndex.of(pages)
    anywhere = check_citation(Citation("delivery", (9,), said), index)
    near = check_citation(Citation("delivery", (9,), said), index, near=(4, 5, 6))
    cited = check_citation(Citation("delivery", (2,), said), index, near=(4, 5, 6))
    assert (anywhere.pages, anywhere.status) == ((2,), "corrected")
    assert (near.pages, near.status) == ((5,), "corrected")
    assert (cited.pages, cited.status) == ((2,), "verified")  # a cited page still comes first
