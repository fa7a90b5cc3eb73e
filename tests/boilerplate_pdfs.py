"""A PDF whose pages carry a running header and footer, page numbers and a table of contents
with dot leaders, and the same text without them, for the boilerplate tests (reportlab)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

__all__ = ["FACTS", "FOOTER", "HEADER", "PAGE_NUMBER", "SECTIONS", "TOC_LINES", "write_report_pdf"]

HEADER = "National Hydro Network, Data Model - Edition 1.0 2004-06 GeoBase {page}"
FOOTER = "Natural Resources Canada - Internal use only - {pages} pages"
PAGE_NUMBER = "- {page} -"
SECTIONS = ("Introduction", "Stream gauges", "Lake levels", "Station repairs", "Archive")
TOC_LINES = tuple(
    f"{number} {title} {'.' * (40 - len(title))} {number + 1}"
    for number, title in enumerate(SECTIONS, 1)
)
FACTS = (
    "The network counts 4,812 stream gauges, of which 312 report every fifteen minutes.",
    "Lake Winnipeg rose by 41 centimetres between April and June.",
    "Gauge station 05OJ010 was rebuilt after the ice jam of 12 March.",
    "The archive keeps hourly readings for 37 years without a gap.",
    "Seven survey boats were replaced by two hydrographic drones in May.",
)
_FILLER = (
    "The field teams checked each site against the survey records.",
    "Every difference went into a shared register that the regional office reviewed weekly.",
    "Readings were compared with those of the three previous seasons.",
    "Crews replaced worn cables where the signal had become unreliable.",
    "Volunteers in remote areas sent photographs of the staff gauges by mail.",
    "The data team corrected the clock drift of the older loggers by hand.",
)
_BODY_PAGES = 5


def write_report_pdf(path: Path, *, boilerplate: bool = True) -> None:
    """A six-page PDF: a contents page, then one fact per page amid wrapped filler prose; with
    ``boilerplate``, a running header and a footer with the page number on every page, and the
    contents page's entries with dot leaders (without it, the same text alone)."""
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    pages = _BODY_PAGES + 1
    for page in range(1, pages + 1):
        if boilerplate:
            pdf.setFont("Helvetica", 8)
            pdf.drawString(60, 810, HEADER.format(page=page))
        pdf.setFont("Helvetica", 11)
        y = 770
        for line in _page_lines(page, boilerplate):
            pdf.drawString(60, y, line)
            y -= 15
        if boilerplate:
            pdf.setFont("Helvetica", 8)
            pdf.drawString(60, 45, FOOTER.format(pages=pages))
            pdf.drawCentredString(297, 30, PAGE_NUMBER.format(page=page))
        pdf.showPage()
    pdf.save()


def _page_lines(page: int, boilerplate: bool) -> list[str]:
    if page == 1:
        return ["Contents", *(TOC_LINES if boilerplate else ())]
    fact = FACTS[page - 2]
    filler = [_FILLER[(page + shift) % len(_FILLER)] for shift in range(len(_FILLER))]
    prose = " ".join([*filler[:4], fact, *filler[4:], *filler[:3]])
    return [SECTIONS[page - 2], *textwrap.wrap(prose, 88)]
