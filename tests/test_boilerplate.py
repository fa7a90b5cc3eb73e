"""Boilerplate out before chunking (running headers and footers, page numbers, dot leaders,
hyphenation, line fragments), and an offline report worth reading on real documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from docanalyze.cli.app import cli
from docanalyze.ingest import load_document
from docanalyze.ingest.boilerplate import clean_pages, without_boilerplate
from docanalyze.models.extractive.textunits import is_heading, split_sentences
from fixtures.texts import SAMPLE_EN
from tests.boilerplate_pdfs import FACTS, SECTIONS, write_report_pdf

BOILERPLATE = re.compile(r"National Hydro Network|Internal use only|\.{4}|^- \d+ -$", re.MULTILINE)
BULLET = re.compile(r"^- (.+?)(?: \(pp?\. [^)]*\))?$", re.MULTILINE)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def pdfs(tmp_path: Path) -> tuple[Path, Path]:
    """The PDF with a running header, footer, page numbers and a contents page, and the same
    text without them."""
    with_boilerplate, clean = tmp_path / "report.pdf", tmp_path / "clean.pdf"
    write_report_pdf(with_boilerplate)
    write_report_pdf(clean, boilerplate=False)
    return with_boilerplate, clean


def report_json(path: Path, *options: str) -> dict[str, object]:
    code, out, err = invoke(
        "report", str(path), "--format", "json", "--backend", "extractive", *options
    )
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def chunk_texts(result: dict[str, object]) -> str:
    chunks = result["chunks"]
    assert isinstance(chunks, list)
    return "\n".join(chunk["text"] for chunk in chunks)


def test_the_pages_lose_header_footer_page_numbers_and_dot_leaders_and_keep_every_fact(
    pdfs: tuple[Path, Path],
) -> None:
    with_boilerplate, clean = pdfs
    cleaned = without_boilerplate(load_document(with_boilerplate))
    expected = without_boilerplate(load_document(clean))
    assert [page.text for page in cleaned.pages] == [page.text for page in expected.pages]
    assert all(fact in cleaned.text for fact in FACTS)
    assert not BOILERPLATE.search(cleaned.text)


def test_json_chunks_hold_no_boilerplate_and_the_facts_of_the_clean_pdf(
    pdfs: tuple[Path, Path],
) -> None:
    with_boilerplate, clean = pdfs
    result = report_json(with_boilerplate)
    texts = chunk_texts(result)
    assert not BOILERPLATE.search(texts), texts
    assert {fact for fact in FACTS if fact in texts} == set(FACTS)
    assert {fact for fact in FACTS if fact in chunk_texts(report_json(clean))} == set(FACTS)
    assert not BOILERPLATE.search(str(result["report"]))
    assert result["boilerplate"] == {
        "headers": 6,
        "footers": 6,
        "page_numbers": 6,
        "dot_leaders": len(SECTIONS),
    }


def test_keep_boilerplate_keeps_the_lines_and_counts_nothing(pdfs: tuple[Path, Path]) -> None:
    result = report_json(pdfs[0], "--keep-boilerplate")
    assert "National Hydro Network" in chunk_texts(result)
    assert result["boilerplate"] is None


@pytest.mark.parametrize(
    "line",
    ["{}", "- {} -", "Page {} of 40", "page {}", "{} / 40", "第 {} 页", "第{}页 共40页"],
)
def test_bare_page_numbers_at_the_top_or_bottom_go(line: str) -> None:
    body = "The pump failed twice in March.\nRepairs cost 4,000 euros.\nThe crew was paid."
    pages, count = clean_pages([f"{body}\n{line.format(12)}", f"{line.format(13)}\n{body}"])
    assert pages == [body, body]
    assert count.page_numbers == 2


def test_roman_page_numbers_go() -> None:
    body = "The pump failed twice in March.\nRepairs cost 4,000 euros.\nThe crew was paid."
    pages, count = clean_pages([f"{body}\nxii", f"{body}\nxiii"], [12, 13])
    assert pages == [body, body]
    assert count.page_numbers == 2


def test_a_quantity_alone_at_the_bottom_of_a_page_stays() -> None:
    pages = [f"Invoice {i}\nUnits shipped\n{i * 40}" for i in range(1, 4)]
    cleaned, count = clean_pages([*pages, "Approved", "12"])
    assert all(text.endswith(f" {i * 40}") for i, text in zip(range(1, 4), cleaned))
    assert cleaned[-1] == "12"
    assert count.page_numbers == 0


def test_invoice_pages_keep_their_numbers_dates_and_amounts() -> None:
    body = "\n".join(f"The tenant shall keep the premises in repair, line {j}." for j in range(12))
    lines = [
        (f"Invoice no. {4711 + i}", f"Date: 2024-03-{10 + i}", f"Amount due: {i * 1250} EUR")
        + (body, f"Total paid: {i * 300} EUR", f"Balance: {i * 950} EUR")
        for i in range(1, 6)
    ]
    cleaned, count = clean_pages(["\n".join(page) for page in lines])
    assert cleaned == ["\n".join(page) for page in lines]
    assert count.total == 0


@pytest.mark.parametrize(
    "line",
    ["Year {year} revenue 4{i}5 million", "Date: 2024-0{i}-1{i}", "Page subtotal: {subtotal} USD"],
)
@pytest.mark.parametrize("top", [True, False])
def test_an_edge_line_whose_numbers_vary_as_content_stays(line: str, top: bool) -> None:
    body = "The board approved the budget.\nAttendance was full.\nNo objections.\nThe end."
    lines = [line.format(i=i, year=2019 + i, subtotal=137 * i) for i in range(1, 5)]
    pages = [f"{edge}\n{body}" if top else f"{body}\n{edge}" for edge in lines]
    cleaned, _ = clean_pages(pages)
    assert all(edge in text for edge, text in zip(lines, cleaned))


def test_a_header_with_the_page_number_goes() -> None:
    body = "The pump failed twice in March.\nRepairs cost 4,000 euros.\nThe crew was paid."
    header = "Report 2023 - page {} of 12"
    pages = [f"{header.format(n)}\n{body}\nGeoBase® {n + 2}" for n in range(4, 9)]
    cleaned, count = clean_pages(pages, range(4, 9))
    assert cleaned == [body] * 5
    assert (count.headers, count.footers) == (5, 5)


def test_a_fee_schedule_keeps_its_dot_leader_lines() -> None:
    pages = [
        f"Schedule of fees, part {i}\nFiling fee .......... {100 + i}\nLate fee ........ 25\n"
        f"Copy fee ........ 3\nThe fees above apply from 2024 onward and are payable in advance."
        for i in range(1, 4)
    ]
    cleaned, count = clean_pages(pages)
    assert all("Filing fee" in text and "Late fee ........ 25" in text for text in cleaned)
    assert count.dot_leaders == 0


def test_a_table_of_contents_goes() -> None:
    contents = (
        "Contents\nPreface ...... ii\n1 Scope ........ 1\n2 Gauges ...... 3\n3 Lakes ...... 3"
    )
    cleaned, count = clean_pages([contents, "One.", "Two.", "Three."])
    assert cleaned[0] == "Contents"
    assert count.dot_leaders == 4


def test_a_number_inside_the_page_stays() -> None:
    text = "Readings per day:\n12\nThe pump failed.\nRepairs cost money.\nThe crew was paid.\nEnd."
    assert "\n12\n" in clean_pages([text])[0][0]


def test_words_hyphenated_across_line_ends_are_joined() -> None:
    pages, _ = clean_pages(["The docu-\nment was signed in 2004-\n06 by the well-\nknown Board."])
    assert pages == ["The document was signed in 2004-\n06 by the wellknown Board."]


def test_line_fragments_are_joined_into_sentences_and_headings_keep_their_line() -> None:
    ocr = "Results\nThe survey found that\nmost stations were\nin good repair.\nNext steps\n- Fix the pumps"
    pages, _ = clean_pages([ocr])
    assert pages == [
        "Results\nThe survey found that most stations were in good repair.\nNext steps\n- Fix the pumps"
    ]


@pytest.mark.parametrize(
    ("text", "heading"),
    [
        ("Risks and Outlook", True),
        ("Letter from the Chief Executive", True),
        ("2.1 Scope of the model", True),
        ("SUSTAINABILITY", True),
        ("风险与展望", True),
        ("There were no fatal accidents.", False),
        ("Net profit was EUR 27.3 million", False),
        ("营业收入增长了百分之六。", False),
    ],
)
def test_headings_are_told_from_statements(text: str, heading: bool) -> None:
    assert is_heading(text) is heading


def test_the_offline_report_of_the_sample_has_no_heading_and_one_bullet_per_sentence(
    fixtures_dir: Path,
) -> None:
    code, out, err = invoke(
        "report", str(fixtures_dir / "sample-en.pdf"), "--backend", "extractive"
    )
    assert code == 0, err
    bullets = BULLET.findall(out.split("## Key points", 1)[1])
    headings = {heading for heading, _ in SAMPLE_EN}
    sentences = [
        sentence
        for _, paragraphs in SAMPLE_EN
        for paragraph in paragraphs
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", paragraph)
    ]
    assert bullets and not headings & set(bullets)
    assert len(bullets) <= len(sentences)
    assert set(bullets) <= set(sentences), set(bullets) - set(sentences)


def test_the_offline_report_of_a_latex_pdf_quotes_no_page_number(corpus_dir: Path) -> None:
    code, out, err = invoke(
        "report", str(corpus_dir / "pdflatex-4-pages.pdf"), "--backend", "extractive"
    )
    assert code == 0, err
    bullets = BULLET.findall(out)
    assert bullets
    assert not [bullet for bullet in bullets if re.search(r"(?:^|\s)\d$", bullet)], bullets


def test_a_sentence_ending_in_a_decimal_number_ends_there() -> None:
    assert split_sentences("The ratio improved from 1.9 to 1.4. Capital expenditure rose.") == [
        "The ratio improved from 1.9 to 1.4.",
        "Capital expenditure rose.",
    ]
