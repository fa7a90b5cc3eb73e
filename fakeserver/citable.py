"""Citable content in a request: ``document`` and ``search_result`` blocks, checked and read.

The shapes are those of the Messages API (see the Citations, PDF support and Search results
pages of the Claude docs):

- ``{"type": "document", "source": ..., "title": ..., "context": ..., "citations": {"enabled":
  true}}`` with a ``text`` source (``media_type`` "text/plain", ``data``: cited by character,
  ``char_location``), a ``content`` source (``content``: a string or a list of text/image
  blocks, each one citable unit: ``content_block_location``) or a ``base64`` PDF source
  (``media_type`` "application/pdf": cited by page, ``page_location``; the fake server reads its
  text with pypdf, page by page). ``document_index`` counts the request's documents in order.
- ``{"type": "search_result", "source": ..., "title": ..., "content": [{"type": "text", "text":
  ...}], "citations": {"enabled": true}}``, cited by block (``search_result_location``);
  ``search_result_index`` counts the request's search results in order, tool results included.

A request can't mix documents that have citations enabled with documents that don't; the fake
server holds search results to the same rule. A request may carry at most
:data:`MAX_PDF_PAGES` PDF pages in all. ``url`` and ``file`` sources are refused: the fake server
fetches nothing.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fakeserver.errors import ApiError

__all__ = [
    "MAX_PDF_PAGES",
    "CitableSource",
    "citable_sources",
    "citable_text",
    "page_marker_before",
    "pdf_pages",
    "sentence_spans",
]

MAX_PDF_PAGES = 100
"""The most PDF pages one request may carry (PDF support: "Maximum pages per request")."""

PAGE_MARKER = re.compile(r"\[Page (\d+)\]")
"""How docanalyze marks where a page begins in a part's text (prompts/map.j2)."""

_SOURCE_TYPES = "'base64', 'text', 'content', 'url' or 'file'"
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"')\]]*(?=\s|\Z)|[。！？]+|\Z)", re.DOTALL)
# Sentences never run across a blank line, a "[Page N]" marker or the start of a bullet.
_SEGMENT_BREAK = re.compile(r"\n[ \t]*\n|\[Page \d+\]|\n(?=[ \t]*[-*•] )")


@dataclass(frozen=True)
class CitableSource:
    """One document or search result of a request, as the fake model reads it.

    ``kind`` is "text", "content", "pdf" or "search_result". ``index`` is its
    ``document_index`` (documents) or ``search_result_index`` (search results). ``units`` are
    what a citation can point at: the whole text (kind "text"), the blocks' texts ("content",
    "search_result"; an image block gives ""), or the pages' texts ("pdf").
    """

    kind: str
    index: int
    title: str | None
    units: tuple[str, ...]
    citations_enabled: bool
    source: str = ""
    """The ``source`` of a search result ("" for a document)."""


def citable_sources(body: Mapping[str, Any]) -> list[CitableSource]:
    """The documents and search results of ``body``, checked (a 400 ApiError when malformed).

    Also enforces the all-or-none rule on citations and the PDF page limit.
    """
    sources: list[CitableSource] = []
    counts = {"document": 0, "search_result": 0}
    for where, block in _citable_blocks(body):
        kind = block["type"]
        index = counts[kind]
        counts[kind] += 1
        read = _read_document if kind == "document" else _read_search_result
        sources.append(read(block, where, index))
    _check_all_or_none([s for s in sources if s.kind != "search_result"], "documents")
    _check_all_or_none([s for s in sources if s.kind == "search_result"], "search results")
    pages = sum(len(s.units) for s in sources if s.kind == "pdf")
    if pages > MAX_PDF_PAGES:
        raise ApiError(
            400,
            f"A maximum of {MAX_PDF_PAGES} PDF pages may be provided (this request has {pages})",
        )
    return sources


def citable_text(block: Mapping[str, Any]) -> str:
    """The text a document or search_result block puts before the model ("" if malformed).

    Title and context come first (the model reads them; they are never cited), then the text:
    a text source's data, a content source's text blocks, a PDF's pages, a search result's
    source and blocks.
    """
    try:
        read = _read_document if block.get("type") == "document" else _read_search_result
        source = read(block, "block", 0)
    except ApiError:
        return ""
    context = block.get("context") if block.get("type") == "document" else source.source
    head = [text for text in (source.title, context) if isinstance(text, str) and text]
    return "\n".join([*head, *(unit for unit in source.units if unit)])


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` as (start, end) spans: from the first character of a sentence
    through its closing punctuation and the whitespace after it, so that ``text[start:end]``
    is what a ``char_location`` citation of that sentence quotes.

    A sentence ends at ``.``, ``!`` or ``?`` before whitespace, at ``。！？``, or where a segment
    ends: at a blank line, a "[Page N]" marker line or a bullet ("- ", "* ").
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in [*_SEGMENT_BREAK.finditer(text), None]:
        end = match.start() if match is not None else len(text)
        for sentence in _SENTENCE.finditer(text, start, end):
            if sentence.end() > sentence.start():
                spans.append((sentence.start(), sentence.end()))
        start = match.end() if match is not None else len(text)
    return [(begin, _after_whitespace(text, end)) for begin, end in spans]


def page_marker_before(text: str, position: int) -> int | None:
    """The page N of the last "[Page N]" marker of ``text`` before ``position`` (None if none)."""
    page = None
    for marker in PAGE_MARKER.finditer(text, 0, position):
        page = int(marker.group(1))
    return page


def pdf_pages(data: str) -> tuple[str, ...]:
    """The text of each page of the base64 PDF ``data`` (a 400 ApiError when it is no PDF)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "source.data: the PDF is not valid base64") from None
    return _pdf_page_texts(raw)


@functools.lru_cache(maxsize=4)  # a PDF is read several times per request
def _pdf_page_texts(raw: bytes) -> tuple[str, ...]:
    import pypdf  # only requests with a PDF pay for the import

    if not raw.startswith(b"%PDF"):
        raise ApiError(400, "source.data: The PDF specified was not valid (no %PDF header)")
    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            raise ApiError(
                400, "source.data: the PDF is encrypted; only standard PDFs (no passwords) work"
            )
        texts = [page.extract_text() or "" for page in reader.pages]
    except pypdf.errors.PyPdfError as error:
        raise ApiError(400, f"source.data: The PDF specified was not valid ({error})") from None
    return tuple(text if text.strip() else _page_image_text(raw, i) for i, text in enumerate(texts))


def _page_image_text(raw: bytes, index: int) -> str:
    """The text Tesseract reads on page ``index`` of the PDF ``raw`` ("" without Tesseract)."""
    import shutil

    if shutil.which("tesseract") is None:
        return ""
    try:
        import pypdfium2 as pdfium  # type: ignore[import-untyped]
        import pytesseract  # type: ignore[import-untyped]
    except ImportError:
        return ""
    document = pdfium.PdfDocument(raw)
    try:
        image = document[index].render(scale=200 / 72).to_pil()
    finally:
        document.close()
    return " ".join(str(pytesseract.image_to_string(image, lang="eng+chi_sim")).split())


def _after_whitespace(text: str, end: int) -> int:
    while end < len(text) and text[end].isspace():
        end += 1
    return end


def _citable_blocks(body: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every document and search_result block of the messages, tool results included, in order."""
    messages = body.get("messages")
    for m, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, Mapping) else None
        yield from _blocks_in(content, f"messages.{m}.content")


def _blocks_in(content: object, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(content, list):
        return
    for b, block in enumerate(content):
        if not isinstance(block, Mapping):
            continue
        if block.get("type") in ("document", "search_result"):
            yield f"{where}.{b}", block
        elif block.get("type") == "tool_result":
            yield from _blocks_in(block.get("content"), f"{where}.{b}.content")


def _check_all_or_none(sources: list[CitableSource], what: str) -> None:
    if len({source.citations_enabled for source in sources}) > 1:
        raise ApiError(
            400,
            f"citations: a request can't mix {what} that have citations enabled with {what} "
            "that don't; enable citations on all of them or on none",
        )


def _citations_enabled(block: Mapping[str, Any], where: str) -> bool:
    config = block.get("citations")
    if config is None:
        return False
    enabled = config.get("enabled") if isinstance(config, Mapping) else None
    if not isinstance(enabled, bool):
        raise ApiError(400, f'{where}.citations: Input should be an object {{"enabled": bool}}')
    return enabled


def _optional_string(block: Mapping[str, Any], field: str, where: str) -> str | None:
    value = block.get(field)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{where}.{field}: Input should be a valid string")
    return value


def _read_document(block: Mapping[str, Any], where: str, index: int) -> CitableSource:
    title = _optional_string(block, "title", where)
    _optional_string(block, "context", where)
    enabled = _citations_enabled(block, where)
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise ApiError(400, f"{where}.source: Field required")
    kind = source.get("type")
    if kind in ("url", "file"):
        raise ApiError(
            400,
            f"{where}.source.type: the fake server fetches nothing; send a {kind} document's "
            "content as a 'text', 'content' or 'base64' source",
        )
    if kind == "text":
        _require(source, "media_type", "text/plain", f"{where}.source")
        units: tuple[str, ...] = (_string(source, "data", f"{where}.source"),)
    elif kind == "content":
        units = _content_units(source.get("content"), f"{where}.source.content")
    elif kind == "base64":
        _require(source, "media_type", "application/pdf", f"{where}.source")
        units = pdf_pages(_string(source, "data", f"{where}.source"))
        kind = "pdf"
    else:
        raise ApiError(400, f"{where}.source.type: Input should be {_SOURCE_TYPES}, got {kind!r}")
    return CitableSource(str(kind), index, title, units, enabled)


def _read_search_result(block: Mapping[str, Any], where: str, index: int) -> CitableSource:
    origin = _string(block, "source", where)
    title = _string(block, "title", where)
    enabled = _citations_enabled(block, where)
    content = block.get("content")
    if not isinstance(content, list) or not content:
        raise ApiError(400, f"{where}.content: Input should be a non-empty list of text blocks")
    units = []
    for b, item in enumerate(content):
        if not isinstance(item, Mapping) or item.get("type") != "text":
            raise ApiError(400, f"{where}.content.{b}: Input should be a text block")
        text = _string(item, "text", f"{where}.content.{b}")
        if not text:
            raise ApiError(400, f"{where}.content.{b}.text: text must be non-empty")
        units.append(text)
    return CitableSource("search_result", index, title, tuple(units), enabled, origin)


def _content_units(content: object, where: str) -> tuple[str, ...]:
    if isinstance(content, str):
        return (content,)
    if not isinstance(content, list) or not content:
        raise ApiError(400, f"{where}: Input should be a string or a non-empty list of blocks")
    units = []
    for b, item in enumerate(content):
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind == "text":
            units.append(_string(item, "text", f"{where}.{b}"))
        elif kind == "image":
            units.append("")  # counted for the block indices, never cited
        else:
            raise ApiError(400, f"{where}.{b}: Input should be a text or an image block")
    return tuple(units)


def _string(block: Mapping[str, Any], field: str, where: str) -> str:
    value = block.get(field)
    if value is None:
        raise ApiError(400, f"{where}.{field}: Field required")
    if not isinstance(value, str):
        raise ApiError(400, f"{where}.{field}: Input should be a valid string")
    return value


def _require(block: Mapping[str, Any], field: str, expected: str, where: str) -> None:
    if block.get(field) != expected:
        raise ApiError(
            400, f"{where}.{field}: Input should be {expected!r}, got {block.get(field)!r}"
        )
