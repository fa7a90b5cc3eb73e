"""Pages without a usable text layer (issue 22): read as PDF input by Claude, by OCR offline,
or refused with both remedies named; page images too small to hold text stay "no text"."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.errors import InputError
from docanalyze.ingest import load_document
from docanalyze.ingest.ocr import (
    OCR_INSTALL,
    SCANNED_PAGE_TEXT,
    missing_ocr,
    read_scanned_pages,
)
from docanalyze.ingest.pdf import is_scanned_page
from docanalyze.models.base import MAX_PDF_PAGES, PDF_PAGE_TOKENS, ModelFeatures
from docanalyze.planning.plan import plan_run
from fakeserver import CitationErrors, FakeMessagesAPI
from tests.scanned_pdfs import text_pdf, write_scanned_pdf
from tests.test_grounded_pipeline import fact_pages

OCR_READY = missing_ocr() is None
needs_ocr = pytest.mark.skipif(not OCR_READY, reason=f"no OCR here: {missing_ocr()}")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("scans") / "scanned.pdf"
    return path, write_scanned_pdf(path, pages=3, facts_per_page=3, dpi=150)


def test_the_rule_measured_on_real_pages() -> None:
    a4 = 595 * 842 / 72 / 72  # square inches
    assert is_scanned_page("", a4, 1.0)  # a scan: no text layer
    assert is_scanned_page("12", a4, 0.9)  # a page number is no text layer for a page
    assert is_scanned_page("�" * 300 + "abc" * 40, a4, 1.0)  # garbled
    assert not is_scanned_page("A caption of a photo. " * 12, a4, 0.9)
    assert not is_scanned_page("", 4 * 4 / 72 / 72, 1.0)  # ImageMagick's 4-point pages
    assert not is_scanned_page("", a4, 0.02)  # a blank page with a logo


def test_image_pages_are_found_and_text_pages_are_not(
    scanned: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    path, _ = scanned
    assert [page.scanned for page in load_document(path).pages] == [True, True, True]
    texts = tmp_path / "text.pdf"
    texts.write_bytes(text_pdf([["Some words on a page of text."] * 30] * 2))
    assert [page.scanned for page in load_document(texts).pages] == [False, False]


def test_without_claude_or_ocr_the_error_names_both_remedies(
    scanned: tuple[Path, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("docanalyze.ingest.ocr.missing_ocr", lambda: "install the OCR extra")
    with pytest.raises(InputError) as raised:
        read_scanned_pages(load_document(scanned[0]), ModelFeatures())
    message = str(raised.value)
    assert "pages 1–3 have no text layer" in message
    assert "ANTHROPIC_API_KEY" in message and "OCR extra" in message


def test_images_too_small_for_text_still_say_no_text(corpus_dir: Path) -> None:
    path = corpus_dir / "imagemagick-images.pdf"
    with pytest.raises(InputError, match="no extractable text on any of its 6 pages"):
        load_document(path)


def test_claude_reads_image_pages_as_pdf_pages(scanned: tuple[Path, dict[str, int]]) -> None:
    document = read_scanned_pages(load_document(scanned[0]), ModelFeatures(pdf_pages=True))
    assert [page.text for page in document.pages] == [SCANNED_PAGE_TEXT] * 3
    assert all(page.scan for page in document.pages)


@pytest.mark.slow
@needs_ocr
def test_offline_ocr_finds_the_planted_facts(scanned: tuple[Path, dict[str, int]]) -> None:
    path, facts = scanned
    result = CliRunner().invoke(
        cli, ["report", str(path), "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    found = fact_pages(result.stdout.replace("\\n", "\n"))
    right = [fact for fact, page in facts.items() if page in found.get(fact, set())]
    assert len(right) >= 0.95 * len(facts), (right, facts)


@pytest.mark.slow
@needs_ocr
def test_offline_ocr_reads_chinese_page_images(tmp_path: Path) -> None:
    from tests.scanned_pdfs import CJK_FONT, write_scanned_chinese_pdf

    if not CJK_FONT.exists():
        if os.environ.get("CI"):
            raise AssertionError(f"{CJK_FONT} is missing: .ci/run installs fonts-wqy-microhei")
        pytest.skip("no Chinese font to render the pages (apt-get install fonts-wqy-microhei)")
    path = tmp_path / "scanned-zh.pdf"
    facts = write_scanned_chinese_pdf(path)
    result = CliRunner().invoke(
        cli, ["report", str(path), "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    text = report["report"]
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    for fact, page in facts.items():  # each fact's bullet cites its own page
        assert (
            [line for line in bullets if fact in line]
            == [line for line in bullets if fact in line and line.endswith(f"(p. {page})")]
            != []
        ), (fact, text)
    assert "维修队在读数显示缓慢泄漏的地方更换了磨损的密封件" in text  # Chinese read as written,
    assert "泵 站" not in text  # without Tesseract's spaces between the characters,
    assert not [row for row in report["citations"] if row["status"] == "unsupported"]


@pytest.fixture
def claude(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def point_at(server: FakeMessagesAPI) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)

    yield point_at


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="the fake reads page images by OCR")
def test_claude_gets_image_pages_as_pdf_documents_and_cites_them(
    scanned: tuple[Path, dict[str, int]], make_fake_api: Any, claude: Any
) -> None:
    path, facts = scanned
    server = make_fake_api(citation_errors=CitationErrors())
    claude(server)
    result = CliRunner().invoke(
        cli, ["report", str(path), "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    pdf_blocks = [
        block
        for request in server.requests
        if request.status == 200
        for message in request.body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "document" and block["source"]["type"] == "base64"
    ]
    assert {block["title"] for block in pdf_blocks} == {"Page 1", "Page 2", "Page 3"}
    for block in pdf_blocks:
        assert base64.b64decode(block["source"]["data"]).count(b"/Type /Page\n") <= MAX_PDF_PAGES
    map_requests = [
        json.dumps(request.body)
        for request in server.requests
        if request.status == 200 and '"application/pdf"' in json.dumps(request.body)
    ]
    assert map_requests and not any("FACT-" in body for body in map_requests)  # no OCR text sent
    found = fact_pages(report["report"])
    assert {fact: found.get(fact) for fact in facts} == {f: {p} for f, p in facts.items()}
    if OCR_READY:  # docanalyze reads the page images too, and checks their citations
        assert "⚠" not in report["report"] and "without OCR" not in report["report"]
        assert {row["status"] for row in report["citations"]} == {"verified"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="the fake reads page images by OCR")
def test_without_ocr_citations_of_image_pages_are_not_checked_and_the_note_says_why(
    scanned: tuple[Path, dict[str, int]],
    make_fake_api: Any,
    claude: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("docanalyze.ingest.ocr.missing_ocr", lambda: "install the OCR extra")
    claude(make_fake_api(citation_errors=CitationErrors()))
    result = CliRunner().invoke(
        cli, ["report", str(scanned[0]), "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    statuses = [row["status"] for row in report["citations"]]
    assert statuses and set(statuses) == {"unsupported"}
    assert (
        f"{len(statuses)} citations point at page images docanalyze cannot read without OCR, "
        f"so they were not checked: {OCR_INSTALL} to check them."
    ) in report["report"]


def test_a_plan_counts_each_image_page_at_the_published_page_cost(
    scanned: tuple[Path, dict[str, int]],
) -> None:
    plan = plan_run(str(scanned[0]))  # Claude's plan: no key needed, nothing sent
    mapped = plan.stages[0]
    assert mapped.stage == "map"
    assert mapped.input_tokens >= 3 * PDF_PAGE_TOKENS
    assert mapped.input_tokens < 3 * PDF_PAGE_TOKENS + 3_000  # the prompt and titles on top


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="the fake reads page images by OCR")
def test_a_combined_report_reads_the_page_images_of_each_document(
    scanned: tuple[Path, dict[str, int]], make_fake_api: Any, claude: Any, tmp_path: Path
) -> None:
    path, facts = scanned
    text = tmp_path / "notes.txt"
    text.write_text("The notes say the pumps were serviced in May.", encoding="utf-8")
    server = make_fake_api(citation_errors=CitationErrors())
    claude(server)
    result = CliRunner().invoke(
        cli, ["report", str(path), str(text), "--combine"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    sent = [json.dumps(request.body) for request in server.requests if request.status == 200]
    assert any('"application/pdf"' in body for body in sent)  # the page images went as PDF
    assert all(fact in result.stdout for fact in facts), result.stdout
