"""Reading the page images of a PDF that have no usable text layer, before a run.

A backend that reads PDF pages (Claude: ``features.pdf_pages``) gets them as PDF input: each such
page keeps its one-page PDF and takes :data:`SCANNED_PAGE_TEXT` as its text, which sizes it
for chunking; the map stage sends the PDF (:attr:`~docanalyze.models.base.CitableText.pdf`).
When OCR is available, it also reads them, for docanalyze alone: the text it finds is the
page's :attr:`~docanalyze.document.Page.read_text`, which the report's citations are checked
against (never sent). Without OCR, a citation of such a page cannot be checked and stays
unsupported, and the report's closing note says why.
Any other backend gets their text by OCR: Tesseract (``pip install 'docanalyze[ocr]'`` for
pytesseract, and the ``tesseract-ocr`` and ``tesseract-ocr-chi-sim`` system packages), English
and Simplified Chinese, each page rendered at :data:`OCR_DPI`. With neither, an
:class:`~docanalyze.errors.InputError` names both remedies.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import replace

from docanalyze.document import Document, Page
from docanalyze.errors import InputError
from docanalyze.events import Event, StageStarted, StepFinished
from docanalyze.models.base import ModelFeatures, Usage

__all__ = [
    "OCR_DPI",
    "OCR_INSTALL",
    "OCR_LANGUAGES",
    "SCANNED_PAGE_TEXT",
    "missing_ocr",
    "ocr_page",
    "read_scanned_pages",
]

OCR_DPI = 200
"""The resolution page images are rendered at for OCR."""
_SPACE_IN_CJK = re.compile(
    r"(?<=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]) +(?=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])"
)
"""Tesseract writes a space between the characters of Chinese text, which has none."""
OCR_LANGUAGES = ("eng", "chi_sim")
"""Tesseract's languages for OCR: English and Simplified Chinese."""
OCR_INSTALL = (
    "pip install 'docanalyze[ocr]' and apt-get install tesseract-ocr tesseract-ocr-chi-sim"
)
"""What to install for OCR."""
SCANNED_PAGE_TEXT = "[This page is an image: it is sent as a PDF page.]"
"""The text of a page image a backend reads as a PDF page."""


def read_scanned_pages(
    document: Document, features: ModelFeatures, emit: Callable[[Event], None] | None = None
) -> Document:
    """``document`` with its page images made readable for a backend with ``features`` (see
    the module docstring); ``emit`` receives the progress of OCR, its own stage (``"ocr"``,
    a step a page).

    Raises :class:`InputError` when neither way is available, or when OCR finds no text in a
    document that has no other."""
    scanned = [page for page in document.pages if page.scanned]
    if not scanned:
        return document
    missing = missing_ocr()
    if features.pdf_pages:
        read_texts = _ocr_pages(scanned, emit) if missing is None else {}
        return replace(
            document,
            pages=tuple(
                Page(
                    page.number,
                    SCANNED_PAGE_TEXT,
                    page.label,
                    page.scan,
                    read_texts.get(page.number),
                )
                if page.scanned
                else page
                for page in document.pages
            ),
        )
    if missing is not None:
        raise InputError(
            f"{document.source}: {_pages(scanned)} have no text layer (they are page images): "
            f"analyze it with Claude (set ANTHROPIC_API_KEY), which reads them as PDF pages, "
            f"or read them by OCR: {missing}"
        )
    read = _with_pages(document, _ocr_pages(scanned, emit))
    if not any(page.text for page in read.pages):
        raise InputError(
            f"{document.source}: no text on any of its {len(read.pages)} pages, "
            "not even by OCR: give a PDF with text in it"
        )
    return read


def missing_ocr() -> str | None:
    """What to install for OCR, or None when pytesseract, Tesseract and its languages are there."""
    if importlib.util.find_spec("pytesseract") is None:
        return f"install the OCR extra: {OCR_INSTALL}"
    if shutil.which("tesseract") is None:
        return "Tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-chi-sim"
    import pytesseract  # type: ignore[import-untyped]

    absent = [name for name in OCR_LANGUAGES if name not in pytesseract.get_languages()]
    if absent:
        packages = " ".join(f"tesseract-ocr-{name.replace('_', '-')}" for name in absent)
        return f"Tesseract lacks the languages {', '.join(absent)}: apt-get install {packages}"
    return None


def ocr_page(scan: bytes) -> str:
    """The text Tesseract reads on the first page of the PDF ``scan``, rendered at
    :data:`OCR_DPI` (normalized as every page's text is)."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]
    import pytesseract

    from docanalyze.ingest.normalize import normalize_page_text
    from docanalyze.ingest.pdf import PDFIUM_LOCK

    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(scan)
        try:
            page = document[0]
            image = page.render(scale=OCR_DPI / 72).to_pil()
            page.close()
        finally:
            document.close()
    # One thread a page: on a busy machine Tesseract's OpenMP threads make it 2-3 times slower.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    text = pytesseract.image_to_string(image, lang="+".join(OCR_LANGUAGES))
    return normalize_page_text(_SPACE_IN_CJK.sub("", str(text)))


def _ocr_pages(pages: list[Page], emit: Callable[[Event], None] | None) -> dict[int, str]:
    """The text OCR reads on each of ``pages`` by number, its progress to ``emit``."""
    texts: dict[int, str] = {}
    if emit is not None:
        emit(StageStarted("ocr", len(pages)))
    for page in pages:
        texts[page.number] = ocr_page(page.scan or b"")
        if emit is not None:
            emit(StepFinished("ocr", Usage()))
    return texts


def _with_pages(document: Document, texts: dict[int, str]) -> Document:
    """``document`` with the pages of ``texts`` given those texts, which replace their scans."""
    pages = tuple(
        page if page.number not in texts else Page(page.number, texts[page.number], page.label)
        for page in document.pages
    )
    return replace(document, pages=pages)


def _pages(pages: list[Page]) -> str:
    from docanalyze.citations.pages import format_pages

    numbers = tuple(page.number for page in pages)
    return ("page " if len(numbers) == 1 else "pages ") + format_pages(numbers).removeprefix(
        "p. "
    ).removeprefix("pp. ")
