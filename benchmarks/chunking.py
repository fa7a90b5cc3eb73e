"""Time split_document on large texts: ``python benchmarks/chunking.py``.

Prints characters, chunks and seconds for each case. Every case should take well under 10 s.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable

from docanalyze.document import Document, Page
from docanalyze.ingest.chunking import split_document

HAN = [chr(code) for code in range(0x4E00, 0x4E00 + 3000)]
WORDS = [
    "".join(random.Random(seed).choices(string.ascii_lowercase, k=2 + seed % 9))
    for seed in range(2_000)
]


def chinese_without_boundaries(length: int, rng: random.Random) -> str:
    return "".join(rng.choices(HAN, k=length))


def chinese_prose(length: int, rng: random.Random) -> str:
    sentences: list[str] = []
    size = 0
    while size < length:
        clauses = [
            "".join(rng.choices(HAN, k=rng.randint(4, 18))) for _ in range(rng.randint(1, 5))
        ]
        sentences.append("，".join(clauses) + rng.choice("。。。！？；"))
        size += len(sentences[-1])
        if rng.random() < 0.08:
            sentences.append("\n\n")
    return "".join(sentences)[:length]


def english_prose(length: int, rng: random.Random) -> str:
    sentences: list[str] = []
    size = 0
    while size < length:
        words = rng.choices(WORDS, k=rng.randint(6, 25))
        sentences.append(" ".join(words).capitalize() + rng.choice(".!?") + " ")
        size += len(sentences[-1])
        if rng.random() < 0.1:
            sentences.append("\n\n")
    return "".join(sentences)[:length]


def one_letter_words(length: int, rng: random.Random) -> str:
    return " ".join(rng.choices(string.ascii_lowercase, k=length // 2))


CASES: list[tuple[str, Callable[[int, random.Random], str], int]] = [
    ("Chinese, no newlines or punctuation", chinese_without_boundaries, 5_000_000),
    ("Chinese prose with punctuation", chinese_prose, 5_000_000),
    ("English prose", english_prose, 1_000_000),
    ("one-letter words (dense separators)", one_letter_words, 5_000_000),
]


def time_case(text: str) -> tuple[int, float]:
    document = Document("benchmark", (Page(1, text),))
    started = time.perf_counter()
    chunks = split_document(document)
    return len(chunks), time.perf_counter() - started


def main() -> None:
    print(f"{'case':<40} {'chars':>10} {'chunks':>7} {'seconds':>8}")
    for name, make_text, length in CASES:
        text = make_text(length, random.Random(0))
        chunks, seconds = time_case(text)
        print(f"{name:<40} {len(text):>10,} {chunks:>7} {seconds:>8.2f}")


if __name__ == "__main__":
    main()
