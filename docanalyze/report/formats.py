"""The output formats, registered once: ``md``, ``json`` and ``html`` render a report and a
table of records; ``jsonl`` (the records' default) and ``csv`` render records only.

Each :class:`OutputFormat` names its file suffix, how it renders one report and several, how it
renders a :class:`~docanalyze.records.record.RecordTable` (:mod:`docanalyze.report.records_text`,
:mod:`docanalyze.report.records_html`), and what it can do. The CLI's ``--format`` choices
(:func:`report_format_names`, :func:`table_format_names`), the file names of ``-o DIR`` and of a
corpus run (:mod:`docanalyze.corpus.runner`) all read :data:`FORMATS`, so a format added with
:func:`register_format` is one entry here:

>>> from docanalyze.report.formats import OutputFormat, register_format
>>> register_format(OutputFormat("txt", ".txt", lambda report: report.text))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from docanalyze.errors import ConfigError
from docanalyze.report.records_text import (
    records_csv,
    records_csv_file,
    records_json,
    records_jsonl,
    records_markdown,
)
from docanalyze.report.result import Report

if TYPE_CHECKING:
    from docanalyze.records.record import RecordTable

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_TABLE_FORMAT",
    "FORMATS",
    "MARKDOWN_SEPARATOR",
    "FailedDocument",
    "OutputFormat",
    "format_names",
    "output_format",
    "register_format",
    "report_format",
    "report_format_names",
    "table_format",
    "table_format_names",
]

MARKDOWN_SEPARATOR = "\n---\n\n"
"""Between the Markdown reports of several documents written to one stream."""


class FailedDocument(Protocol):
    """A document of several that has no report (a
    :class:`~docanalyze.run.several.DocumentFailure`): its name as given and the error."""

    @property
    def source(self) -> str: ...
    @property
    def message(self) -> str: ...


SeveralRenderer = Callable[[Sequence[Report], Sequence[FailedDocument]], str]
"""Renders the reports of several documents (and those that failed) as one text."""


TableRenderer = Callable[["RecordTable"], str]
"""Renders a table of records as one text."""


@dataclass(frozen=True)
class OutputFormat:
    """One output format: its ``name`` (``--format NAME``), the ``suffix`` of its files, and
    ``render``, one report as text (None: the format renders records only).

    ``render_several`` writes several reports to one stream (and may list the documents that
    failed); without it, the reports' texts follow each other. ``render_file`` renders one report
    for the file it will be written to (an HTML page links the source PDF relative to it);
    without it, ``render``. ``streams``: the text is the
    report's Markdown as the model writes it, so it can be written while it is written
    (``--stream``); ``markdown``: the text is Markdown, shown rendered on a terminal.
    ``render_table`` renders a :class:`~docanalyze.records.record.RecordTable` (None: the format
    renders reports only); ``render_table_file`` renders it for the file it will be written to.
    """

    name: str
    suffix: str
    render: Callable[[Report], str] | None = None
    render_several: SeveralRenderer | None = None
    streams: bool = False
    markdown: bool = False
    render_file: Callable[[Report, Path], str] | None = None
    render_table: TableRenderer | None = None
    render_table_file: Callable[[RecordTable, Path], str] | None = None

    @property
    def renders_reports(self) -> bool:
        """Whether the format renders a report (``docanalyze report``)."""
        return self.render is not None

    @property
    def renders_tables(self) -> bool:
        """Whether the format renders a table of records (``docanalyze extract``)."""
        return self.render_table is not None

    def render_to(self, report: Report, path: Path | None) -> str:
        """One report as text for the file ``path`` (None: for a stream)."""
        if path is not None and self.render_file is not None:
            return self.render_file(report, path)
        return self._report_renderer()(report)

    def render_many(self, reports: Sequence[Report], failures: Sequence[FailedDocument]) -> str:
        """Several reports (and the documents that failed) as one text."""
        render = self._report_renderer()
        if self.render_several is not None:
            return self.render_several(reports, failures)
        return "".join(render(report) for report in reports)

    def render_table_to(self, table: RecordTable, path: Path | None) -> str:
        """A table of records as text for the file ``path`` (None: for a stream); a
        :class:`ConfigError` when the format renders reports only."""
        if path is not None and self.render_table_file is not None:
            return self.render_table_file(table, path)
        return self._table_renderer()(table)

    def _table_renderer(self) -> TableRenderer:
        if self.render_table is None:
            raise ConfigError(
                f"--format {self.name} writes reports, not records: for docanalyze extract use "
                f"one of {', '.join(table_format_names())}"
            )
        return self.render_table

    def _report_renderer(self) -> Callable[[Report], str]:
        if self.render is None:
            raise ConfigError(
                f"--format {self.name} is for records (docanalyze extract), not reports: "
                f"for a report use one of {', '.join(report_format_names())}"
            )
        return self.render


FORMATS: dict[str, OutputFormat] = {}
"""The registered formats by name, in the order they were registered."""

DEFAULT_FORMAT = "md"
"""The format of a report when none is named."""
DEFAULT_TABLE_FORMAT = "jsonl"
"""The format of a table of records when none is named."""


def register_format(output: OutputFormat) -> OutputFormat:
    """Add ``output`` to :data:`FORMATS` (replacing a format of the same name); returns it."""
    FORMATS[output.name] = output
    return output


def output_format(name: str) -> OutputFormat:
    """The registered format called ``name``; a :class:`ConfigError` naming the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(FORMATS)
        raise ConfigError(f"unknown output format {name!r}: use one of {known}") from None


def report_format(name: str) -> OutputFormat:
    """The registered format called ``name`` that renders reports; a :class:`ConfigError`
    for an unknown one or one for records only (``jsonl``, ``csv``)."""
    chosen = output_format(name)
    chosen._report_renderer()
    return chosen


def table_format(name: str) -> OutputFormat:
    """The registered format called ``name`` that renders tables of records; a
    :class:`ConfigError` for an unknown one or one for reports only."""
    chosen = output_format(name)
    chosen._table_renderer()
    return chosen


def format_names() -> tuple[str, ...]:
    """The names of the registered formats, in the order they were registered."""
    return tuple(FORMATS)


def report_format_names() -> tuple[str, ...]:
    """The names of the formats that render a report (``docanalyze report --format``)."""
    return tuple(name for name, output in FORMATS.items() if output.renders_reports)


def table_format_names() -> tuple[str, ...]:
    """The names of the formats that render a table of records (``docanalyze extract
    --format``), :data:`DEFAULT_TABLE_FORMAT` first."""
    names = [name for name, output in FORMATS.items() if output.renders_tables]
    return tuple(sorted(names, key=lambda name: name != DEFAULT_TABLE_FORMAT))


def _markdown_several(reports: Sequence[Report], _failures: Sequence[FailedDocument]) -> str:
    return MARKDOWN_SEPARATOR.join(report.to_markdown() for report in reports)


def _json_several(reports: Sequence[Report], failures: Sequence[FailedDocument]) -> str:
    data = {
        "reports": [report.to_dict() for report in reports],
        "failed": [{"source": failure.source, "error": failure.message} for failure in failures],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _html_several(reports: Sequence[Report], _failures: Sequence[FailedDocument]) -> str:
    from docanalyze.report.html import render_html  # jinja2 and markdown-it: loaded to render

    return render_html(reports)


def _html_table(table: RecordTable) -> str:
    from docanalyze.report.records_html import render_records_html  # jinja2: loaded to render

    return render_records_html(table)


def _html_table_file(table: RecordTable, path: Path) -> str:
    from docanalyze.report.records_html import render_records_html

    return render_records_html(table, output=path)


def _html_file(report: Report, path: Path) -> str:
    return report.to_html(output=path)


register_format(
    OutputFormat(
        "md",
        ".md",
        Report.to_markdown,
        render_several=_markdown_several,
        streams=True,
        markdown=True,
        render_table=records_markdown,
    )
)
register_format(
    OutputFormat(
        "json", ".json", Report.to_json, render_several=_json_several, render_table=records_json
    )
)
register_format(
    OutputFormat(
        "html",
        ".html",
        Report.to_html,
        render_several=_html_several,
        render_file=_html_file,
        render_table=_html_table,
        render_table_file=_html_table_file,
    )
)
register_format(OutputFormat("jsonl", ".jsonl", render_table=records_jsonl))
register_format(
    OutputFormat("csv", ".csv", render_table=records_csv, render_table_file=records_csv_file)
)
