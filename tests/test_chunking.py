"""Tests of split_document: sizes, sentence boundaries, offsets, pages, coverage, overlap."""

from __future__ import annotations

import itertools
import random
import re
import string
from pathlib import Path

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter

from docanalyze.document import PAGE_SEPARATOR, Chunk, Document, Page
from docanalyze.errors import ConfigError
from docanalyze.ingest.chunking import chunk_splitter, split_document

HAN = [chr(code) for code in range(0x4E00, 0x4E00 + 3000)]
WORDS = [
    "".join(random.Random(seed).choices(string.ascii_lowercase, k=2 + seed % 9))
    for seed in range(400)
]


def make_document(*page_texts: str) -> Document:
    return Document("test", tuple(Page(number, text) for number, text in enumerate(page_texts, 1)))


def english_sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 25))
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randint(1, len(words) - 1), f"{rng.randint(1, 99)}.{rng.randint(0, 9)}")
    return " ".join(words) + rng.choice(".....!?")


def english_prose(length: int, seed: int, *, paragraphs: bool) -> str:
    """Random English-like prose; paragraphs of 3-12 sentences, or a single endless line."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        sentences = [english_sentence(rng) for _ in range(rng.randint(3, 12))]
        parts.append(" ".join(sentences))
        size += len(parts[-1]) + 2
    return ("\n\n" if paragraphs else " ").join(parts)


def chinese_prose(length: int, seed: int) -> str:
    """Random Han clauses joined by ，、 into sentences ending in 。！？； with no newlines."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        clauses = [
            "".join(rng.choices(HAN, k=rng.randint(4, 18))) for _ in range(rng.randint(1, 5))
        ]
        parts.append(rng.choice("，、").join(clauses) + rng.choice("。。。！？；"))
        size += len(parts[-1])
    return "".join(parts)


def assert_well_formed(document: Document, chunks: list[Chunk], chunk_size: int) -> None:
    """Everything split_document promises about any document's chunks."""
    text = document.text
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert all(chunk.total == len(chunks) for chunk in chunks)
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text == chunk.text.strip() != ""
        assert len(chunk.text) <= chunk_size
    starts = [chunk.start for chunk in chunks]
    assert starts == sorted(starts)
    assert uncovered_text(text, chunks).strip() == ""


def uncovered_text(text: str, chunks: list[Chunk]) -> str:
    """The characters of ``text`` that no chunk spans, concatenated."""
    gaps: list[str] = []
    reached = 0
    for chunk in sorted(chunks, key=lambda chunk: chunk.start):
        gaps.append(text[reached : max(reached, chunk.start)])
        reached = max(reached, chunk.end)
    gaps.append(text[reached:])
    return "".join(gaps)


def pages_spanned(document: Document, start: int, end: int) -> list[int]:
    """Brute force: the numbers of the pages holding a non-space character of text[start:end]."""
    numbers: list[int] = []
    page_start = 0
    for page in document.pages:
        overlap = page.text[max(start - page_start, 0) : max(end - page_start, 0)]
        if overlap.strip():
            numbers.append(page.number)
        page_start += len(page.text) + len(PAGE_SEPARATOR)
    return numbers


def assert_pages_right(document: Document, chunks: list[Chunk]) -> None:
    for chunk in chunks:
        spanned = pages_spanned(document, chunk.start, chunk.end)
        assert (chunk.first_page, chunk.last_page) == (spanned[0], spanned[-1]), chunk.index


def overlaps(chunks: list[Chunk]) -> list[int]:
    return [previous.end - chunk.start for previous, chunk in itertools.pairwise(chunks)]


@pytest.mark.parametrize("page_texts", [(), ("",), (" \n\t ",), ("", "\n\n", "  ")])
def test_a_document_without_text_gives_no_chunks(page_texts: tuple[str, ...]) -> None:
    assert split_document(make_document(*page_texts)) == []


def test_a_small_document_is_one_chunk_spanning_its_pages() -> None:
    document = make_document("  Title of the report.\n", "Second page, one sentence.  ")
    (chunk,) = split_document(document)
    assert chunk.text == document.text.strip()
    assert (chunk.start, chunk.end) == (2, len(document.text) - 2)
    assert (chunk.index, chunk.total, chunk.first_page, chunk.last_page) == (0, 1, 1, 2)


def test_a_document_of_exactly_chunk_size_is_one_chunk() -> None:
    text = "".join(random.Random(3).choices(HAN, k=1000))
    (chunk,) = split_document(make_document(text), chunk_size=1000, chunk_overlap=100)
    assert chunk.text == text


@pytest.mark.parametrize(
    ("chunk_size", "chunk_overlap"), [(0, 0), (-10, 0), (100, -1), (100, 100), (100, 250)]
)
def test_bad_sizes_raise_config_error(chunk_size: int, chunk_overlap: int) -> None:
    with pytest.raises(
        ConfigError, match=re.escape(str(chunk_size if chunk_size <= 0 else chunk_overlap))
    ):
        split_document(
            make_document("Some text."), chunk_size=chunk_size, chunk_overlap=chunk_overlap
        )


@pytest.mark.parametrize("paragraphs", [True, False], ids=["paragraphs", "one-line"])
@pytest.mark.parametrize(("chunk_size", "chunk_overlap"), [(10_000, 500), (1_500, 200)])
def test_english_chunks_end_at_sentence_ends(
    paragraphs: bool, chunk_size: int, chunk_overlap: int
) -> None:
    document = make_document(english_prose(120_000, seed=chunk_size, paragraphs=paragraphs))
    chunks = split_document(document, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    assert_well_formed(document, chunks, chunk_size)
    assert len(chunks) >= len(document.text) // chunk_size
    ends_of_sentence = [chunk.text[-1] in ".!?" for chunk in chunks[:-1]]
    assert sum(ends_of_sentence) >= 0.95 * len(ends_of_sentence)
    assert all(chunk.text[0].isupper() for chunk in chunks), "a chunk starts mid-sentence"


def test_decimal_numbers_and_abbreviations_are_not_sentence_ends() -> None:
    sentence = "The rate rose 3.5 points, e.g. in Spain and the U.S. after Dr. Who spoke. "
    document = make_document(sentence * 100)
    chunks = split_document(document, chunk_size=300, chunk_overlap=0)
    assert_well_formed(document, chunks, 300)
    assert all(chunk.text.startswith("The rate") for chunk in chunks)
    assert all(chunk.text.endswith("spoke.") for chunk in chunks)


@pytest.mark.parametrize(("chunk_size", "chunk_overlap"), [(10_000, 500), (800, 80)])
def test_chinese_chunks_end_at_sentence_ends(chunk_size: int, chunk_overlap: int) -> None:
    document = make_document(chinese_prose(150_000, seed=chunk_size))
    chunks = split_document(document, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    assert_well_formed(document, chunks, chunk_size)
    ends_of_sentence = [chunk.text[-1] in "。！？；" for chunk in chunks[:-1]]
    assert sum(ends_of_sentence) >= 0.95 * len(ends_of_sentence)
    assert not any(chunk.text[0] in "。！？；，、" for chunk in chunks)


@pytest.mark.parametrize(("chunk_size", "chunk_overlap"), [(10_000, 500), (2_000, 300)])
def test_overlap_is_close_to_the_configured_one(chunk_size: int, chunk_overlap: int) -> None:
    document = make_document(english_prose(100_000, seed=7, paragraphs=False))
    chunks = split_document(document, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    shared = overlaps(chunks)
    assert all(0 <= size <= chunk_overlap for size in shared)
    # Sentences are at most ~230 characters, so the overlap holds all but part of one.
    assert all(size >= chunk_overlap - 250 for size in shared)


def test_no_overlap_when_it_is_zero() -> None:
    document = make_document(english_prose(50_000, seed=8, paragraphs=True))
    chunks = split_document(document, chunk_size=3_000, chunk_overlap=0)
    assert_well_formed(document, chunks, 3_000)
    assert all(size <= 0 for size in overlaps(chunks))


@pytest.mark.parametrize(
    ("alphabet", "chunk_size", "chunk_overlap"),
    [
        ("".join(HAN), 10_000, 500),
        ("".join(HAN), 3_001, 123),
        (string.ascii_letters + string.digits + "+/=", 10_000, 500),
        (string.ascii_letters + string.digits + "+/=", 997, 0),
    ],
    ids=["chinese", "chinese-odd-sizes", "base64", "base64-odd-sizes"],
)
def test_a_run_without_any_boundary_is_cut_into_full_chunks(
    alphabet: str, chunk_size: int, chunk_overlap: int
) -> None:
    text = "".join(random.Random(chunk_size).choices(alphabet, k=200_000))
    document = make_document(text)
    chunks = split_document(document, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    assert_well_formed(document, chunks, chunk_size)
    assert (chunks[0].start, chunks[-1].end) == (0, len(text))
    assert all(len(chunk.text) >= 0.95 * chunk_size for chunk in chunks[:-1])
    assert all(0.5 * chunk_overlap <= size <= chunk_overlap for size in overlaps(chunks))


def test_a_long_run_inside_prose_is_cut_and_the_prose_is_kept() -> None:
    blob = "".join(random.Random(1).choices(string.ascii_letters, k=25_000))
    prose = english_prose(20_000, seed=2, paragraphs=True)
    document = make_document(prose, f"Attachment follows. {blob} End of attachment.", prose)
    chunks = split_document(document, chunk_size=4_000, chunk_overlap=200)
    assert_well_formed(document, chunks, 4_000)
    assert_pages_right(document, chunks)


def test_page_numbers_follow_the_offsets() -> None:
    rng = random.Random(12)
    page_texts = [
        f"Page {number} heading.\n"
        + english_prose(rng.randint(50, 4_000), seed=number, paragraphs=True)
        for number in range(1, 13)
    ]
    page_texts[4] = ""  # a blank page, as scanned documents have
    document = make_document(*page_texts)
    chunks = split_document(document, chunk_size=1_500, chunk_overlap=150)
    assert_well_formed(document, chunks, 1_500)
    assert_pages_right(document, chunks)
    assert any(chunk.first_page != chunk.last_page for chunk in chunks)
    spanned = {page for chunk in chunks for page in pages_spanned(document, chunk.start, chunk.end)}
    assert spanned == set(range(1, 13)) - {5}


def test_pages_of_a_real_pdf(fixtures_dir: Path) -> None:
    pdf = fixtures_dir / "sample-en.pdf"
    if not pdf.is_file():
        pytest.skip("fixtures/sample-en.pdf is not there yet")
    ingest = pytest.importorskip("docanalyze.ingest")
    document = ingest.load_document(pdf)
    chunks = split_document(document, chunk_size=2_000, chunk_overlap=200)
    assert chunks, "the sample PDF has text"
    assert_well_formed(document, chunks, 2_000)
    assert_pages_right(document, chunks)
    assert chunks[-1].last_page == max(page.number for page in document.pages if page.text.strip())


@pytest.mark.parametrize(
    "page_texts",
    [
        ["The same sentence again. " * 2_000] * 3,
        ["abc " * 10_000, "abc " * 10_000],
        ["X" * 30_000, "X" * 7_777],
        ["同一句话。" * 5_000] * 2,
    ],
    ids=["sentences", "words", "one-letter", "chinese"],
)
@pytest.mark.parametrize(("chunk_size", "chunk_overlap"), [(10_000, 500), (1_000, 300)])
def test_offsets_in_repetitive_text(
    page_texts: list[str], chunk_size: int, chunk_overlap: int
) -> None:
    document = make_document(*page_texts)
    chunks = split_document(document, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    assert_well_formed(document, chunks, chunk_size)
    assert_pages_right(document, chunks)
    # Chunks overlap within a paragraph and are disjoint across the breaks between pages.
    assert all(size <= chunk_overlap for size in overlaps(chunks))


def test_the_linear_merge_cuts_exactly_like_the_library() -> None:
    rng = random.Random(5)
    alphabet = "ab ,.\n。，、!"
    for _ in range(300):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 400)))
        chunk_size = rng.randint(1, 60)
        chunk_overlap = rng.randint(0, chunk_size - 1)
        ours = chunk_splitter(chunk_size, chunk_overlap)
        stock = RecursiveCharacterTextSplitter(
            separators=ours._separators,
            is_separator_regex=True,
            keep_separator="end",
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
        )
        assert ours.split_text(text) == stock.split_text(text), (text, chunk_size, chunk_overlap)
