"""A table of records through the one format registry: JSON lines (the default), CSV, JSON, a
Markdown table and an HTML page, each read back as its readers read it; a combined table shows
the document first; ``jsonl`` and ``csv`` are for records, never for a report."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

import docanalyze
from docanalyze.cli import cli
from docanalyze.corpus.runner import analyze_corpus
from docanalyze.errors import ConfigError
from docanalyze.records.record import Record, RecordTable
from docanalyze.report.formats import (
    DEFAULT_TABLE_FORMAT,
    FORMATS,
    OutputFormat,
    output_format,
    register_format,
    report_format,
    report_format_names,
    table_format,
    table_format_names,
)
from docanalyze.report.records_text import BYTE_ORDER_MARK
from docanalyze.report.result import Report
from docanalyze.run.pipeline import Pipeline
from tests.test_html_citations import CitationReader

TRICKY = 'Acme | Co, "the buyer"\nsecond line <b>bold</b>'
CHINESE = "甲方有限公司"
FIELDS = ("id", "party", "pages_cited")
RECORDS = (
    Record({"id": "OB-1", "party": CHINESE, "pages_cited": [3, 4]}, (3, 4), ("甲方应支付",), "verified", (3, 4)),
    Record({"id": "OB-2", "party": TRICKY, "pages_cited": []}, (5,), ("a < b & c",), "corrected", (6,)),
    Record({"id": "OB-3", "party": "Nobody", "pages_cited": None}, (), ("made up",), "unsupported", (7,)),
)  # fmt: skip
COLUMNS = ("id", "party", "pages_cited", "pages", "quote", "citation")


def one_table(source: str = "docs/contract.pdf") -> RecordTable:
    return RecordTable(FIELDS, RECORDS, (source,), "Obligations")


def combined_table() -> RecordTable:
    records = tuple(
        Record({"id": f"OB-{n}", "party": "X"}, (n,), (f"quote {n}",), "verified", (n,), document=d)
        for n, d in ((1, "docs/a.pdf"), (2, "docs/b.pdf"))
    )
    return RecordTable(("id", "party"), records, ("docs/a.pdf", "docs/b.pdf"), "All")


def render(name: str, table: RecordTable, path: Path | None = None) -> str:
    return table_format(name).render_table_to(table, path)


def test_the_registry_names_the_formats_of_records_and_of_reports() -> None:
    assert DEFAULT_TABLE_FORMAT == "jsonl"
    assert table_format_names() == ("jsonl", "md", "json", "html", "csv")
    assert report_format_names() == ("md", "json", "html")
    assert {name: FORMATS[name].suffix for name in ("jsonl", "csv")} == {
        "jsonl": ".jsonl",
        "csv": ".csv",
    }


def test_jsonl_is_one_json_object_per_record_with_the_columns_as_keys() -> None:
    text = render("jsonl", one_table())
    assert CHINESE in text  # ensure_ascii=False
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows == one_table().rows()
    assert [list(row) for row in rows] == [list(COLUMNS)] * 3
    assert rows[0]["pages"] == [3, 4] and rows[0]["pages_cited"] == [3, 4]
    assert rows[1]["party"] == TRICKY
    assert rows[2]["citation"] == "unsupported" and rows[2]["pages"] == []
    assert text.endswith("}\n") and text.count("\n") == 3


def test_csv_reads_back_with_the_header_and_lists_joined() -> None:
    text = render("csv", one_table())
    assert not text.startswith(BYTE_ORDER_MARK)  # a stream: plain UTF-8 for pipes
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(header) == COLUMNS
    assert rows[0] == ["OB-1", CHINESE, "3, 4", "3, 4", "甲方应支付", "verified"]
    assert rows[1] == ["OB-2", TRICKY, "", "5", "a < b & c", "corrected"]
    assert rows[2] == ["OB-3", "Nobody", "", "", "made up", "unsupported"]


def test_a_csv_file_starts_with_a_byte_order_mark_for_excel(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text(render("csv", one_table(), path), encoding="utf-8")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,party,")
    with path.open(encoding="utf-8-sig", newline="") as file:
        assert next(csv.reader(file)) == list(COLUMNS)


def test_json_is_one_document_with_title_sources_columns_records_and_counts() -> None:
    data = json.loads(render("json", one_table()))
    assert data["title"] == "Obligations"
    assert data["sources"] == ["docs/contract.pdf"]
    assert tuple(data["columns"]) == COLUMNS
    assert data["records"] == one_table().rows()
    assert data["citations"] == {"verified": 1, "corrected": 1, "unsupported": 1}
    assert CHINESE in render("json", one_table())


def markdown_cells(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and body cells of the first table, as a GFM renderer reads them."""
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(text)
    rows: list[list[str]] = []
    for at, token in enumerate(tokens):
        if token.type == "tr_open":
            rows.append([])
        elif token.type in ("th_open", "td_open"):
            inline = tokens[at + 1]
            rows[-1].append("".join(c.content or "\n" for c in inline.children or []))
    return rows[0], rows[1:]


def test_markdown_is_a_table_with_cells_escaped_and_unsupported_marked() -> None:
    text = render("md", one_table())
    assert text.startswith("# Obligations\n\n| id | party |")
    assert r"Acme \| Co" in text and "<br>second line" in text and r"\<b>bold\</b>" in text
    header, rows = markdown_cells(text)
    assert tuple(header) == COLUMNS
    assert all(len(row) == len(COLUMNS) for row in rows) and len(rows) == 3
    assert rows[0][:4] == ["OB-1", CHINESE, "3, 4", "3, 4"]
    assert rows[1][1].replace("<br>", "") == TRICKY.replace("\n", "")  # the same text
    assert [row[-1] for row in rows] == ["verified", "corrected", "⚠ unsupported"]
    assert text.endswith(
        "\n\n3 records. Citations: 1 verified, 1 corrected to their true page, "
        "1 unsupported (marked ⚠).\n"
    )


class TableReader(HTMLParser):
    """The header and body cells of the page's table, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.in_cell = False
        self.in_popover = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self.rows[-1].append("")
            self.in_cell = True
        elif tag == "span" and ("class", "quote") in attrs or self.in_popover and tag == "span":
            self.in_popover += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td"):
            self.in_cell = False
        elif tag == "span" and self.in_popover:
            self.in_popover -= 1

    def handle_data(self, data: str) -> None:
        if self.in_cell and not self.in_popover:
            self.rows[-1][-1] += data


def read_page(page: str) -> tuple[list[list[str]], CitationReader]:
    table, cites = TableReader(), CitationReader()
    table.feed(page)
    cites.feed(page)
    return table.rows, cites


def test_html_shows_each_records_quote_on_hover_and_click_and_links_its_pdf_page(
    tmp_path: Path,
) -> None:
    page = render(
        "html", one_table(str(tmp_path / "docs" / "contract.pdf")), tmp_path / "out" / "r.html"
    )
    assert "<b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page  # text, never markup
    (header, *rows), cites = read_page(page)
    assert header == ["id", "party", "pages_cited", "pages", "citation"]  # the quote: on hover
    assert rows[0] == ["OB-1", CHINESE, "3, 4", "pp. 3–4", "verified"]
    assert rows[1][1] == TRICKY and rows[1][3:] == ["p. 5", "corrected"]
    assert rows[2][3:] == ["p. 7", "⚠ unsupported"]
    assert [cite["status"] for cite in cites.cites] == ["verified", "corrected", "unsupported"]
    assert [cite["href"] for cite in cites.cites] == [
        f"../docs/contract.pdf#page={n}" for n in (3, 5, 7)
    ]
    for cite, quote in zip(cites.cites, ("甲方应支付", "a < b & c", "made up")):
        assert f"“{quote}”" in cite["title"]  # on hover
        assert quote in cite["text"]  # in the popover (on hover, click or focus)
    assert "Corrected: cited p. 6; the quote is on p. 5." in cites.cites[1]["text"]
    assert cites.marks == ["⚠ unsupported"]
    assert "3 records. Citations: 1 verified" in page


def test_html_links_no_page_of_a_source_that_is_not_a_pdf() -> None:
    _, cites = read_page(render("html", one_table("notes.md")))
    assert [cite["href"] for cite in cites.cites] == ["", "", ""]
    assert "甲方应支付" in cites.cites[0]["title"]


@pytest.mark.parametrize("name", ["jsonl", "csv", "json", "md", "html"])
def test_a_combined_table_shows_the_document_first(name: str, tmp_path: Path) -> None:
    table = combined_table()
    assert table.columns[0] == "document"
    text = render(name, table, tmp_path / f"all.{name}")
    if name == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert [next(iter(row)) for row in rows] == ["document", "document"]
        assert [row["document"] for row in rows] == ["docs/a.pdf", "docs/b.pdf"]
    elif name == "csv":
        header, *rows = csv.reader(io.StringIO(text.removeprefix(BYTE_ORDER_MARK), newline=""))
        assert header[0] == "document" and [row[0] for row in rows] == ["docs/a.pdf", "docs/b.pdf"]
    elif name == "json":
        data = json.loads(text)
        assert data["columns"][0] == "document" and data["sources"] == ["docs/a.pdf", "docs/b.pdf"]
    elif name == "md":
        header, rows = markdown_cells(text)
        assert header[0] == "document" and [row[0] for row in rows] == ["docs/a.pdf", "docs/b.pdf"]
    else:
        (header, *rows), cites = read_page(text)
        assert header[0] == "document" and [row[0] for row in rows] == ["docs/a.pdf", "docs/b.pdf"]
        hrefs = [cite["href"] for cite in cites.cites]
        assert [href.rsplit("/", 1)[-1] for href in hrefs] == ["a.pdf#page=1", "b.pdf#page=2"]


def test_the_rows_of_a_combined_table_show_the_document_first_even_when_a_record_has_none() -> None:
    record = RECORDS[0]
    table = RecordTable(FIELDS, (record, replace(record, document="docs/b.pdf")), ("a", "b"))
    rows = table.rows()
    assert [next(iter(row)) for row in rows] == ["document", "document"]
    assert [row["document"] for row in rows] == [None, "docs/b.pdf"]
    assert list(one_table().rows()[0]) == list(COLUMNS), "one document: no document column"


def a_report(tmp_path: Path) -> Report:
    note = tmp_path / "note.md"
    note.write_text("The pump at station 4 was inspected in March.\n", encoding="utf-8")
    return docanalyze.analyze(str(note))


@pytest.mark.parametrize("name", ["jsonl", "csv"])
def test_a_records_format_on_a_report_is_a_config_error_saying_it_is_for_records(
    name: str, tmp_path: Path
) -> None:
    report = a_report(tmp_path)
    message = rf"--format {name} is for records \(docanalyze extract\).*md, json, html"
    with pytest.raises(ConfigError, match=message):
        output_format(name).render_to(report, None)
    with pytest.raises(ConfigError, match=message):
        output_format(name).render_many([report], [])
    with pytest.raises(ConfigError, match=message):
        report_format(name)
    with pytest.raises(ConfigError, match=message):
        analyze_corpus(Pipeline(), [str(tmp_path)], tmp_path / "out", output_format=name)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_report_format_offers_only_the_formats_of_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--help"])
    assert "[md|json|html]" in result.stdout
    note = a_report(tmp_path).source
    result = CliRunner().invoke(cli, ["report", note, "--format", "jsonl"])
    assert result.exit_code == 2
    assert "--format jsonl is for records (docanalyze extract), not reports" in result.stderr


def test_a_format_of_reports_only_is_a_config_error_for_records() -> None:
    register_format(OutputFormat("txt", ".txt", lambda report: report.text))
    try:
        with pytest.raises(ConfigError, match="--format txt writes reports, not records.*jsonl"):
            table_format("txt")
        with pytest.raises(ConfigError, match="--format txt writes reports, not records"):
            output_format("txt").render_table_to(one_table(), None)
        assert "txt" in report_format_names() and "txt" not in table_format_names()
    finally:
        del FORMATS["txt"]
