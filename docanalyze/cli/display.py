"""What the terminal shows while a run works: notices, progress, the streamed report."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from docanalyze.events import Event, Notice, ReportText, RequestRetried, StageStarted, StepFinished
from docanalyze.run.several import current_source


def retry_detail(retries: int, rate_limited: int) -> str:
    """``2 retries, 1 rate-limited``."""
    return f"{retries} {'retry' if retries == 1 else 'retries'}, {rate_limited} rate-limited"


class StdoutStream:
    """Writes the report to stdout as it streams, then whatever the finished report adds."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def write(self, event: ReportText) -> None:
        if event.restart:
            if self.sent:
                click.echo("\n\n---\n\n", nl=False)
            self.sent.clear()
            return
        click.echo(event.text, nl=False)
        self.sent.append(event.text)

    def finish(self, text: str) -> None:
        """Write the rest of ``text``: all of it if nothing was streamed, usually a newline."""
        sent = "".join(self.sent)
        click.echo(text[len(sent) :] if text.startswith(sent) else "\n", nl=False)


class ProgressDisplay:
    """Shows notices always, and a progress bar with retries when stderr is a terminal.

    With a ``writer``, the streamed report goes to stdout: the bar stops at its first text.
    """

    def __init__(self, console: Console, writer: StdoutStream | None = None) -> None:
        self.console = console
        self.writer = writer
        self.progress: Progress | None = None
        if console.is_terminal and not console.quiet:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[tokens]} tokens"),
                TextColumn("{task.fields[retries]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
        self.tasks: dict[str | None, TaskID] = {}
        """The bar of each document running (key None for a single document)."""
        self.tokens = 0
        self.retries = 0
        self.rate_limited = 0

    def __enter__(self) -> ProgressDisplay:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_progress()

    def handle(self, event: Event) -> None:
        if isinstance(event, Notice):
            self.console.print(f"docanalyze: {event.message}", highlight=False, markup=False)
        elif isinstance(event, ReportText):
            self._report_text(event)
        elif isinstance(event, RequestRetried):
            self.retries += 1
            self.rate_limited += event.status == 429
            self._update()
        elif isinstance(event, StageStarted):
            self._stage_started(event)
        elif isinstance(event, StepFinished):
            self.tokens += event.usage.input_tokens + event.usage.output_tokens
            self._update(advance=1)

    def _report_text(self, event: ReportText) -> None:
        if self.writer is None:
            return
        self._stop_progress()
        if event.restart:
            self.console.print(
                "docanalyze: the report stream broke and starts again", highlight=False
            )
        self.writer.write(event)

    def _stage_started(self, event: StageStarted) -> None:
        if self.progress is None:
            return
        label = f"reduce level {event.level}" if event.stage == "reduce" else event.stage
        source = current_source()
        if source is not None:
            label = f"{source}: {label}"
        previous = self.tasks.pop(source, None)
        if previous is not None:
            self.progress.remove_task(previous)
        self.tasks[source] = self.progress.add_task(
            label, total=event.steps, tokens=self._tokens(), retries=self._retries()
        )

    def _update(self, advance: int = 0) -> None:
        task = self.tasks.get(current_source())
        if self.progress is not None and task is not None:
            self.progress.update(
                task, advance=advance, tokens=self._tokens(), retries=self._retries()
            )

    def _tokens(self) -> str:
        return f"{self.tokens:,}"

    def _retries(self) -> str:
        return retry_detail(self.retries, self.rate_limited) if self.retries else ""

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
