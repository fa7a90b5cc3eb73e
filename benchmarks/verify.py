"""Time checking citations: ``python benchmarks/verify.py``.

Verifies 1,000 citations (quotes on their cited page, on another page, across a page break, with
an ellipsis, and invented) against a generated 400-page document, in English and in Chinese, and
prints the seconds spent normalizing the document and checking the quotes.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from benchmarks.chunking import chinese_prose, english_prose
from docanalyze.citations.locate import PageIndex
from docanalyze.citations.verify import Citation, verify
from docanalyze.document import Page

PAGES = 400
CITATIONS = 1_000
PAGE_CHARS = {"English": 3_000, "Chinese": 1_200}
QUOTE_CHARS = {"English": 80, "Chinese": 30}


def citations(pages: list[Page], quote_chars: int, rng: random.Random) -> list[Citation]:
    """Quotes cut from the pages, cited on their page, a wrong page, or with invented text."""
    made: list[Citation] = []
    for number in range(CITATIONS):
        page = rng.choice(pages[:-1])
        start = rng.randrange(len(page.text) - quote_chars)
        quote = page.text[start : start + quote_chars]
        kind = number % 5
        cited = page.number
        if kind == 1:
            cited = rng.choice(pages).number  # corrected (most likely)
        elif kind == 2:
            following = pages[page.number].text
            quote = page.text[-quote_chars // 2 :] + "\n\n" + following[: quote_chars // 2]
        elif kind == 3:
            half = quote_chars // 2
            quote = f"{quote[: half - 5]} ... {quote[half + 5 :]}"
        elif kind == 4:
            quote = f"{quote[: quote_chars // 2]} invented words {quote[quote_chars // 2 :]}"
        made.append(Citation(f"claim {number}", (cited,), quote))
    return made


def main() -> None:
    for language, make in (("English", english_prose), ("Chinese", chinese_prose)):
        rng = random.Random(20)
        pages = [Page(n, make(PAGE_CHARS[language], rng)) for n in range(1, PAGES + 1)]
        cited = citations(pages, QUOTE_CHARS[language], rng)
        started = time.perf_counter()
        index = PageIndex.of(pages)
        indexed = time.perf_counter()
        checked = verify(cited, index)
        done = time.perf_counter()
        counts = Counter(citation.status for citation in checked)
        characters = sum(len(page.text) for page in pages)
        print(
            f"{language}: {PAGES} pages, {characters:,} characters, {CITATIONS} citations: "
            f"index {indexed - started:.2f} s, verify {done - indexed:.2f} s "
            f"({dict(sorted(counts.items()))})"
        )


if __name__ == "__main__":
    main()
