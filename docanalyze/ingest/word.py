"""Word (.docx) files as Markdown: mammoth writes them as HTML, read as any HTML page.

mammoth maps Word's styles to HTML (headings, lists, tables, bold and italic); the title style,
which it leaves as a paragraph, is made a first-level heading. Images are left out.
"""

from __future__ import annotations

import io
import xml.parsers.expat
import zipfile

from docanalyze.errors import InputError
from docanalyze.ingest.html import html_to_markdown

__all__ = ["docx_to_markdown", "is_docx"]

_ZIP_MAGIC = b"PK\x03\x04"
_MAIN_PART = "word/document.xml"
# A damaged archive or XML part fails inside mammoth in these ways (no main part: OSError).
_MAMMOTH_ERRORS = (
    zipfile.BadZipFile,
    xml.parsers.expat.ExpatError,
    OSError,
    KeyError,
    ValueError,
    IndexError,
    AttributeError,
    TypeError,
    EOFError,
    RecursionError,
)
_STYLE_MAP = "p[style-name='Title'] => h1:fresh\np[style-name='Subtitle'] => h2:fresh"


def is_docx(data: bytes) -> bool:
    """Whether ``data`` is a ZIP archive holding a Word document's main part."""
    if not data.startswith(_ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _MAIN_PART in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def docx_to_markdown(data: bytes, name: str) -> str:
    """The text of the Word document ``data`` as Markdown; ``name`` is used in errors."""
    import mammoth  # type: ignore[import-untyped]  # loaded for Word files only

    try:
        result = mammoth.convert_to_html(
            io.BytesIO(data),
            style_map=_STYLE_MAP,
            convert_image=mammoth.images.img_element(lambda image: {}),
        )
    except _MAMMOTH_ERRORS as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise InputError(f"{name} is not a readable Word file ({reason}): re-save it") from None
    return html_to_markdown(str(result.value))
