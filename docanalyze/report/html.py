"""Reports as one standalone HTML page: inline CSS, no external assets, no JavaScript.

The page is rendered from ``templates/report.html.j2`` with autoescaping on. Markdown (the report
and each chunk's extraction) becomes HTML through markdown-it-py in CommonMark mode with raw HTML
disabled, so markup written in a document or by the model is shown as text, never run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

from docanalyze.cost import format_usd, input_tokens_with_cache

if TYPE_CHECKING:  # Report.to_html imports this module: no cycle at run time
    from docanalyze.report.result import ChunkResult, Report

__all__ = ["render_html"]

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "report.html.j2"


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


def render_html(reports: Sequence[Report], *, title: str | None = None) -> str:
    """One HTML page showing ``reports`` in order, each followed by its chunks' extractions."""
    views = [_report_view(report) for report in reports]
    page_title = title or " · ".join(view.source for view in views) or "docanalyze"
    return _environment().get_template(TEMPLATE_NAME).render(title=page_title, reports=views)


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown_to_html(text: str) -> Markup:
    """Markdown as safe HTML: raw HTML in ``text`` is escaped, unsafe link schemes refused."""
    return Markup(_markdown().render(text))


def _report_view(report: Report) -> _ReportView:
    return _ReportView(
        source=report.source,
        facts=_facts(report),
        warnings=_warnings(report),
        notices=list(report.notices),
        body=markdown_to_html(report.text),
        chunks=[_chunk_view(chunk) for chunk in report.chunks],
    )


def _facts(report: Report) -> list[_Fact]:
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


def _warnings(report: Report) -> list[str]:
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


def _chunk_view(chunk: ChunkResult) -> _ChunkView:
    pages = (
        f"p. {chunk.first_page}"
        if chunk.first_page == chunk.last_page
        else f"pp. {chunk.first_page}–{chunk.last_page}"
    )
    title = f"Chunk {chunk.index + 1}"
    if chunk.source:
        title = f"{chunk.source} · {title}"
    return _ChunkView(
        title=title, pages=pages, model=chunk.model, body=markdown_to_html(chunk.text)
    )
