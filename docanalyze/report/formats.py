"""The output formats of a report, registered once: ``md``, ``json`` and ``html``.

Each :class:`OutputFormat` names its file suffix, how it renders one report and several, and
what it can do. The CLI's ``--format`` choices, the file names of ``-o DIR`` and of a corpus run
(:mod:`docanalyze.corpus.runner`) all read :data:`FORMATS`, so a format added with
:func:`register_format` is one entry here:

>>> from docanalyze.report.formats import OutputFormat, register_format
>>> register_format(OutputFormat("txt", ".txt", lambda report: report.text))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from docanalyze.errors import ConfigError
from docanalyze.report.result import Report

__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "MARKDOWN_SEPARATOR",
    "FailedDocument",
    "OutputFormat",
    "format_names",
    "output_format",
    "register_format",
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


@dataclass(frozen=True)
class OutputFormat:
    """One output format: its ``name`` (``--format NAME``), the ``suffix`` of its files, and
    ``render``, one report as text.

    ``render_several`` writes several reports to one stream (and may list the documents that
    failed); without it, the reports' texts follow each other. ``render_file`` renders one report
    for the file it will be written to (an HTML page links the source PDF relative to it);
    without it, ``render``. ``streams``: the text is the
    report's Markdown as the model writes it, so it can be written while it is written
    (``--stream``); ``markdown``: the text is Markdown, shown rendered on a terminal.
    """

    name: str
    suffix: str
    render: Callable[[Report], str]
    render_several: SeveralRenderer | None = None
    streams: bool = False
    markdown: bool = False
    render_file: Callable[[Report, Path], str] | None = None

    def render_to(self, report: Report, path: Path | None) -> str:
        """One report as text for the file ``path`` (None: for a stream)."""
        if path is None or self.render_file is None:
            return self.render(report)
        return self.render_file(report, path)

    def render_many(self, reports: Sequence[Report], failures: Sequence[FailedDocument]) -> str:
        """Several reports (and the documents that failed) as one text."""
        if self.render_several is not None:
            return self.render_several(reports, failures)
        return "".join(self.render(report) for report in reports)


FORMATS: dict[str, OutputFormat] = {}
"""The registered formats by name, in the order they were registered."""

DEFAULT_FORMAT = "md"
"""The format of a report when none is named."""


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


def format_names() -> tuple[str, ...]:
    """The names of the registered formats, in the order they were registered."""
    return tuple(FORMATS)


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


register_format(
    OutputFormat(
        "md",
        ".md",
        Report.to_markdown,
        render_several=_markdown_several,
        streams=True,
        markdown=True,
    )
)
register_format(OutputFormat("json", ".json", Report.to_json, render_several=_json_several))


def _html_file(report: Report, path: Path) -> str:
    return report.to_html(output=path)


register_format(
    OutputFormat(
        "html", ".html", Report.to_html, render_several=_html_several, render_file=_html_file
    )
)
