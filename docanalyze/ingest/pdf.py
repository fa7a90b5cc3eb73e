"""Text extraction from PDFs: PDFium first, pypdf when PDFium cannot open the file.

PDFium also finds the pages without a usable text layer (:func:`is_scanned_page`): each one
comes with a PDF of just that page, to be read as an image (by Claude, or by OCR).

PDFium is not thread-safe, so every call into it happens under :data:`PDFIUM_LOCK`, and a
PDFium document is opened, read and closed inside one function: it never leaves this module.
"""

from __future__ import annotations

import io
import logging
import struct
import threading
import zlib
from dataclasses import dataclass, field

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_raw  # type: ignore[import-untyped]
from pypdf import PasswordType, PdfReader
from pypdf.errors import PdfReadError

from docanalyze.errors import InputError

__all__ = [
    "PDFIUM_LOCK",
    "PdfPage",
    "PdfUnreadable",
    "extract_pdf_pages",
    "is_scanned_page",
    "pdfium_page_texts",
    "pypdf_page_texts",
]

# pypdf logs its repairs of damaged files as warnings; they are not the user's business, and
# without a handler Python would print them to stderr.
logging.getLogger("pypdf").addHandler(logging.NullHandler())

PDFIUM_LOCK = threading.Lock()
"""Serializes every call into PDFium, which is not thread-safe."""


# pypdf reading a damaged file can fail with almost any exception type, not only PdfReadError.
_PYPDF_ERRORS = (
    PdfReadError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    AssertionError,
    OSError,
    RecursionError,
    zlib.error,
    struct.error,
)


_POINTS_PER_SQUARE_INCH = 72 * 72
MIN_SCAN_AREA = 1.0
"""Square inches a page needs to hold readable text (ImageMagick's 4-point image pages don't)."""
MIN_IMAGE_COVER = 0.3
"""The share of a page its images must cover for it to be a page image (a scan covers ~1.0)."""
MIN_CHARS_PER_SQUARE_INCH = 2.0
"""Below this, a text layer is too short for its page: measured, real pages of text hold 5-41
characters a square inch (1.4-2.2 for a few lines of Chinese, on pages without images)."""
MIN_LETTER_SHARE = 0.5
"""Below this share of letters and digits among its characters, a text layer is garbled:
measured, real text has 0.73-0.89."""


@dataclass(frozen=True)
class PdfPage:
    """One page of a PDF: its raw text, and for a page without a usable text layer
    (:func:`is_scanned_page`), a PDF of just that page (``scan``)."""

    text: str
    scan: bytes | None = field(default=None, repr=False)


class PdfUnreadable(Exception):
    """Raised by one extractor when it cannot open a PDF, so the next one can try."""


def is_scanned_page(text: str, area: float, image_cover: float) -> bool:
    """Whether a page of ``area`` square inches, its images covering ``image_cover`` of it, is
    a page image of text without a usable text layer: large enough to hold text, mostly image,
    and a text layer that is empty, too short for its area or garbled."""
    if area < MIN_SCAN_AREA or image_cover < MIN_IMAGE_COVER:
        return False
    characters = [c for c in text if not c.isspace()]
    if len(characters) < MIN_CHARS_PER_SQUARE_INCH * area:
        return True
    letters = sum(c.isalnum() for c in characters)
    return letters < MIN_LETTER_SHARE * len(characters)


def extract_pdf_pages(data: bytes, name: str, password: str | None = None) -> list[PdfPage]:
    """Each page of the PDF in ``data``, in page order: its raw text, and for a page image
    without a usable text layer, a PDF of that page (PDFium only: pypdf finds no page images).

    ``name`` is used in error messages. Raises :class:`InputError` when the PDF is encrypted
    and no password (or a wrong one) is given, or when neither PDFium nor pypdf can read it.
    """
    try:
        return _pdfium_pages(data, name, password)
    except PdfUnreadable:
        pass
    try:
        return [PdfPage(text) for text in pypdf_page_texts(data, name, password)]
    except PdfUnreadable:
        raise InputError(
            f"{name} is not a readable PDF (broken or truncated): re-export or repair it"
        ) from None


def pdfium_page_texts(data: bytes, name: str, password: str | None = None) -> list[str]:
    """Extract each page's text with PDFium; raise :class:`PdfUnreadable` if it cannot open it.

    Only text inside the page's box is taken: text placed outside the visible page (as some
    image converters do) is not part of the document.
    """
    return [page.text for page in _pdfium_pages(data, name, password)]


def _pdfium_pages(data: bytes, name: str, password: str | None) -> list[PdfPage]:
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data, password=password)
        except pdfium.PdfiumError as error:
            if error.err_code == pdfium_raw.FPDF_ERR_PASSWORD:
                raise _password_error(name, password) from None
            raise PdfUnreadable(str(error)) from None
        try:
            return [_pdfium_page(document, index) for index in range(len(document))]
        finally:
            document.close()


def _pdfium_page(document: pdfium.PdfDocument, index: int) -> PdfPage:
    page = document[index]
    try:
        text = _pdfium_page_text(page)
        width, height = page.get_size()
        area = width * height
        square_inches = area / _POINTS_PER_SQUARE_INCH
        # A page whose text would be real even under a full-page image needs no look at its images.
        if not area or not is_scanned_page(text, square_inches, 1.0):
            return PdfPage(text)
        covered = sum(_area(image.get_bounds()) for image in _images(page))
    finally:
        page.close()
    if not is_scanned_page(text, square_inches, covered / area):
        return PdfPage(text)
    return PdfPage(text, _single_page_pdf(document, index))


def _images(page: pdfium.PdfPage) -> list[pdfium.PdfImage]:
    return [
        item for item in page.get_objects(max_depth=3) if item.type == pdfium_raw.FPDF_PAGEOBJ_IMAGE
    ]


def _area(bounds: tuple[float, float, float, float]) -> float:
    left, bottom, right, top = bounds
    return max(0.0, right - left) * max(0.0, top - bottom)


def _single_page_pdf(document: pdfium.PdfDocument, index: int) -> bytes:
    """A new, unencrypted PDF holding only page ``index`` of ``document``."""
    single = pdfium.PdfDocument.new()
    try:
        single.import_pages(document, [index])
        buffer = io.BytesIO()
        single.save(buffer)
        return buffer.getvalue()
    finally:
        single.close()


def _pdfium_page_text(page: pdfium.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        return str(textpage.get_text_bounded())
    finally:
        textpage.close()


def pypdf_page_texts(data: bytes, name: str, password: str | None = None) -> list[str]:
    """Extract each page's text with pypdf; raise :class:`PdfUnreadable` if it cannot read it."""
    reader = _open_with_pypdf(data)
    if reader.is_encrypted:
        _decrypt(reader, name, password)
    try:
        page_count = len(reader.pages)
    except _PYPDF_ERRORS as error:
        raise PdfUnreadable(str(error)) from None
    return [_pypdf_page_text(reader, index, name) for index in range(page_count)]


def _open_with_pypdf(data: bytes) -> PdfReader:
    try:
        return PdfReader(io.BytesIO(data), strict=False)
    except _PYPDF_ERRORS as error:
        raise PdfUnreadable(str(error)) from None


def _decrypt(reader: PdfReader, name: str, password: str | None) -> None:
    if reader.decrypt(password or "") == PasswordType.NOT_DECRYPTED:
        raise _password_error(name, password)


def _pypdf_page_text(reader: PdfReader, index: int, name: str) -> str:
    try:
        return reader.pages[index].extract_text()
    except _PYPDF_ERRORS as error:
        raise InputError(
            f"{name}, page {index + 1}: its text cannot be read ({_one_line(error)}); "
            "re-export the PDF"
        ) from None


def _password_error(name: str, password: str | None) -> InputError:
    if password is None:
        return InputError(f"{name} is encrypted: pass --password")
    return InputError(f"{name}: the password is wrong; pass the right one with --password")


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
