"""``docanalyze report DIR`` (or a glob): a corpus run, its progress and its summary on stderr."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from docanalyze.cli.app import freeze_startup_heap
from docanalyze.cli.display import retry_detail
from docanalyze.corpus.runner import CorpusSummary, FileDone, analyze_corpus
from docanalyze.cost import format_usd
from docanalyze.events import Event, Notice, RequestRetried
from docanalyze.run.pipeline import Pipeline
from docanalyze.run.route import DEFAULT_CORPUS_OUTPUT, ReportRoute
from docanalyze.run.several import current_source
from docanalyze.text.wording import counted

__all__ = ["run_corpus_command"]


def run_corpus_command(route: ReportRoute, console: Console) -> None:
    """Analyze the files of folders and globs into the route's folder; exit 1 when a file
    failed, else 3 when a report is incomplete (:attr:`CorpusSummary.exit_code`). On Ray with
    ``route.on_ray``: the cluster at ``route.ray_address`` (else ``RAY_ADDRESS``, else a local
    Ray)."""
    output = route.output or DEFAULT_CORPUS_OUTPUT
    if route.default_output:
        console.print(f"docanalyze: writing the reports to {output}/ (-o to choose)")
    freeze_startup_heap(route.options.backend)
    with CorpusDisplay(console) as display:
        if route.on_ray:
            summary = _on_ray(route, output, display)
        else:
            pipeline = Pipeline(route.options, on_event=display.handle)
            summary = analyze_corpus(
                pipeline,
                route.files,
                output,
                output_format=route.output_format,
                on_file=display.file_done,
            )
    if not console.quiet or not summary.ok:
        click.echo(f"docanalyze: {summary_line(summary)}", err=True)
    console.print(f"docanalyze: {usage_line(summary)}", highlight=False)
    if summary.exit_code:
        click.get_current_context().exit(summary.exit_code)


def _on_ray(route: ReportRoute, output: Path, display: CorpusDisplay) -> CorpusSummary:
    try:
        from docanalyze.ray.runner import analyze_on_ray
    except ImportError:
        raise click.UsageError("--ray needs Ray: pip install 'docanalyze[ray]'") from None
    return analyze_on_ray(
        route.options,
        route.files,
        output,
        output_format=route.output_format,
        on_file=display.file_done,
        address=route.ray_address,
        on_event=display.handle,
    )


def summary_line(summary: CorpusSummary) -> str:
    """``412 reports, 2 incomplete, 3 failed: see /abs/OUT/index.jsonl (reports in /abs/OUT/)``."""
    earlier = f" ({summary.skipped:,} from an earlier run)" if summary.skipped else ""
    incomplete = f"{summary.incomplete:,} incomplete, " if summary.incomplete else ""
    folder = os.path.abspath(summary.output_dir)
    return (
        f"{summary.complete:,} {'report' if summary.complete == 1 else 'reports'}{earlier}, "
        f"{incomplete}{summary.failed:,} failed: see {os.path.abspath(summary.index_path)} "
        f"(reports in {os.path.join(folder, '')})"
    )


def usage_line(summary: CorpusSummary) -> str:
    """What the run spent in all: requests, tokens, cost, time."""
    if summary.offline:
        return f"offline extractive analysis, {summary.seconds:.1f} s"
    usage = summary.usage
    stored = f" (+{summary.cached:,} answered from the run store)" if summary.cached else ""
    cost = "cost unknown" if summary.cost is None else format_usd(summary.cost)
    return (
        f"{usage.requests:,} requests{stored}, {usage.input_tokens:,} input tokens, "
        f"{usage.output_tokens:,} output tokens, {cost}, {summary.seconds:.1f} s"
    )


def eta_text(seconds: float | None) -> str:
    """``about 2 min 5 s left``, or nothing before the first file is analyzed."""
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"about {minutes} min {rest} s left" if minutes else f"about {rest} s left"


def in_flight_text(done: FileDone) -> str:
    """``12 documents and 30 requests in flight, about 1 min 5 s left``."""
    documents, requests = (
        counted(done.in_flight, "document"),
        counted(done.requests_in_flight, "request"),
    )
    flight = f"{documents} and {requests} in flight"
    eta = eta_text(done.eta_seconds)
    return f"{flight}, {eta}" if eta else flight


class CorpusDisplay:
    """Progress of a corpus run on stderr: one bar of files on a terminal, else a line a file.

    Each says the documents done and in flight, the requests in flight and how long the rest
    should take (at the pace so far and the rate limits). Notices name the document they
    come from; failures are always shown.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.retries = 0
        self.rate_limited = 0
        self.progress: Progress | None = None
        if console.is_terminal and not console.quiet:
            self.progress = Progress(
                TextColumn("files"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TextColumn("{task.fields[in_flight]}"),
                TextColumn("{task.fields[retries]}"),
                console=console,
                transient=True,
            )
        self.task = (
            self.progress.add_task("files", total=None, failed=0, in_flight="", retries="")
            if self.progress is not None
            else None
        )

    def __enter__(self) -> CorpusDisplay:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def handle(self, event: Event) -> None:
        """An event of the pipeline: notices are shown, retries counted."""
        if isinstance(event, Notice):
            source = current_source()
            prefix = f"{source}: " if source else ""
            self.console.print(
                f"docanalyze: {prefix}{event.message}", highlight=False, markup=False
            )
        elif isinstance(event, RequestRetried):
            self.retries += 1
            self.rate_limited += event.status == 429

    def file_done(self, done: FileDone) -> None:
        """A file is done: advance the bar; without one, write a line for each file analyzed.
        A failure is always written."""
        entry = done.entry
        counts = f"[{done.done:,}/{done.total:,}, {done.failed:,} failed]"
        if entry.status != "complete":
            click.echo(
                f"docanalyze: {counts} {entry.file}: {entry.status}: {entry.error}", err=True
            )
        elif self.progress is None and not done.skipped:
            line = f"docanalyze: {counts} {entry.file} ({in_flight_text(done)})"
            self.console.print(line, highlight=False, markup=False)
        if self.progress is not None and self.task is not None:
            retries = retry_detail(self.retries, self.rate_limited) if self.retries else ""
            self.progress.update(
                self.task,
                total=done.total,
                completed=done.done,
                failed=done.failed,
                in_flight=in_flight_text(done),
                retries=retries,
            )
