"""Extraction from real-world PDFs made by other tools (skipped without ../shared/corpus)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docanalyze.errors import InputError
from docanalyze.ingest import load_document


def test_pdflatex_gives_four_pages_of_text(corpus_dir: Path) -> None:
    document = load_document(corpus_dir / "pdflatex-4-pages.pdf")
    assert [page.number for page in document.pages] == [1, 2, 3, 4]
    assert all("text" in page.text for page in document.pages)


def test_multicolumn_expands_ligatures_and_rejoins_hyphenated_words(corpus_dir: Path) -> None:
    text = load_document(corpus_dir / "multicolumn.pdf").text
    assert not re.search("[\x02\ufffe\ufb00-\ufb06]", text)
    assert "columns filled" in text
    # PDFium marks these as soft hyphens at line ends ("adip-" / "iscing").
    assert "consectetuer adipiscing elit. Ut purus elit" in text
    assert "Pellentesque habitant morbi tristique senectus" in text


def test_google_doc_reads(corpus_dir: Path) -> None:
    document = load_document(corpus_dir / "google-doc-document.pdf")
    assert document.page_count == 1
    assert document.pages[0].text.startswith("Example document")
    assert "Readability counts." in document.text


def test_encrypted_libreoffice_file_needs_its_password(corpus_dir: Path) -> None:
    path = corpus_dir / "libreoffice-writer-password.pdf"
    with pytest.raises(InputError, match="is encrypted: pass --password"):
        load_document(path)
    with pytest.raises(InputError, match="password is wrong"):
        load_document(path, password="not-it")
    assert "Lorem ipsum" in load_document(path, password="openpassword").text


def test_images_only_pdf_has_no_extractable_text(corpus_dir: Path) -> None:
    # Its pages carry the word "Background" placed outside the visible page; that is not text.
    with pytest.raises(InputError, match="no extractable text on any of its 6 pages"):
        load_document(corpus_dir / "imagemagick-images.pdf")


def test_multilang_keeps_chinese_japanese_and_russian(corpus_dir: Path) -> None:
    text = load_document(corpus_dir / "multilang.pdf").text
    assert "你好世界" in text
    assert "こんにちは世界" in text
    assert "Привет, мир" in text
