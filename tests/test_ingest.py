"""Loading documents: the fixtures, both PDF extractors, every kind of bad input, encodings."""

from __future__ import annotations

import importlib.util
import io
import random
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from docanalyze.document import Document
from docanalyze.errors import InputError
from docanalyze.ingest import document_from_text, load_document, pdf
from docanalyze.ingest.normalize import normalize_page_text

FIXTURE_TEXTS_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "texts.py"


def _load_fixture_texts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fixture_texts", FIXTURE_TEXTS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


texts = _load_fixture_texts()


def words(text: str) -> str:
    """Text with every run of whitespace made one space: PDF line wraps do not matter."""
    return " ".join(text.split())


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A small text PDF with one line of text per page."""
    pdf_canvas = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    for text in pages:
        pdf_canvas.drawString(72, 720, text)
        pdf_canvas.showPage()
    pdf_canvas.save()
    return path


def make_encrypted_pdf(path: Path, password: str) -> Path:
    plain = make_pdf(path.with_name("plain.pdf"), ["Confidential terms of the contract."])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password=password, owner_password="owner-secret", algorithm="AES-128")
    with path.open("wb") as stream:
        writer.write(stream)
    return path


def assert_one_line_error(load: Callable[[], Document], *fragments: str) -> str:
    with pytest.raises(InputError) as caught:
        load()
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    for fragment in fragments:
        assert fragment in message
    return message


# --- the bundled fixtures -------------------------------------------------------------------


def test_english_pdf_pages_match_the_fixture_text(fixtures_dir: Path) -> None:
    document = load_document(fixtures_dir / "sample-en.pdf")
    assert document.source == str(fixtures_dir / "sample-en.pdf")
    assert [page.number for page in document.pages] == list(range(1, len(texts.SAMPLE_EN) + 1))
    for page, (heading, paragraphs) in zip(document.pages, texts.SAMPLE_EN):
        assert page.text.startswith(heading)
        assert words(page.text) == words(texts.page_text((heading, paragraphs)))


def test_chinese_pdf_pages_match_the_fixture_text(fixtures_dir: Path) -> None:
    document = load_document(fixtures_dir / "sample-zh.pdf")
    assert document.page_count == len(texts.SAMPLE_ZH)
    for page, (heading, paragraphs) in zip(document.pages, texts.SAMPLE_ZH):
        # Wrapped lines are joined; the heading and each paragraph keep their own line.
        assert page.text.split("\n") == [heading, *paragraphs]


def test_text_fixture_pages_are_split_at_form_feeds(fixtures_dir: Path) -> None:
    document = load_document(fixtures_dir / "sample.txt")
    assert document.page_count == len(texts.SAMPLE_TXT)
    for page, expected in zip(document.pages, texts.SAMPLE_TXT):
        assert words(page.text) == words(texts.page_text(expected))


@pytest.mark.parametrize("fixture", ["sample-en.pdf", "sample-zh.pdf"])
def test_pypdf_fallback_reads_the_same_text(fixtures_dir: Path, fixture: str) -> None:
    data = (fixtures_dir / fixture).read_bytes()
    by_pdfium = [normalize_page_text(text) for text in pdf.pdfium_page_texts(data, fixture)]
    by_pypdf = [normalize_page_text(text) for text in pdf.pypdf_page_texts(data, fixture)]
    assert [words(text) for text in by_pypdf] == [words(text) for text in by_pdfium]


def test_load_falls_back_to_pypdf_when_pdfium_cannot_open(
    fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pdfium_fails(data: bytes, name: str, password: str | None = None) -> list[str]:
        raise pdf.PdfUnreadable("forced by the test")

    monkeypatch.setattr(pdf, "pdfium_page_texts", pdfium_fails)
    document = load_document(fixtures_dir / "sample-en.pdf")
    assert document.page_count == len(texts.SAMPLE_EN)
    assert words(document.pages[2].text) == words(texts.page_text(texts.SAMPLE_EN[2]))


def test_pdf_that_only_pypdf_can_repair_keeps_its_pages(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "made.pdf", ["First page text.", "Second page text."]).read_bytes()
    # The trailer points at a catalog that does not exist: pypdf searches for it, PDFium gives up.
    broken = re.sub(rb"/Root \d+ 0 R", b"/Root 999 0 R", data)
    assert broken != data
    path = tmp_path / "bad-root.pdf"
    path.write_bytes(broken)
    with pytest.raises(pdf.PdfUnreadable):
        pdf.pdfium_page_texts(broken, "bad-root.pdf")
    document = load_document(path)
    assert [(page.number, page.text) for page in document.pages] == [
        (1, "First page text."),
        (2, "Second page text."),
    ]


def test_pdfium_is_safe_to_use_from_many_threads(fixtures_dir: Path) -> None:
    paths = [fixtures_dir / "sample-en.pdf", fixtures_dir / "sample-zh.pdf"] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        documents = list(pool.map(load_document, paths))
    assert documents[0::2] == [documents[0]] * 4
    assert documents[1::2] == [documents[1]] * 4


def test_a_pdf_is_recognized_by_content_whatever_its_name(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "real.pdf", ["Quarterly figures."]).read_bytes()
    disguised = tmp_path / "notes.txt"
    disguised.write_bytes(data)
    assert load_document(disguised).text == "Quarterly figures."


# --- stdin and in-memory text ---------------------------------------------------------------


def test_stdin_text(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = SimpleNamespace(buffer=io.BytesIO(b"page one\fpage two\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    document = load_document("-")
    assert document.source == "<stdin>"
    assert [(page.number, page.text) for page in document.pages] == [
        (1, "page one"),
        (2, "page two"),
    ]


def test_stdin_pdf(monkeypatch: pytest.MonkeyPatch, fixtures_dir: Path) -> None:
    stdin = SimpleNamespace(buffer=io.BytesIO((fixtures_dir / "sample-en.pdf").read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    document = load_document("-")
    assert document.source == "<stdin>"
    assert document.page_count == len(texts.SAMPLE_EN)


def test_empty_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(b"")))
    assert_one_line_error(lambda: load_document("-"), "<stdin> is empty")


def test_document_from_text_numbers_form_feed_pages() -> None:
    document = document_from_text("alpha\r\n\fbeta\x00\f\f", source="notes")
    assert document.source == "notes"
    assert [(page.number, page.text) for page in document.pages] == [(1, "alpha"), (2, "beta")]


def test_markdown_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# Title\n\nSome *emphasis*.\n", encoding="utf-8")
    assert load_document(path).text == "# Title\n\nSome *emphasis*."


def test_empty_pages_in_the_middle_keep_the_numbering(tmp_path: Path) -> None:
    path = tmp_path / "gaps.txt"
    path.write_text("one\f\fthree", encoding="utf-8")
    assert [page.text for page in load_document(path).pages] == ["one", "", "three"]


# --- encodings ------------------------------------------------------------------------------

CHINESE = (
    "二〇二三年，本公司实现营业收入十二亿三千万元，同比增长百分之十五。"
    "董事会决定向全体股东派发现金红利。我们在深圳新建了研发中心，研发人员增至三百二十人！"
)
FRENCH = (
    "L'été dernier, la société a ouvert un nouveau bureau à Montréal. Les employés étaient très "
    "contents du déménagement, malgré les difficultés liées à la crise énergétique."
)
GERMAN = "Die Größe des Unternehmens hat sich verdoppelt. Über zweihundert Mitarbeiter in München."


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        (CHINESE, CHINESE.encode("utf-8")),
        (FRENCH, b"\xef\xbb\xbf" + FRENCH.encode("utf-8")),
        (CHINESE, CHINESE.encode("utf-16")),
        (CHINESE, b"\xff\xfe" + CHINESE.encode("utf-16-le")),
        (CHINESE, b"\xfe\xff" + CHINESE.encode("utf-16-be")),
        (CHINESE, CHINESE.encode("gb18030")),
        (CHINESE, CHINESE.encode("gbk")),
        ("年度报告", "年度报告".encode("gbk")),
        (FRENCH, FRENCH.encode("latin-1")),
        (GERMAN, GERMAN.encode("latin-1")),
        ("Größe über", "Größe über".encode("latin-1")),
        ("“Smart quotes” – and dashes", "“Smart quotes” – and dashes".encode("cp1252")),
    ],
    ids=[
        "utf-8",
        "utf-8-bom",
        "utf-16",
        "utf-16-le-bom",
        "utf-16-be-bom",
        "gb18030",
        "gbk",
        "gbk-short",
        "latin-1-french",
        "latin-1-german",
        "latin-1-short",
        "cp1252",
    ],
)
def test_encodings_round_trip(tmp_path: Path, text: str, encoded: bytes) -> None:
    path = tmp_path / "document.txt"
    path.write_bytes(encoded)
    assert load_document(path).text == text


# --- bad input ------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pdf"
    assert_one_line_error(lambda: load_document(path), str(path), "does not exist")


def test_directory(tmp_path: Path) -> None:
    assert_one_line_error(lambda: load_document(tmp_path), str(tmp_path), "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert_one_line_error(lambda: load_document(path), str(path), "is empty")


def test_blank_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(b" \n\t\n\f \n")
    assert_one_line_error(lambda: load_document(path), str(path), "only blank space")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("text", encoding="utf-8")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert_one_line_error(lambda: load_document(path), str(path), "permission denied")


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "PNG"),
        ("archive.zip", b"PK\x03\x04\x14\x00\x00\x00" + bytes(64), "ZIP"),
        ("noise.txt", random.Random(7).randbytes(4096), "binary"),
        ("noise-no-nul.bin", bytes(b or 1 for b in random.Random(8).randbytes(4096)), "binary"),
    ],
)
def test_binary_files_are_refused(tmp_path: Path, name: str, content: bytes, kind: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    message = assert_one_line_error(lambda: load_document(path), str(path), kind)
    assert "PDF, Word (.docx), HTML, text or Markdown" in message


def test_pdf_name_without_pdf_content(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_text("this is not a PDF", encoding="utf-8")
    assert_one_line_error(lambda: load_document(path), str(path), "not a readable PDF")


@pytest.mark.parametrize("cut", ["garbage", "truncated"])
def test_broken_pdf(tmp_path: Path, fixtures_dir: Path, cut: str) -> None:
    data = (fixtures_dir / "sample-en.pdf").read_bytes()
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"garbage " * 200 if cut == "garbage" else data[:2000])
    assert_one_line_error(lambda: load_document(path), str(path), "not a readable PDF")


def test_pdf_without_text(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    pdf_canvas = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    for _ in range(2):
        pdf_canvas.rect(100, 100, 300, 400, fill=1)
        pdf_canvas.showPage()
    pdf_canvas.save()
    assert_one_line_error(
        lambda: load_document(path), str(path), "no extractable text on any of its 2 pages"
    )


@pytest.mark.parametrize("extractor", ["pdfium", "pypdf"])
def test_encrypted_pdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extractor: str) -> None:
    if extractor == "pypdf":
        monkeypatch.setattr(pdf, "pdfium_page_texts", _pdfium_cannot_open)
    path = make_encrypted_pdf(tmp_path / "contract.pdf", "s3cret")
    assert load_document(path, password="s3cret").text == "Confidential terms of the contract."
    assert_one_line_error(lambda: load_document(path), f"{path} is encrypted: pass --password")
    assert_one_line_error(
        lambda: load_document(path, password="guess"), str(path), "the password is wrong"
    )


def _pdfium_cannot_open(data: bytes, name: str, password: str | None = None) -> list[str]:
    raise pdf.PdfUnreadable("forced by the test")


def test_file_name_with_a_line_break_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "two\nlines.txt"
    path.write_bytes(b"")
    assert_one_line_error(lambda: load_document(path), "two\\nlines.txt is empty")
