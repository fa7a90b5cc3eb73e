"""Writing reports: the formats (md, json, html), several reports, -o FILE or DIR, the terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path, PurePath

import click
from rich.console import Console

from docanalyze.report.result import Report
from docanalyze.run.several import SeveralResult

__all__ = [
    "SEPARATOR",
    "format_report",
    "format_several",
    "stdout_is_terminal",
    "write_several_to_dir",
    "write_text",
]

SEPARATOR = "\n---\n\n"
"""Between the Markdown reports of several documents written to one stream."""

SUFFIXES = {"md": ".md", "json": ".json", "html": ".html"}


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (then a Markdown report is rendered for reading)."""
    return sys.stdout.isatty()


def format_report(report: Report, output_format: str) -> str:
    """One report as ``md``, ``json`` or ``html`` text."""
    if output_format == "json":
        return report.to_json()
    if output_format == "html":
        return report.to_html()
    return report.to_markdown()


def format_several(result: SeveralResult, output_format: str) -> str:
    """Several reports as one text: Markdown reports separated by a ``---`` line; JSON
    ``{"reports": [...], "failed": [{"source", "error"}]}``; HTML one page with every report."""
    if output_format == "json":
        data = {
            "reports": [report.to_dict() for report in result.reports],
            "failed": [
                {"source": failure.source, "error": failure.message} for failure in result.failures
            ],
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output_format == "html":
        from docanalyze.report.html import render_html

        return render_html(result.reports)
    return SEPARATOR.join(report.to_markdown() for report in result.reports)


def write_several_to_dir(result: SeveralResult, output_format: str, directory: Path) -> list[Path]:
    """One file per report in ``directory``, named after its input (a.pdf -> a.md)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.FileError(str(directory), hint=error.strerror) from error
    targets = output_names(result.inputs, SUFFIXES[output_format])
    written: list[Path] = []
    for report, name in zip(result.reports, targets):
        target = directory / name
        write_text(format_report(report, output_format), target)
        written.append(target)
    return written


def output_names(inputs: Sequence[str], suffix: str) -> list[str]:
    """File names for ``inputs``: the input's stem plus ``suffix``, ``-2``, ``-3``... on clashes."""
    names: list[str] = []
    for given in inputs:
        stem = "stdin" if given == "-" else PurePath(given).stem or "report"
        name, number = f"{stem}{suffix}", 1
        while name in names:
            number += 1
            name = f"{stem}-{number}{suffix}"
        names.append(name)
    return names


def write_text(text: str, output: Path | None, *, render: bool = False) -> None:
    """Write ``text`` to ``output``, or to stdout (rendered as Markdown when ``render``)."""
    if output is None:
        if render:
            from rich.markdown import Markdown  # with pygments: loaded only to render

            Console(soft_wrap=False).print(Markdown(text))
        else:
            click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.FileError(str(output), hint=error.strerror) from error
