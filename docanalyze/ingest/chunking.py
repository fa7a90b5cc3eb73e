"""Splitting a document into page-aware chunks that each fit one model request.

The text is cut by :class:`RecursiveCharacterTextSplitter` at the largest boundary that keeps a
chunk within ``chunk_size`` characters: paragraphs, then lines, sentence ends, commas, spaces.
Punctuation stays at the end of its sentence. A run with none of those boundaries (Chinese
without punctuation, a base64 blob) is cut into fixed-size blocks, so that the splitter never
falls back to merging it one character at a time; and the merge step itself is made linear
(see :mod:`docanalyze.ingest.splitter`), so thousands of tiny pieces per chunk stay cheap too.

Every chunk's ``text`` is exactly ``document.text[chunk.start:chunk.end]``; it starts and ends
with a non-space character, and consecutive chunks leave out nothing but whitespace.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from docanalyze.document import Chunk, Document
from docanalyze.errors import ConfigError, InputError

if TYPE_CHECKING:
    from langchain_text_splitters import TextSplitter

__all__ = [
    "DEFAULT_CHUNK_OVERLAP",
    "DEFAULT_CHUNK_SIZE",
    "check_chunk_sizes",
    "chunks_to_analyze",
    "split_document",
]

DEFAULT_CHUNK_SIZE = 10_000
"""Characters per chunk, at most."""

DEFAULT_CHUNK_OVERLAP = 500
"""Characters a chunk repeats from the end of the previous one, at most."""

_CJK_SENTENCE_END = r"[。！？；]+[」』”’）》〕】]*"
# A Latin sentence ends at . ! ? or … followed by whitespace, unless the next word starts in
# lower case ("approx. three") or the dot closes an initial or a title ("e.g. ", "U.S. ", "Dr. ").
# Dots inside numbers ("3.5") are never followed by whitespace, so they never match.
_LATIN_SENTENCE_END = (
    r"(?<!\b[A-Za-z])(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bvs)(?<!\bNo)(?<!\bFig)"
    r"[.!?…]+[\"'”’)\]]*\s+(?![\sa-z])"
)
# The leading lookahead lets the regex engine skip most positions without trying the lookbehinds,
# which makes the search over a long text without any sentence end ten times faster.
_SENTENCE_END = f"(?=[。！？；.!?…])(?:{_CJK_SENTENCE_END}|{_LATIN_SENTENCE_END})"
_CLAUSE_END = r"[，、]|,\s+"
_BLOCKS_PER_CHUNK = 40
"""How finely a run without boundaries is cut: enough blocks per chunk to honour the overlap,
few enough that merging them stays cheap."""

_NON_SPACE = re.compile(r"\S")


def chunks_to_analyze(document: Document, *, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """The chunks every run (and plan, and dry run) analyzes: :func:`split_document`'s, or an
    :class:`InputError` that says the document has no text."""
    chunks = split_document(document, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    if not chunks:
        raise InputError(f"{document.source}: there is no text to analyze")
    return chunks


def split_document(
    document: Document,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
) -> list[Chunk]:
    """Split ``document`` into chunks of at most ``chunk_size`` characters, in document order.

    Consecutive chunks share at most ``chunk_overlap`` characters. Each chunk records its offsets
    into :attr:`Document.text` and the pages it spans. A document with no text gives no chunks.
    Raises :class:`ConfigError` if the sizes are not positive or the overlap is not smaller than
    the chunk size.
    """
    check_chunk_sizes(chunk_size, chunk_overlap)
    text = document.text
    if not text.strip():
        return []
    pieces = chunk_splitter(chunk_size, chunk_overlap).split_text(text)
    # With chunk_size 1 the library passes single characters through unstripped.
    pieces = [piece for piece in pieces if not piece.isspace()]
    spans = _locate_pieces(text, pieces, chunk_overlap)
    return [
        _chunk(document, index, len(spans), start, end) for index, (start, end) in enumerate(spans)
    ]


def check_chunk_sizes(chunk_size: int, chunk_overlap: int) -> None:
    """Raise :class:`ConfigError` unless ``0 <= chunk_overlap < chunk_size``."""
    if chunk_size <= 0:
        raise ConfigError(f"chunk size must be a positive number of characters, got {chunk_size}")
    if chunk_overlap < 0:
        raise ConfigError(f"chunk overlap must be 0 or more characters, got {chunk_overlap}")
    if chunk_overlap >= chunk_size:
        raise ConfigError(
            f"chunk overlap ({chunk_overlap}) must be smaller than chunk size ({chunk_size}): "
            "lower the overlap or raise the chunk size"
        )


def _locate_pieces(text: str, pieces: list[str], max_overlap: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets in ``text`` of each of ``pieces``, cut from it in order.

    Each piece must start no later than the first non-space character after the previous one,
    so only whitespace is ever left out. Where text repeats itself, a piece occurs at several
    such places, all textually right: the earliest one within ``max_overlap`` of the previous
    piece's end is the splitter's own choice in all but contrived texts; if that placement fails
    to reach the end of the text, the latest places are taken, which always do.
    """
    spans = _place_pieces(text, pieces, max_overlap, earliest=True)
    if spans and spans[-1][1] == len(text.rstrip()):
        return spans
    spans = _place_pieces(text, pieces, max_overlap, earliest=False)
    if spans is None:
        raise AssertionError("a chunk's text was not found in the document")
    return spans


def _place_pieces(
    text: str, pieces: list[str], max_overlap: int, *, earliest: bool
) -> list[tuple[int, int]] | None:
    """Place each piece at its earliest (or latest) allowed place; ``None`` if one has none."""
    spans: list[tuple[int, int]] = []
    start, end = 0, 0
    for piece in pieces:
        latest_end = _next_non_space(text, end) + len(piece)
        if earliest:
            found = text.find(piece, max(start, end - max_overlap), latest_end)
        else:
            found = _rfind_preferring_after(text, piece, start, latest_end)
        if found < 0:
            return None
        start, end = found, found + len(piece)
        spans.append((start, end))
    return spans


def _rfind_preferring_after(text: str, piece: str, lower: int, latest_end: int) -> int:
    """The last place of ``piece`` ending by ``latest_end``: at or after ``lower`` if any."""
    found = text.rfind(piece, lower, latest_end)
    return found if found >= 0 else text.rfind(piece, 0, latest_end)


def _next_non_space(text: str, offset: int) -> int:
    match = _NON_SPACE.search(text, offset)
    return match.start() if match else len(text)


def chunk_splitter(chunk_size: int, chunk_overlap: int) -> TextSplitter:
    """The splitter of :func:`split_document` (langchain-text-splitters is imported only
    when a document is first split: it takes a while to import)."""
    from docanalyze.ingest.splitter import LinearMergeSplitter

    block = _block_size(chunk_size, chunk_overlap)
    separators = [r"\n\n", r"\n", _SENTENCE_END, _CLAUSE_END, r"\s+", rf"[\s\S]{{1,{block}}}", ""]
    return LinearMergeSplitter(
        separators=separators,
        is_separator_regex=True,
        keep_separator="end",
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        strip_whitespace=True,
    )


def _block_size(chunk_size: int, chunk_overlap: int) -> int:
    """Length of the blocks a run without boundaries is cut into.

    Blocks are about ``chunk_size / 40`` long and, when the overlap allows, divide it almost
    evenly, so chunks cut from such a run still overlap by nearly ``chunk_overlap``.
    """
    target = max(1, chunk_size // _BLOCKS_PER_CHUNK)
    if chunk_overlap >= target:
        return chunk_overlap // math.ceil(chunk_overlap / target)
    return max(1, chunk_overlap, chunk_size // (10 * _BLOCKS_PER_CHUNK))


def _chunk(document: Document, index: int, total: int, start: int, end: int) -> Chunk:
    return Chunk(
        index=index,
        total=total,
        start=start,
        end=end,
        first_page=document.page_at(start),
        last_page=document.page_at(end - 1),
        text=document.text[start:end],
    )
