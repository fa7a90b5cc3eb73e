"""Long PDFs with planted facts on known pages, for the grounded end-to-end tests and benchmark.

:func:`write_english_pdf` writes 400,000 characters of English and :func:`write_chinese_pdf`
300,000 characters of Chinese (reportlab, deterministic). Each fact is one sentence holding a
``FACT-nnnn`` marker, set among filler prose on a known page; the functions return the page of
every fact. The text wraps across lines as a real PDF's does, so that a quote can hold a line break.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

__all__ = ["chinese_fact", "english_fact", "write_chinese_pdf", "write_english_pdf"]

ENGLISH_FILLER = (
    "The inspectors walked the site and recorded the condition of every pump and valve. ",
    "Maintenance crews replaced worn seals where the readings showed a slow leak. ",
    "The regional office compared this year's figures with those of the last three years. ",
    "Staff training continued through the winter, with two sessions a month at each depot. ",
)
CHINESE_FILLER = (
    "检查人员走遍了现场，记录了每台水泵和阀门的状况。",
    "维修人员在读数显示缓慢泄漏的地方更换了磨损的密封件。",
    "地区办公室将今年的数据与过去三年的数据进行了比较。",
    "员工培训贯穿整个冬季，每个仓库每月举行两次。",
)
CHINESE_FONT = "STSong-Light"
ENGLISH_COLUMNS = 92
CHINESE_COLUMNS = 40
LINES_PER_PAGE = 48
LATIN = re.compile(r"[A-Za-z0-9-]{2}")


def english_fact(number: int, page: int) -> str:
    """The sentence planting fact ``number`` on ``page``."""
    return (
        f"FACT-{number:04d} the auditors confirmed that pump station {number} "
        f"passed its pressure test, as recorded on page {page}. "
    )


def chinese_fact(number: int, page: int) -> str:
    """The Chinese sentence planting fact ``number`` on ``page``."""
    return f"审计人员确认FACT-{number:04d}号泵站通过了压力测试，记录在第{page}页。"


def write_english_pdf(path: Path, *, facts: int = 80, characters: int = 400_000) -> dict[str, int]:
    """An English PDF of at least ``characters`` characters (as extracted) with ``facts`` planted facts."""
    return _write(
        path, facts, characters, ENGLISH_COLUMNS, english_fact, ENGLISH_FILLER, "Helvetica"
    )


def write_chinese_pdf(path: Path, *, facts: int = 60, characters: int = 300_000) -> dict[str, int]:
    """A Chinese PDF of at least ``characters`` characters (as extracted) with ``facts`` planted facts."""
    pdfmetrics.registerFont(UnicodeCIDFont(CHINESE_FONT))
    return _write(
        path, facts, characters, CHINESE_COLUMNS, chinese_fact, CHINESE_FILLER, CHINESE_FONT
    )


def _write(
    path: Path,
    facts: int,
    characters: int,
    columns: int,
    fact_sentence: Callable[[int, int], str],
    filler: tuple[str, ...],
    font: str,
) -> dict[str, int]:
    rows = LINES_PER_PAGE
    cjk = font == CHINESE_FONT
    page_chars = columns * rows * (96 if cjk else 90) // 100
    pages = -(-characters * 100 // (97 * len(_page_text(1, page_chars, [], filler))))
    fact_pages = {n: 1 + (n - 1) * pages // facts for n in range(1, facts + 1)}
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    pdf.setTitle(path.stem)
    for page in range(1, pages + 1):
        planted = [fact_sentence(n, page) for n, on in fact_pages.items() if on == page]
        wrapped = _wrap(_page_text(page, page_chars, planted, filler), columns, cjk=cjk)
        assert len(wrapped) <= rows, "the page's text does not fit: nothing may be cut"
        pdf.setFont(font, 9 if cjk else 8)
        for row, line in enumerate(wrapped):
            pdf.drawString(40, 800 - 16 * row, line)
        pdf.showPage()
    pdf.save()
    return {f"FACT-{number:04d}": page for number, page in fact_pages.items()}


def _page_text(page: int, size: int, planted: list[str], filler: tuple[str, ...]) -> str:
    """Whole filler sentences around the page's fact sentences, within ``size`` characters."""
    sentences: list[str] = []
    length = sum(map(len, planted))
    while length + len(filler[(page + len(sentences)) % len(filler)]) <= size:
        sentences.append(filler[(page + len(sentences)) % len(filler)])
        length += len(sentences[-1])
    middle = len(sentences) // 2
    return "".join(sentences[:middle] + planted + sentences[middle:]).strip()


def _wrap(text: str, columns: int, *, cjk: bool) -> list[str]:
    if not cjk:
        return textwrap.wrap(text, columns, break_on_hyphens=False)
    lines: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + columns, len(text))
        while 0 < end < len(text) and LATIN.match(text[end - 1 : end + 1]):
            end -= 1  # a line does not break a marker such as FACT-0001
        lines.append(text[start:end])
        start = end
    return lines
