"""What the terminal shows while a run works: notices, progress, the streamed report."""

from __future__ import annotations

from dataclasses import dataclass

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

from docanalyze.events import (
    Event,
    Notice,
    ProgressStage,
    ReportText,
    RequestReasked,
    RequestRetried,
    StageStarted,
    StepFinished,
    Waiting,
)
from docanalyze.report.citation_notice import unsupported_notice
from docanalyze.report.result import Report
from docanalyze.run.several import current_source


def retry_detail(retries: int, rate_limited: int) -> str:
    """``2 retries, 1 rate-limited``."""
    return f"{retries} {'retry' if retries == 1 else 'retries'}, {rate_limited} rate-limited"


def print_unsupported_notice(
    console: Console, report: Report, unsupported: str, name: str | None = None
) -> None:
    """Say on stderr how many claims of ``report`` no page supports were marked or left out
    (``unsupported``: ``--unsupported``), naming the document ``name`` if given."""
    notice = unsupported_notice(report.citations, unsupported)
    if notice is not None:
        named = f"{name}: " if name else ""
        console.print(f"docanalyze: {named}{notice}", highlight=False, markup=False)


def waiting_detail(event: Waiting) -> str:
    """``waiting on a rate-limit pause (12.0 s)``."""
    seconds = "" if event.seconds is None else f" ({event.seconds:.1f} s)"
    return f"waiting on {event.what}{seconds}"


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


@dataclass
class _Bar:
    """The bar of one document: the stage it counts (None before the first stage), its steps
    done, the replies asked again, and what the run waits on until that is over or the next
    reply comes."""

    task: TaskID
    stage: ProgressStage | None = None
    level: int = 0
    done: int = 0
    reasked: int = 0
    waiting: Waiting | None = None

    def counts(self, stage: ProgressStage, level: int) -> bool:
        """Whether an event of ``stage`` at ``level`` belongs to this bar."""
        return self.stage == stage and self.level == level


class ProgressDisplay:
    """Shows notices always, and a progress bar when stderr is a terminal.

    A bar counts the steps of the current stage (chunks, reduce groups, parts of the report),
    each once, and says beside it how many replies were asked again, how many requests were
    retried, and what the run is waiting on until the next reply. With a ``writer``,
    the streamed report goes to stdout: the bar stops at its first text.
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
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
        self.bars: dict[str | None, _Bar] = {}
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
            self._update(self.bars.get(current_source()))
        elif isinstance(event, StageStarted):
            self._stage_started(event)
        else:
            self._progressed(event)

    def _progressed(self, event: StepFinished | RequestReasked | Waiting) -> None:
        """A step done or asked again, or a wait: on the bar of the stage it belongs to."""
        if isinstance(event, Waiting):
            bar = self.bars.get(current_source()) if event.done else self._bar()
            if bar is not None and not event.done:
                bar.waiting = event
            elif bar is not None and bar.waiting is not None and bar.waiting.what == event.what:
                bar.waiting = None
            self._update(bar)
            return
        if isinstance(event, StepFinished):
            self.tokens += event.usage.input_tokens + event.usage.output_tokens
        bar = self.bars.get(current_source())
        if bar is None or not bar.counts(event.stage, event.level):
            return
        if isinstance(event, RequestReasked):
            bar.reasked += 1
        else:
            bar.done += 1
        bar.waiting = None  # a reply came: whatever the run waited on is over
        self._update(bar)

    def _report_text(self, event: ReportText) -> None:
        if self.writer is None:
            return
        self._stop_progress()
        if event.restart:
            self.console.print(
                "docanalyze: the report stream broke and starts again", highlight=False
            )
        self.writer.write(event)

    def _bar(self) -> _Bar | None:
        """The current document's bar; before its first stage, one that counts nothing yet."""
        source = current_source()
        bar = self.bars.get(source)
        if bar is None and self.progress is not None:
            label = "starting" if source is None else f"{source}: starting"
            task = self.progress.add_task(label, total=None, tokens=self._tokens(), detail="")
            bar = self.bars[source] = _Bar(task)
        return bar

    def _stage_started(self, event: StageStarted) -> None:
        if self.progress is None:
            return
        label = event.label or (
            f"reduce level {event.level}" if event.stage == "reduce" else event.stage
        )
        source = current_source()
        if source is not None:
            label = f"{source}: {label}"
        previous = self.bars.pop(source, None)
        if previous is not None:
            if previous.stage is not None:
                self.progress.refresh()  # its last frame (N/N) is drawn before it goes
            self.progress.remove_task(previous.task)
        task = self.progress.add_task(label, total=event.steps, tokens=self._tokens(), detail="")
        bar = self.bars[source] = _Bar(task, event.stage, event.level)
        if previous is not None and previous.stage is None:
            bar.waiting = previous.waiting  # what the run still waits on, not yet over
        self._update(bar)

    def _update(self, bar: _Bar | None) -> None:
        if self.progress is None or bar is None:
            return
        details = [f"re-asked {bar.reasked}"] if bar.reasked else []
        if self.retries:
            details.append(retry_detail(self.retries, self.rate_limited))
        if bar.waiting is not None:
            details.append(waiting_detail(bar.waiting))
        self.progress.update(
            bar.task, completed=bar.done, tokens=self._tokens(), detail=" · ".join(details)
        )

    def _tokens(self) -> str:
        return f"{self.tokens:,}"

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
