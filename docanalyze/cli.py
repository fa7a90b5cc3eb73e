"""The ``docanalyze`` command. It parses options, calls the Python API and formats output.

stdout carries the report; stderr carries progress, notices and the usage line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docanalyze.errors import DocanalyzeError
from docanalyze.events import Event, Notice, StageStarted, StepFinished
from docanalyze.models.catalog import DEFAULT_MODEL
from docanalyze.options import Options
from docanalyze.pipeline import Pipeline
from docanalyze.report import Report

_DEBUG_KEY = "docanalyze.debug"


class _Group(click.Group):
    """Catches docanalyze's errors once, at the boundary: one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DocanalyzeError as error:
            if ctx.meta.get(_DEBUG_KEY):
                raise
            click.echo(f"Error: {error}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            if ctx.meta.get(_DEBUG_KEY):
                raise
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_DEBUG_KEY] = True
    return value


_debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="Show tracebacks for errors.",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docanalyze")
@_debug_option
def cli() -> None:
    """Analyze documents far longer than a model's context window, with Claude.

    \b
    Examples:
      docanalyze report contract.pdf
      docanalyze report notes.txt --format json -o notes.json
    """


def _parse_vars(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    variables: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        variables[key.strip()] = value
    return variables


@cli.command(
    epilog="""\b
Examples:
  docanalyze report contract.pdf                     # Markdown report on stdout
  docanalyze report contract.pdf -o report.md        # ... written to a file
  docanalyze report scan.pdf --password secret
  cat notes.txt | docanalyze report -                # read stdin
  docanalyze report annual.pdf --prompts my-prompts/ --var focus=risks
  docanalyze report big.pdf --format json | jq .usage
  docanalyze report big.pdf --model claude-haiku-4-5 --concurrency 16

Without ANTHROPIC_API_KEY the offline extractive analyzer is used.
""",
)
@click.argument("path", type=str)
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Claude model.")
@click.option(
    "--backend",
    type=click.Choice(["auto", "anthropic", "extractive"]),
    default="auto",
    show_default=True,
    help="auto: Claude when ANTHROPIC_API_KEY is set, else extractive.",
)
@click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(path_type=Path),
    help="Folder with map.j2, reduce.j2 and/or final.j2 overriding the defaults.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    callback=_parse_vars,
    metavar="KEY=VALUE",
    help="A variable for the templates (repeatable).",
)
@click.option("--chunk-size", default=10_000, show_default=True, help="Characters per chunk.")
@click.option("--chunk-overlap", default=500, show_default=True, help="Characters of overlap.")
@click.option("--max-tokens", default=4096, show_default=True, help="Token budget of the report.")
@click.option("--context-window", type=int, help="Context window of a model not in the table.")
@click.option("--concurrency", default=8, show_default=True, help="Requests in flight at most.")
@click.option("--password", help="Password of an encrypted PDF.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
    help="Markdown report, or JSON with chunks, usage and timings.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or usage on stderr.")
@_debug_option
def report(
    path: str, output_format: str, output: Path | None, quiet: bool, **settings: Any
) -> None:
    """Write a cited report of the document at PATH ("-" reads stdin)."""
    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    with _ProgressDisplay(console) as display:
        result = Pipeline(Options(**settings), on_event=display.handle).analyze(path)
    _write(result.to_json() if output_format == "json" else result.to_markdown(), output)
    console.print(_usage_line(result), highlight=False)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.FileError(str(output), hint=error.strerror) from error


def _usage_line(result: Report) -> str:
    usage = result.usage
    seconds = result.timings.get("total", 0.0)
    if result.offline:
        return (
            f"docanalyze: offline extractive analysis, {_count(result.page_count, 'page')}, "
            f"{_count(len(result.chunks), 'chunk')}, "
            f"{_count(result.reduce_levels, 'reduce level')}, {seconds:.1f} s"
        )
    return (
        f"docanalyze: {usage.requests} requests, {usage.input_tokens:,} input tokens, "
        f"{usage.output_tokens:,} output tokens, {result.model}, {seconds:.1f} s"
    )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class _ProgressDisplay:
    """Shows notices always and a progress bar when stderr is a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        if console.is_terminal and not console.quiet:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[tokens]} tokens"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
        self.task: Any = None
        self.tokens = 0

    def __enter__(self) -> _ProgressDisplay:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def handle(self, event: Event) -> None:
        if isinstance(event, Notice):
            self.console.print(f"docanalyze: {event.message}", highlight=False, markup=False)
        elif self.progress is None:
            return
        elif isinstance(event, StageStarted):
            label = f"reduce level {event.level}" if event.stage == "reduce" else event.stage
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task(label, total=event.steps, tokens=f"{self.tokens:,}")
        elif isinstance(event, StepFinished) and self.task is not None:
            self.tokens += event.usage.input_tokens + event.usage.output_tokens
            self.progress.update(self.task, advance=1, tokens=f"{self.tokens:,}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="docanalyze")


if __name__ == "__main__":
    main()
