"""Citations on the HTML page: each shows its claim's quote and what checking found, links its
page of the source PDF (relative to where the page is written), and an unsupported claim is
marked; nothing unchecked is shown as checked, and a quote is text, never markup."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from docanalyze.citations.markdown import check_report
from docanalyze.citations.verify import CheckedCitation
from docanalyze.cli import cli
from docanalyze.document import Page
from docanalyze.models.base import Usage
from docanalyze.report.html import render_html
from docanalyze.report.result import ChunkResult, Report
from tests.conftest import FIXTURES
from tests.test_html_report import parse


class CitationReader(HTMLParser):
    """Each ``span.cite`` of a page: its status, link, title, label and popover text."""

    def __init__(self) -> None:
        super().__init__()
        self.cites: list[dict[str, str]] = []
        self.marks: list[str] = []
        self.depth = 0
        self.in_mark = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "span" and values.get("class") == "cite":
            self.cites.append({"status": values["data-status"], "text": ""})
            self.depth = 1
        elif self.depth:
            self.depth += tag == "span"
            if tag in ("a", "span") and "title" in values:
                self.cites[-1].update(href=values.get("href", ""), title=values["title"])
        self.in_mark = tag == "mark" and values.get("class") == "unsupported"

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag == "span":
            self.depth -= 1
        self.in_mark = False

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.cites[-1]["text"] += data
        if self.in_mark:
            self.marks.append(data)


def without_code(page: str) -> str:
    return re.sub(r"<code>.*?</code>", "", page.split('<section class="chunks">')[0])


def cites_of(page: str) -> CitationReader:
    parse(page)  # well-formed
    reader = CitationReader()
    reader.feed(page)
    return reader


TEXT = """# Report

- Rent is due **monthly** (p. 2).
- The deposit is two months (p. 7).
- Pets are allowed (p. 4) ⚠ unsupported
- Parking is free (p. 5), and `code (p. 9)` stays code.
"""

CHECKS = [
    CheckedCitation("Rent is due monthly.", (2,), "<b>rent</b> is due monthly", "verified", (2,)),
    CheckedCitation("The deposit is two months.", (3,), "two months' deposit", "corrected", (7,)),
    CheckedCitation("Pets are allowed.", (), None, "unsupported", (4,)),
]


def report(source: str, text: str = TEXT, chunks: list[ChunkResult] | None = None) -> Report:
    return Report(
        source=source,
        text=text,
        backend="anthropic",
        model="claude-sonnet-5-5",
        page_count=9,
        chunks=chunks or [],
        usage=Usage(requests=1),
        reduce_levels=0,
        citations=list(CHECKS),
    )


def test_each_citation_shows_its_quote_and_what_checking_found() -> None:
    reader = cites_of(render_html([report("contract.pdf")]))
    statuses = [cite["status"] for cite in reader.cites]
    assert statuses == ["verified", "corrected", "unsupported", "unchecked"]
    verified, corrected, unsupported, unchecked = reader.cites
    assert verified["title"] == "“<b>rent</b> is due monthly” — Verified: the quote is on p. 2."
    assert "<b>rent</b> is due monthly" in verified["text"]  # the popover, as text
    assert "Corrected: cited p. 7; the quote is on p. 3." in corrected["text"]
    assert unsupported["title"] == "Unsupported: no quote from the document supports this claim."
    assert unchecked["title"].startswith("Not checked")
    assert reader.marks == ["⚠ unsupported"]


def test_a_quote_is_text_never_markup() -> None:
    page = render_html([report("contract.pdf")])
    assert "<b>rent</b>" not in page and "&lt;b&gt;rent&lt;/b&gt;" in page


def test_a_citation_in_a_code_span_stays_code() -> None:
    page = render_html([report("contract.pdf")])
    assert "<code>code (p. 9)</code>" in page
    assert "(p. 5)" not in without_code(page)  # its claim's other citation is an element
    assert page.count('<span class="cite"') == 4


def test_pages_link_to_the_pdf_as_given_or_relative_to_the_page(tmp_path: Path) -> None:
    pdf = tmp_path / "docs" / "contract.pdf"
    as_given = cites_of(render_html([report(str(pdf))])).cites[0]["href"]
    beside = cites_of(report(str(pdf)).to_html(output=pdf.with_suffix(".html"))).cites
    above = cites_of(report(str(pdf)).to_html(output=tmp_path / "out" / "r.html")).cites
    assert as_given == f"{pdf.as_posix()}#page=2"
    assert [cite["href"] for cite in beside[:3]] == [f"contract.pdf#page={n}" for n in (2, 7, 4)]
    assert above[0]["href"] == "../docs/contract.pdf#page=2"


def test_a_path_with_spaces_is_a_valid_link(tmp_path: Path) -> None:
    page = report("my docs/the lease.pdf").to_html(output=tmp_path / "r.html")
    href = cites_of(page).cites[0]["href"]
    assert href.endswith("my%20docs/the%20lease.pdf#page=2") and " " not in href


def test_a_document_that_is_not_a_pdf_gets_no_link() -> None:
    reader = cites_of(render_html([report("notes.txt")]))
    assert all(cite["href"] == "" for cite in reader.cites)
    assert reader.cites[0]["title"].startswith("“<b>rent</b>")  # the quote is still shown


def test_a_combined_report_links_each_named_document(tmp_path: Path) -> None:
    text = "- Rent is due monthly (lease.pdf, p. 2).\n- Fees apply (terms.pdf, p. 3).\n"
    chunks = [
        ChunkResult(0, 1, 2, "x", "m", source="in/lease.pdf"),
        ChunkResult(1, 3, 4, "y", "m", source="in/terms.pdf"),
    ]
    page = report("in/lease.pdf, in/terms.pdf", text, chunks).to_html(output=tmp_path / "r.html")
    hrefs = [cite["href"] for cite in cites_of(page).cites]
    base = os.path.relpath(Path("in").resolve(), tmp_path)
    assert hrefs == [f"{base}/lease.pdf#page=2", f"{base}/terms.pdf#page=3"]


def test_the_html_written_with_o_links_the_pdf_relative_to_it(tmp_path: Path) -> None:
    page = tmp_path / "out" / "sample.html"
    page.parent.mkdir()
    pdf = FIXTURES / "sample-en.pdf"
    result = CliRunner().invoke(cli, ["report", str(pdf), "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    hrefs = [cite["href"] for cite in cites_of(page.read_text(encoding="utf-8")).cites]
    relative = Path(os.path.relpath(pdf, page.parent)).as_posix()
    assert hrefs and all(href.startswith(f"{relative}#page=") for href in hrefs)


def test_a_cited_page_no_quote_was_found_on_is_never_shown_as_verified() -> None:
    pages = [Page(n, f"Page {n} says nothing in particular.") for n in range(1, 10)]
    pages[2] = Page(3, "The rent is 1,200 EUR per month, payable in advance.")
    claim = "The rent is 1,200 EUR per month (p. 3) and the tenant may sublet (p. 9)."
    checked = check_report(claim + "\n", {claim: "The rent is 1,200 EUR per month"}, pages)
    assert [(c.status, c.pages) for c in checked.citations] == [("corrected", (3,))]
    assert checked.text.endswith(
        "Citations: 0 verified, 1 corrected to their true page, 0 unsupported.\n"
    )
    shown = Report(**{**vars(report("a.pdf")), "text": claim, "citations": checked.citations})
    assert [row["status"] for row in shown.to_dict()["citations"]] == ["corrected"]
    on_page_3, on_page_9 = cites_of(render_html([shown])).cites
    assert on_page_3["status"] == "verified"
    assert on_page_9["status"] == "corrected"
    assert "Corrected: cited p. 9; the quote is on p. 3." in on_page_9["text"]
