"""A table of records as one standalone HTML page: inline CSS, no external assets, no JavaScript.

The page is rendered from ``templates/records.html.j2`` (autoescaped, with the report page's
style). Each row shows the record's fields and, in its ``pages`` cell, the pages it was found
on as a report shows a citation (:func:`~docanalyze.report.html_citations.citation_element`):
linked to ``SOURCE.pdf#page=N`` relative to the page's file when the source is a PDF, with the
record's quote and what checking it found in a title (on hover) and a popover (on hover, click
or focus). The quote is shown there, not in a column of its own; an unsupported record's
citation is marked ⚠.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from docanalyze.citations.pages import format_pages
from docanalyze.citations.verify import UNSUPPORTED_MARK
from docanalyze.records.record import Record, RecordTable
from docanalyze.report.html import template_environment
from docanalyze.report.html_citations import PageLinks, citation_element
from docanalyze.report.records_text import cell_text, record_check, records_summary

__all__ = ["SHOWN_ELSEWHERE", "render_records_html"]

TEMPLATE_NAME = "records.html.j2"
SHOWN_ELSEWHERE = ("quote",)
"""Columns the page shows in each row's citation popover rather than in a column."""


@dataclass(frozen=True)
class _Cell:
    column: str
    content: Markup | str


@dataclass(frozen=True)
class _Row:
    status: str
    cells: list[_Cell]


def render_records_html(table: RecordTable, *, output: str | os.PathLike[str] | None = None) -> str:
    """``table`` as one HTML page. ``output`` is the file the page is written to: the pages
    link a source PDF relative to that file's folder (without it, to the source as given)."""
    links = PageLinks(table.sources, None if output is None else Path(output).parent)
    columns = [column for column in table.columns if column not in SHOWN_ELSEWHERE]
    rows = [
        _row(record, row, columns, links, f"record-{number}")
        for number, (record, row) in enumerate(zip(table.records, table.rows()), 1)
    ]
    return (
        template_environment()
        .get_template(TEMPLATE_NAME)
        .render(
            title=table.title,
            sources=table.sources,
            columns=columns,
            rows=rows,
            summary=records_summary(table),
        )
    )


def _row(
    record: Record, row: dict[str, object], columns: list[str], links: PageLinks, row_id: str
) -> _Row:
    return _Row(record.status, [_cell(column, record, row, links, row_id) for column in columns])


def _cell(
    column: str, record: Record, row: dict[str, object], links: PageLinks, row_id: str
) -> _Cell:
    if column == "pages":
        return _Cell(column, _pages(record, links, f"{row_id}-quote"))
    if column == "citation":
        return _Cell(column, _status(record))
    return _Cell(column, cell_text(row[column]))


def _pages(record: Record, links: PageLinks, element_id: str) -> Markup:
    """The record's pages (the cited ones when no quote was found), linked, with its quote."""
    pages = record.pages or record.cited_pages
    if not pages:
        return citation_element("no page", None, record_check(record), element_id)
    href = links.href(record.document, pages[0])
    return citation_element(format_pages(pages), href, record_check(record), element_id)


def _status(record: Record) -> Markup | str:
    if record.status != "unsupported":
        return record.status
    return Markup(
        '<mark class="unsupported" title="No page of the document holds this record\'s quote">'
        "{} unsupported</mark>"
    ).format(UNSUPPORTED_MARK)
