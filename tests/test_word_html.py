"""Word (.docx) and HTML documents (issue 22, point 3): read through mammoth and markdownify with
headings, lists and tables kept as Markdown, cut into sections that stand in for pages, and cited
by section, ``(§ 2: 1. Payment terms)``, offline and through the fake Messages API."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docanalyze.citations.pages import CITATION, format_sections
from docanalyze.citations.sections import cite_sections
from docanalyze.cli import cli
from docanalyze.document import Document, Page
from docanalyze.errors import InputError
from docanalyze.ingest import document_from_bytes, load_document
from docanalyze.ingest.chunking import chunks_to_analyze
from docanalyze.ingest.sections import MAX_SECTION_CHARS, markdown_sections
from docanalyze.prompting.citable import page_citables
from docanalyze.run.combine import cite_document
from fakeserver import CitationErrors, FakeMessagesAPI
from tests.planted_markup import SECTIONS, planted_html, write_planted_docx, write_planted_html

MakeFakeApi = Callable[..., FakeMessagesAPI]
FACT = re.compile(r"FACT-\d+")

pytest.importorskip("docx", reason="python-docx (the test extra) writes the Word files")


@pytest.fixture
def planted_docx(tmp_path: Path) -> Path:
    return write_planted_docx(tmp_path / "agreement.docx")


@pytest.fixture
def planted_html_file(tmp_path: Path) -> Path:
    return write_planted_html(tmp_path / "agreement.html")


def report(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def fact_citations(text: str) -> dict[str, set[tuple[str | None, int, str | None]]]:
    """Each fact of a report and the citations after it (before the next citation): (document,
    number, heading); a page citation's heading is ``"p"``."""
    found: dict[str, set[tuple[str | None, int, str | None]]] = {}
    for line in text.splitlines():
        claim_start = 0
        for match in CITATION.finditer(line):
            heading = match["heading"] if match["cite"][0] == "§" else "p"
            for fact in FACT.findall(line[claim_start : match.start()]):
                found.setdefault(fact, set()).add((match["document"], int(match["pages"]), heading))
            claim_start = match.end()
    return found


def fact_sections(text: str) -> dict[str, set[tuple[int, str | None]]]:
    """Each fact of a report and the sections cited for it: (number, heading)."""
    return {
        fact: {(number, heading) for _, number, heading in cited}
        for fact, cited in fact_citations(text).items()
    }


def assert_each_fact_cites_its_section(text: str) -> None:
    assert fact_sections(text) == {fact: {section} for fact, section in SECTIONS.items()}, text
    assert "<html" not in text and "<body" not in text and "(p." not in text


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["docx", "html"])
def test_headings_lists_and_tables_come_out_as_markdown_sections(
    kind: str, planted_docx: Path, planted_html_file: Path
) -> None:
    document = load_document(planted_docx if kind == "docx" else planted_html_file)

    labels = [(page.number, page.label) for page in document.pages]
    assert labels == sorted(set(SECTIONS.values()))
    payment, prices = document.pages[1].text, document.pages[2].text
    assert payment.startswith(("# 1. Payment terms", "## 1. Payment terms"))
    assert "- FACT-0003 the deposit is 5,000 euros." in payment.splitlines()
    assert "| FACT-0004 Hosting | 250 EUR |" in prices.splitlines()
    assert re.search(r"^\| --- \| --- \|$", prices, re.MULTILINE)
    chunks = chunks_to_analyze(document, chunk_size=100_000, chunk_overlap=0)
    assert "| Service | Price |\n| --- | --- |" in chunks[0].text


def test_an_html_page_loses_its_markup_head_script_and_style(planted_html_file: Path) -> None:
    text = load_document(planted_html_file).text

    assert not re.search(r"</?(html|body|p|td|li|h\d)\b", text)
    assert "secret" not in text and "color" not in text and "Agreement page" not in text


def test_html_is_known_by_its_start_without_a_suffix() -> None:
    document = document_from_bytes(planted_html().encode(), "-")

    assert document.pages[0].label == "Service agreement"
    assert "<!DOCTYPE" not in document.text


def test_a_folder_run_picks_up_word_and_html_files(
    tmp_path: Path, planted_docx: Path, planted_html_file: Path
) -> None:
    (tmp_path / "notes.txt").write_text("FACT-0009 the notes are plain.", encoding="utf-8")
    out = tmp_path / "out"

    code, _, err = report(str(tmp_path), "-o", str(out))

    assert code == 0, err
    assert sorted(path.name for path in out.glob("*.md")) == [
        "agreement.docx.md",
        "agreement.html.md",
        "notes.md",
    ]
    for name in ("agreement.docx.md", "agreement.html.md"):
        assert_each_fact_cites_its_section((out / name).read_text("utf-8"))


def test_a_damaged_word_file_is_an_input_error(planted_docx: Path) -> None:
    data = planted_docx.read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(archive, "w") as damaged:
        for name in source.namelist():
            part = source.read(name)
            damaged.writestr(name, part[: len(part) // 2] if name == "word/document.xml" else part)

    with pytest.raises(InputError, match=r"x\.docx is not a readable Word file .*: re-save it"):
        document_from_bytes(archive.getvalue(), "x.docx")


# --- sections ------------------------------------------------------------------------------


def test_text_without_headings_is_labelled_by_its_paragraphs() -> None:
    sections = markdown_sections("One.\n\nTwo.\n\n# Later\n\nThree.")

    assert [(s.label, s.text) for s in sections] == [
        ("¶ 1–2", "One.\n\nTwo."),
        ("Later", "# Later\n\nThree."),
    ]


def test_a_long_section_is_cut_between_paragraphs_and_keeps_its_label() -> None:
    paragraph = "word " * 300
    sections = markdown_sections("## Terms (general)\n\n" + "\n\n".join([paragraph] * 8))

    assert len(sections) >= 3
    assert {s.label for s in sections} == {"Terms general"}
    assert all(len(s.text) <= MAX_SECTION_CHARS + len("## Terms (general)\n\n") for s in sections)


# --- citations -----------------------------------------------------------------------------


def test_section_citations_are_read_as_pages() -> None:
    text = "A (§ 2: 1. Payment terms). B (§§ 2–3). C （a.docx，§ 4: Support）. D (§ 1)."

    found = [(m["document"], m["pages"], m["heading"]) for m in CITATION.finditer(text)]

    assert found == [(None, "2", "1. Payment terms"), (None, "2–3", None)] + [
        ("a.docx", "4", "Support"),
        (None, "1", None),
    ]
    assert format_sections((3,), {3: "Prices"}) == "§ 3: Prices"
    assert format_sections((3, 4, 6), {3: "Prices"}) == "§§ 3–4, 6"
    assert cite_document("X (§ 2: Terms).", "a.docx") == "X (a.docx, § 2: Terms)."


def test_a_report_of_sections_cites_them_and_a_report_of_pages_is_left_alone(
    planted_docx: Path,
) -> None:
    document = load_document(planted_docx)
    paged = Document("a.pdf", tuple(Page(p.number, p.text) for p in document.pages))
    text = "- FACT-0002 (p. 2). Both (pp. 2–3), （p. 4） and (b.pdf, p. 1)."

    assert cite_sections(text, document) == (
        "- FACT-0002 (§ 2: 1. Payment terms). Both (§§ 2–3), （§ 4: 2.1 Support hours） "
        "and (b.pdf, p. 1)."
    )
    assert cite_sections(text, paged) == text


# --- reports: every planted fact with its section --------------------------------------------


@pytest.mark.parametrize("kind", ["docx", "html"])
def test_the_offline_report_cites_each_fact_by_its_section(
    kind: str, planted_docx: Path, planted_html_file: Path
) -> None:
    code, out, err = report(str(planted_docx if kind == "docx" else planted_html_file))

    assert code == 0, err
    assert_each_fact_cites_its_section(out)


@pytest.mark.parametrize("kind", ["docx", "html"])
def test_claude_through_the_fake_server_cites_each_fact_by_its_section(
    kind: str,
    planted_docx: Path,
    planted_html_file: Path,
    make_fake_api: MakeFakeApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_fake_api(citation_errors=CitationErrors())
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)

    path = planted_docx if kind == "docx" else planted_html_file
    code, out, err = report(str(path), "--format", "json")

    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    assert_each_fact_cites_its_section(result["report"])
    statuses = {c["status"] for c in result["citations"] if FACT.search(c["claim"])}
    assert statuses == {"verified"}
    assert server.requests, "the report was written by the fake Claude"


# --- the shared corpus's Word files ----------------------------------------------------------


def test_the_shared_corpus_word_files_read_or_fail_with_a_clear_message(
    corpus_dir: Path,
) -> None:
    simple = load_document(corpus_dir / "test.docx")
    untitled = load_document(corpus_dir / "sct-section-props.docx")

    assert [(p.label, p.text) for p in simple.pages] == [
        ("python-docx was here!", "# python-docx was here!\n\npython-docx was here too!")
    ]
    assert [p.label for p in untitled.pages] == ["¶ 1–5"]
    assert "Section 5 paragraph." in untitled.text
    for name in ("having-images.docx", "tbl-having-tables.docx"):  # an image, empty tables
        with pytest.raises(InputError, match=rf"{name} is a Word file with no text"):
            load_document(corpus_dir / name)


def test_a_combined_report_cites_the_word_file_by_section_and_names_it(
    tmp_path: Path, planted_docx: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("FACT-0009 the notes are plain text.", encoding="utf-8")

    code, out, err = report(str(planted_docx), str(notes), "--combine")

    assert code == 0, err
    cited = fact_citations(out)
    assert cited["FACT-0002"] == {("agreement.docx", 2, "1. Payment terms")}
    assert cited["FACT-0004"] == {("agreement.docx", 3, "2. Prices")}
    assert cited["FACT-0009"] == {("notes.txt", 1, "p")}


def test_claude_is_sent_each_section_titled_with_its_heading(planted_docx: Path) -> None:
    document = load_document(planted_docx)

    titles = [text.title for text in page_citables(document, 0, len(document.text))]

    assert titles[1:3] == ["Page 2 (section: 1. Payment terms)", "Page 3 (section: 2. Prices)"]
