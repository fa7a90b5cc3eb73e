"""Text extraction from PDFs: PDFium first, pypdf when PDFium cannot open the file.

PDFium is not thread-safe, so every call into it happens under :data:`PDFIUM_LOCK`, and a
PDFium document is opened, read and closed inside one function: it never leaves this module.
"""

from __future__ import annotations

import io
import logging
import struct
import threading
import zlib

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_raw  # type: ignore[import-untyped]
from pypdf import PasswordType, PdfReader
from pypdf.errors import PdfReadError

from docanalyze.errors import InputError

__all__ = [
    "PDFIUM_LOCK",
    "PdfUnreadable",
    "extract_pdf_pages",
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


class PdfUnreadable(Exception):
    """Raised by one extractor when it cannot open a PDF, so the next one can try."""


def extract_pdf_pages(data: bytes, name: str, password: str | None = None) -> list[str]:
    """The raw text of each page of the PDF in ``data``, in page order.

    ``name`` is used in error messages. Raises :class:`InputError` when the PDF is encrypted
    and no password (or a wrong one) is given, or when neither PDFium nor pypdf can read it.
    """
    try:
        return pdfium_page_texts(data, name, password)
    except PdfUnreadable:
        pass
    try:
        return pypdf_page_texts(data, name, password)
    except PdfUnreadable:
        raise InputError(
            f"{name} is not a readable PDF (broken or truncated): re-export or repair it"
        ) from None


def pdfium_page_texts(data: bytes, name: str, password: str | None = None) -> list[str]:
    """Extract each page's text with PDFium; raise :class:`PdfUnreadable` if it cannot open it.

    Only text inside the page's box is taken: text placed outside the visible page (as some
    image converters do) is not part of the document.
    """
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data, password=password)
        except pdfium.PdfiumError as error:
            if error.err_code == pdfium_raw.FPDF_ERR_PASSWORD:
                raise _password_error(name, password) from None
            raise PdfUnreadable(str(error)) from None
        try:
            return [_pdfium_page_text(document, index) for index in range(len(document))]
        finally:
            document.close()


def _pdfium_page_text(document: pdfium.PdfDocument, index: int) -> str:
    page = document[index]
    textpage = page.get_textpage()
    try:
        return str(textpage.get_text_bounded())
    finally:
        textpage.close()
        page.close()


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
