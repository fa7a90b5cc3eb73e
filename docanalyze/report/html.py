"""Reports as one standalone HTML page: inline CSS, no external assets, no JavaScript.

The page is rendered from ``templates/report.html.j2`` with autoescaping on. Markdown (the report
and each chunk's extraction) becomes HTML through :mod:`docanalyze.report.markdown`: raw HTML
disabled, so markup written in a document or by the model is shown as text, never run, and a quote
that begins like a numbered item is shown as written. The report's page citations show their
quotes and link their pages (:mod:`docanalyze.report.html_citations`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from docanalyze.citations.verify import CheckedCitation
from docanalyze.models.base import Usage
from docanalyze.report.figures import format_usd, input_tokens_with_cache
from docanalyze.report.html_citations import PageLinks, cited_markdown_to_html
from docanalyze.report.markdown import markdown_to_html

__all__ = ["ShownChunk", "ShownReport", "render_html", "template_environment"]

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "report.html.j2"


class ShownChunk(Protocol):
    """What the page shows of a chunk's extraction (a
    :class:`~docanalyze.report.result.ChunkResult`)."""

    @property
    def index(self) -> int: ...
    @property
    def first_page(self) -> int: ...
    @property
    def last_page(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def source(self) -> str | None: ...


class ShownReport(Protocol):
    """What the page shows of a report (a :class:`~docanalyze.report.result.Report`, whose
    :meth:`~docanalyze.report.result.Report.to_html` imports this module: it cannot import it)."""

    @property
    def source(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def offline(self) -> bool: ...
    @property
    def page_count(self) -> int: ...
    @property
    def chunks(self) -> Sequence[ShownChunk]: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def cost(self) -> float | None: ...
    @property
    def timings(self) -> Mapping[str, float]: ...
    @property
    def notices(self) -> Sequence[str]: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def complete(self) -> bool: ...
    @property
    def missing_chunks(self) -> Sequence[int]: ...
    @property
    def citations(self) -> Sequence[CheckedCitation]: ...


@dataclass(frozen=True)
class _Fact:
    label: str
    value: str


@dataclass(frozen=True)
class _ChunkView:
    title: str
    pages: str
    model: str
    body: Markup


@dataclass(frozen=True)
class _ReportView:
    source: str
    facts: list[_Fact]
    warnings: list[str]
    notices: list[str]
    body: Markup
    chunks: list[_ChunkView]


def render_html(
    reports: Sequence[ShownReport],
    *,
    title: str | None = None,
    output: str | os.PathLike[str] | None = None,
) -> str:
    """One HTML page showing ``reports`` in order, each followed by its chunks' extractions.

    ``output`` is the file the page is written to: its citations link the pages of a source PDF
    relative to that file's folder (without it, to the source's path as given).
    """
    folder = None if output is None else Path(output).parent
    views = [_report_view(report, number, folder) for number, report in enumerate(reports, 1)]
    page_title = title or " · ".join(view.source for view in views) or "docanalyze"
    return (
        template_environment().get_template(TEMPLATE_NAME).render(title=page_title, reports=views)
    )


@cache
def template_environment() -> Environment:
    """The environment of docanalyze's HTML pages (``templates/``, autoescaped)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _report_view(report: ShownReport, number: int, folder: Path | None) -> _ReportView:
    return _ReportView(
        source=report.source,
        facts=_facts(report),
        warnings=_warnings(report),
        notices=list(report.notices),
        body=cited_markdown_to_html(
            report.text,
            report.citations,
            PageLinks(_sources(report), folder),
            quoted=report.offline,
            id_prefix=f"report-{number}-cite",
        ),
        chunks=[_chunk_view(chunk, quoted=report.offline) for chunk in report.chunks],
    )


def _sources(report: ShownReport) -> tuple[str, ...]:
    """The documents of ``report``: each chunk's (a combined report), else the report's own."""
    named = dict.fromkeys(chunk.source for chunk in report.chunks if chunk.source)
    return tuple(named) or (report.source,)


def _facts(report: ShownReport) -> list[_Fact]:
    usage = report.usage
    facts = [
        _Fact("Pages", f"{report.page_count:,}"),
        _Fact("Chunks", f"{len(report.chunks):,}"),
        _Fact("Model", "offline extractive analyzer" if report.offline else report.model),
    ]
    if not report.offline:
        facts += [
            _Fact("Requests", f"{usage.requests:,}"),
            _Fact(
                "Tokens",
                f"{input_tokens_with_cache(usage):,} in · {usage.output_tokens:,} out",
            ),
            _Fact("Cost", "unknown" if report.cost is None else format_usd(report.cost)),
        ]
    if "total" in report.timings:
        facts.append(_Fact("Time", f"{report.timings['total']:.1f} s"))
    return facts


def _warnings(report: ShownReport) -> list[str]:
    warnings: list[str] = []
    if report.offline:
        warnings.append(
            "Offline: made by the extractive analyzer (no API key was set), not written by Claude."
        )
    if report.truncated:
        warnings.append("Truncated: the report was cut at --max-tokens.")
    if not report.complete and not report.truncated:
        missing = ", ".join(str(index + 1) for index in report.missing_chunks)
        warnings.append(f"Incomplete: the run stopped early; missing chunks: {missing or 'none'}.")
    return warnings


def _chunk_view(chunk: ShownChunk, *, quoted: bool) -> _ChunkView:
    pages = (
        f"p. {chunk.first_page}"
        if chunk.first_page == chunk.last_page
        else f"pp. {chunk.first_page}–{chunk.last_page}"
    )
    title = f"Chunk {chunk.index + 1}"
    if chunk.source:
        title = f"{chunk.source} · {title}"
    return _ChunkView(
        title=title,
        pages=pages,
        model=chunk.model,
        body=markdown_to_html(chunk.text, quoted=quoted),
    )
