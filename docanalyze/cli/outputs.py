"""Writing reports: several reports, -o FILE or DIR, the terminal; ``--format`` choices.

The formats themselves (md, json, html) are registered in :mod:`docanalyze.report.formats`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import Any

import click
from rich.console import Console

from docanalyze.errors import ConfigError
from docanalyze.report.formats import OutputFormat, format_names, report_format, report_format_names
from docanalyze.run.several import SeveralResult

__all__ = [
    "RegisteredFormat",
    "stdout_is_terminal",
    "write_several_to_dir",
    "write_text",
]


class RegisteredFormat(click.Choice[str]):
    """``--format``'s choices: the formats registered when the option is read, not when the
    command was built (:data:`docanalyze.report.formats.FORMATS`). ``names`` lists them: those
    that render reports (the default), or
    :func:`~docanalyze.report.formats.table_format_names` for records."""

    def __init__(
        self,
        names: Callable[[], tuple[str, ...]] = report_format_names,
        check: Callable[[str], object] = report_format,
    ) -> None:
        self._names = names
        self._check = check
        super().__init__(())

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """``value`` if this option offers it; a registered format it does not offer (``csv``
        for a report) fails with the core's hint, saying which command it is for."""
        if isinstance(value, str) and value in format_names() and value not in self.choices:
            try:
                self._check(value)
            except ConfigError as error:
                self.fail(str(error), param, ctx)
        return super().convert(value, param, ctx)

    @property
    def choices(self) -> tuple[str, ...]:
        """The names of the registered formats this option offers."""
        return self._names()

    @choices.setter
    def choices(self, _value: Any) -> None:
        """Set by :class:`click.Choice`'s constructor; the registry decides."""


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (then a Markdown report is rendered for reading)."""
    return sys.stdout.isatty()


def write_several_to_dir(
    result: SeveralResult, output: OutputFormat, directory: Path
) -> list[Path]:
    """One file per report in ``directory``, named after its input (a.pdf -> a.md)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.FileError(str(directory), hint=error.strerror) from error
    targets = output_names(result.inputs, output.suffix)
    written: list[Path] = []
    for report, name in zip(result.reports, targets):
        target = directory / name
        write_text(output.render_to(report, target), target)
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
