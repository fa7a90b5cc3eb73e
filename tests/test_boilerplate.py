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
    ["12", "- 12 -", "Page 12 of 40", "page 12", "12 / 40", "第 12 页", "第12页 共40页", "xii"],
)
def test_bare_page_numbers_at_the_top_or_bottom_go(line: str) -> None:
    body = "The pump failed twice in March.\nRepairs cost 4,000 euros.\nThe crew was paid."
    pages, count = clean_pages([f"{body}\n{line}", f"{line}\n{body}"])
    assert pages == [body, body]
    assert count.page_numbers == 2


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
