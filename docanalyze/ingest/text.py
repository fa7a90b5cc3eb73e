"""Decoding text and Markdown files: BOMs, strict UTF-8, then charset detection.

Text files are one page, or several pages separated by form feeds (``\\f``).
"""

from __future__ import annotations

import codecs

from docanalyze.errors import InputError

__all__ = ["SUPPORTED_FORMATS", "decode_text", "split_text_pages"]

SUPPORTED_FORMATS = "PDF, Word (.docx), HTML, text or Markdown"

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_BINARY_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or XLSX/ODT)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file"),
    (b"\x7fELF", "a program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

_PREFERRED_ENCODINGS = ("gb18030", "cp1252")
"""When charset detection scores several encodings the same, these win, in this order.

Short GBK text is often equally plausible as Korean cp949, and short Latin-1 text as a dozen
single-byte code pages; the documents we expect are Chinese and Western European.
"""

_MAX_CONTROL_SHARE = 0.05


def decode_text(data: bytes, name: str) -> str:
    """Decode a text file's bytes, or raise :class:`InputError` if they are not text.

    BOMs (UTF-8, UTF-16, UTF-32) decide first, then strict UTF-8, then charset-normalizer, with
    GB18030 and cp1252 (a superset of Latin-1) preferred among equally good guesses.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_with_bom(data, encoding, name)
    _reject_binary(data, name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = _detect_and_decode(data)
    if text is None or _control_share(text) > _MAX_CONTROL_SHARE:
        raise _not_a_document(name, "binary data")
    return text


def split_text_pages(text: str) -> list[str]:
    """Split a text file's content into pages at form feeds; drop a trailing empty page."""
    pages = text.split("\f")
    while len(pages) > 1 and not pages[-1].strip():
        pages.pop()
    return pages


def _decode_with_bom(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{name}: starts with a {encoding.upper()} byte-order mark but byte {error.start} "
            f"is not {encoding.upper()}; re-save the file as UTF-8"
        ) from None


def _reject_binary(data: bytes, name: str) -> None:
    for signature, kind in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise _not_a_document(name, kind)
    if b"\x00" in data:
        raise _not_a_document(name, "binary data")


def _not_a_document(name: str, kind: str) -> InputError:
    return InputError(f"{name} looks like {kind}, not a document: give a {SUPPORTED_FORMATS} file")


def _detect_and_decode(data: bytes) -> str | None:
    from charset_normalizer import from_bytes  # loaded only for a file that is not UTF-8

    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    tied = [
        encoding
        for match in matches
        if match.chaos <= best.chaos and match.coherence >= best.coherence
        for encoding in match.could_be_from_charset
    ]
    encoding = next((name for name in _PREFERRED_ENCODINGS if name in tied), best.encoding)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _control_share(text: str) -> float:
    controls = sum(1 for char in text if ord(char) < 32 and char not in "\n\r\t\f")
    return controls / max(len(text), 1)
