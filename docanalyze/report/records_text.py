"""A table of records as text: JSON lines, CSV, one JSON document, a Markdown table.

Every format writes :attr:`RecordTable.columns <docanalyze.records.record.RecordTable.columns>`
in order (``document`` first in a table of several documents). JSON keeps each value's type; CSV
and Markdown write a cell as text (:func:`cell_text`): a list as ``3, 4``, an object as JSON,
nothing for a missing value. A CSV file starts with a byte order mark so that Excel reads it as
UTF-8 (:func:`records_csv_file`); a CSV stream does not, so pipes get plain UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docanalyze.citations.verify import UNSUPPORTED_MARK, CheckedCitation, VerificationSummary

if TYPE_CHECKING:
    from docanalyze.records.record import Record, RecordTable

__all__ = [
    "BYTE_ORDER_MARK",
    "cell_text",
    "record_check",
    "records_csv",
    "records_csv_file",
    "records_json",
    "records_jsonl",
    "records_markdown",
    "records_summary",
]

BYTE_ORDER_MARK = "\ufeff"
"""Starts a CSV file: Excel then reads it as UTF-8, not as the system's code page."""
LIST_JOINER = ", "
"""Joins the items of a list in one cell of CSV or Markdown."""
_MARKDOWN_SPECIAL = re.compile(r"(\\(?=[!-/:-@\[-`{-~])|[|<])")
"""A backslash before ASCII punctuation, a pipe (a cell's end) or ``<`` (raw HTML)."""
_NEWLINE = re.compile(r"\r\n|\r|\n")


def cell_text(value: Any) -> str:
    """``value`` as the text of one cell: None as nothing, a boolean as ``true``/``false``, a
    list of plain values joined by ``, ``, anything else nested as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)) and not any(isinstance(v, (dict, list)) for v in value):
        return LIST_JOINER.join(cell_text(item) for item in value)
    if isinstance(value, (dict, list, tuple)):
        return _json(value)
    return str(value)


def record_check(record: Record) -> CheckedCitation:
    """What checking ``record``'s quotes found, as the check of a report's citation."""
    return CheckedCitation(
        claim="",
        pages=record.pages,
        quote=record.quote or None,
        status=record.status,
        cited_pages=record.cited_pages,
    )


def records_summary(table: RecordTable) -> str:
    """The line after a table: how many records, and what checking their quotes found, e.g.
    ``3 records. Citations: 1 verified, 1 corrected to their true page, 1 unsupported (marked
    ⚠).``"""
    count = len(table.records)
    summary = VerificationSummary.of(record_check(record) for record in table.records)
    return f"{count} record{'' if count == 1 else 's'}. {summary.describe()}"


def records_jsonl(table: RecordTable) -> str:
    """One JSON object per record, one a line, with the table's columns as keys."""
    return "".join(_json(row) + "\n" for row in table.rows())


def records_json(table: RecordTable) -> str:
    """One JSON document: ``title``, ``sources``, ``columns``, ``records`` (the rows, as in
    :func:`records_jsonl`) and ``citations`` (how many records were verified, corrected,
    unsupported)."""
    summary = VerificationSummary.of(record_check(record) for record in table.records)
    data = {
        "title": table.title,
        "sources": list(table.sources),
        "columns": list(table.columns),
        "records": table.rows(),
        "citations": {
            "verified": summary.verified,
            "corrected": summary.corrected,
            "unsupported": summary.unsupported,
        },
    }
    return json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"


def records_csv(table: RecordTable) -> str:
    """CSV: a header row of the table's columns, then a row per record (:func:`cell_text`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(_text_rows(table))
    return buffer.getvalue()


def records_csv_file(table: RecordTable, _path: Path) -> str:
    """:func:`records_csv` for a file: after a :data:`BYTE_ORDER_MARK`."""
    return BYTE_ORDER_MARK + records_csv(table)


def records_markdown(table: RecordTable) -> str:
    """A heading, a Markdown table (``|`` and ``<`` escaped, line breaks as ``<br>``, an
    unsupported record's citation marked ⚠) and :func:`records_summary`."""
    lines = [f"# {_markdown_cell(table.title)}", "", _markdown_row(table.columns)]
    lines.append(_markdown_row("---" for _ in table.columns))
    lines += [_markdown_row(row) for row in _text_rows(table, marked=True)]
    return "\n".join([*lines, "", records_summary(table), ""])


def _text_rows(table: RecordTable, *, marked: bool = False) -> list[list[str]]:
    """The table's rows as cells of text; ``marked``: an unsupported citation after ⚠."""
    rows = []
    for row in table.rows():
        cells = {name: cell_text(value) for name, value in row.items()}
        if marked and row["citation"] == "unsupported":
            cells["citation"] = f"{UNSUPPORTED_MARK} unsupported"
        rows.append([cells[name] for name in table.columns])
    return rows


def _markdown_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |"


def _markdown_cell(text: str) -> str:
    """``text`` inside one cell of a Markdown table (or one heading line)."""
    return _NEWLINE.sub("<br>", _MARKDOWN_SPECIAL.sub(r"\\\1", text))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
