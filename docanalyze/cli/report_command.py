"""``docanalyze report``: options in, the report on stdout, usage on stderr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from docanalyze.cli.app import cli, debug_option, freeze_startup_heap
from docanalyze.cli.corpus_command import run_corpus_command
from docanalyze.cli.display import (
    ProgressDisplay,
    StdoutStream,
    print_unsupported_notice,
    retry_detail,
)
from docanalyze.cli.outputs import (
    RegisteredFormat,
    stdout_is_terminal,
    write_several_to_dir,
    write_text,
)
from docanalyze.cli.shared_options import (
    BackendChoice,
    analysis_options,
    cache_setting,
    given_options,
    stored_reply_options,
)
from docanalyze.cost import format_usd, input_tokens_with_cache
from docanalyze.errors import IncompleteRun
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT
from docanalyze.options import UNSUPPORTED_CHOICES, Options
from docanalyze.report.formats import DEFAULT_FORMAT, OutputFormat, output_format
from docanalyze.report.result import Report
from docanalyze.run.pipeline import Pipeline
from docanalyze.run.route import InputConflict, Mode, ReportRoute, route_report
from docanalyze.run.several import SeveralResult
from docanalyze.text.wording import counted


@cli.command(
    epilog="""\b
Examples:
  docanalyze report contract.pdf                     # Markdown report on stdout
  docanalyze report contract.pdf -o report.md        # ... written to a file
  docanalyze report scan.pdf --password secret
  cat notes.txt | docanalyze report -                # read stdin
  docanalyze report annual.pdf --prompts my-prompts/ --var focus=risks
  docanalyze report lease.pdf --question "When can the tenant terminate?"
  docanalyze report annual.pdf --language zh            # a report in Chinese
  docanalyze report big.pdf --format json | jq .usage
  docanalyze report big.pdf --model claude-haiku-4-5 --concurrency 16
  docanalyze report big.pdf --rpm 50 --fallback-model claude-haiku-4-5
  docanalyze report big.pdf --max-cost 2.50             # stop before spending more
  docanalyze report big.pdf --batch                     # half the price, results later
  docanalyze report big.pdf --refresh                   # ask again, replace stored replies
  docanalyze report big.pdf --format html -o big.html   # a standalone web page
  docanalyze report a.pdf b.pdf docs/*.txt -o reports/  # one file per document
  docanalyze report docs/ -o reports/    # every document of docs/, reports/index.jsonl
  docanalyze report 'docs/**/*.pdf' -o reports/         # a glob, quoted; re-run to resume
  docanalyze report a.pdf b.pdf --combine               # one report of both
  docanalyze report big.pdf --prompts my-prompts/ --dry-run   # the prompts, nothing sent

Without ANTHROPIC_API_KEY the offline extractive analyzer is used.
""",
)
@click.argument("paths", nargs=-1, required=True, type=str, metavar="PATH...")
@analysis_options
@click.option(
    "--backend",
    type=BackendChoice(),
    default=Options.backend,
    show_default=True,
    help="auto: Claude when ANTHROPIC_API_KEY is set, else extractive.",
)
@click.option(
    "--fallback-model", help="Model for later requests when the primary keeps failing (529/5xx)."
)
@click.option(
    "--format",
    "format_name",
    type=RegisteredFormat(),
    default=DEFAULT_FORMAT,
    show_default=True,
    help="Markdown report, JSON with chunks, usage and timings, or a standalone HTML page.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write here: a file, or a folder (one file per document) with several PATHs; "
    "for a folder or glob PATH, the folder of reports and index.jsonl "
    "[default: docanalyze-reports/].",
)
@click.option(
    "--unsupported",
    type=click.Choice(UNSUPPORTED_CHOICES),
    default=Options.unsupported,
    show_default=True,
    help="A claim no page supports: mark it where it stands, or drop it from the report.",
)
@click.option(
    "--combine",
    is_flag=True,
    help="One report of all the PATHs together; citations name the document.",
)
@click.option(
    "--max-cost",
    type=float,
    metavar="USD",
    help="Stop before the run could cost more (USD); the partial report is kept.",
)
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Write the report while it is written [default: when stdout is a terminal, "
    "with --format md and no -o].",
)
@stored_reply_options
@click.option(
    "--ray",
    "on_ray",
    is_flag=True,
    help="Run a folder or glob on Ray: the cluster at RAY_ADDRESS, or a local Ray.",
)
@click.option(
    "--ray-address", metavar="ADDRESS", help="With --ray: the cluster to join (not RAY_ADDRESS)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or usage on stderr.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the rendered map, reduce and final prompts with their budgets; send nothing.",
)
@debug_option
def report(
    paths: tuple[str, ...],
    format_name: str,
    output: Path | None,
    quiet: bool,
    stream: bool | None,
    **settings: Any,
) -> None:
    """Write a cited report of each document at PATH ("-" reads stdin).

    With several PATHs: one report per document (on stdout, separated by a "---" line; with -o, a
    folder of files named after the documents, and its index.jsonl: re-running resumes), or one
    report of them all with --combine.

    A PATH that is a folder (its documents, recursively) or a quoted glob ('docs/**/*.pdf') writes
    a report per file under -o (mirroring the folders) and -o/index.jsonl; re-running resumes.
    """
    cache_setting(settings)
    shape = {name: settings.pop(name) for name in ("combine", "dry_run", "on_ray", "ray_address")}
    try:
        route = route_report(
            paths,
            Options(**settings),
            output=output,
            output_format=format_name,
            stream=stream,
            stdout_is_terminal=stdout_is_terminal(),
            command_line=given_options(click.get_current_context()),
            **shape,
        )
    except InputConflict as error:
        raise click.UsageError(str(error)) from None
    _RUNS[route.mode](route, Console(stderr=True, quiet=quiet, soft_wrap=True))


def _report_one(route: ReportRoute, console: Console) -> None:
    """One document: its report on stdout (streamed, or rendered on a terminal) or in ``-o``;
    its usage line; exit 3 when it is incomplete."""
    chosen = output_format(route.output_format)
    writer = StdoutStream() if route.options.stream else None
    stopped: IncompleteRun | None = None
    freeze_startup_heap(route.options.backend)
    with ProgressDisplay(console, writer) as display:
        pipeline = Pipeline(route.options, on_event=display.handle)
        try:
            result = pipeline.analyze(route.paths[0])
        except IncompleteRun as error:
            result, stopped = error.report, error
    text = chosen.render_to(result, route.output)
    if writer is not None:
        writer.finish(text)
    else:
        write_text(text, route.output, render=_render_on_terminal(chosen, route.output))
    print_unsupported_notice(console, result, route.options.unsupported)
    console.print(_usage_line(result), highlight=False)
    if stopped is not None:
        raise stopped
    if not result.complete:
        click.get_current_context().exit(result.exit_code)


def _report_several(route: ReportRoute, console: Console) -> None:
    """Several documents in memory, a report each or one of them all (``combine``)."""
    writer = StdoutStream() if route.options.stream else None
    freeze_startup_heap(route.options.backend)
    with ProgressDisplay(console, writer) as display:
        pipeline = Pipeline(route.options, on_event=display.handle)
        result = pipeline.analyze_many(route.paths, combine=route.mode == "combine")
    chosen = output_format(route.output_format)
    _finish_several(
        result,
        chosen,
        route.output,
        writer,
        console,
        route.mode == "combine",
        route.options.unsupported,
    )


def _print_dry_run(route: ReportRoute, _console: Console) -> None:
    """``--dry-run``: the prompts a run would send first, on stdout (or ``-o``)."""
    from docanalyze.planning.dry_run import format_dry_run, preview_prompts

    write_text(format_dry_run(preview_prompts(route.paths[0], route.options)), route.output)
    if len(route.paths) > 1:
        more = len(route.paths) - 1
        click.echo(
            f"docanalyze: the prompts of {route.paths[0]}, the first of {len(route.paths)} "
            f"documents; and {more:,} more document{'' if more == 1 else 's'} "
            f"follow{'s' if more == 1 else ''}, not shown",
            err=True,
        )


_RUNS: dict[Mode, Callable[[ReportRoute, Console], None]] = {
    "single": _report_one,
    "several": _report_several,
    "combine": _report_several,
    "folder": run_corpus_command,
    "dry-run": _print_dry_run,
}


def _finish_several(
    result: SeveralResult,
    chosen: OutputFormat,
    output: Path | None,
    writer: StdoutStream | None,
    console: Console,
    combine: bool,
    unsupported: str,
) -> None:
    """Write the reports of several documents, their usage lines and errors; exit 1 when a
    document has no report, else 3 when a report is incomplete."""
    if output is not None and not combine:
        write_several_to_dir(result, chosen, output)
    elif result.reports:
        text = (
            chosen.render_to(result.reports[0], output)
            if combine
            else chosen.render_many(result.reports, result.failures)
        )
        if writer is not None:
            writer.finish(text)
        else:
            write_text(text, output, render=_render_on_terminal(chosen, output))
    for name, report in zip(result.inputs, result.reports):
        line = _usage_line(report)
        print_unsupported_notice(console, report, unsupported, None if combine else name)
        console.print(line if combine else line.replace(": ", f": {name}: ", 1), highlight=False)
    for failure in result.failures:
        click.echo(f"Error: {failure.message}", err=True)
    if result.exit_code:
        click.get_current_context().exit(result.exit_code)


def _render_on_terminal(chosen: OutputFormat, output: Path | None) -> bool:
    """Render Markdown for reading when it goes to a terminal (not streamed, not to a file)."""
    return chosen.markdown and output is None and stdout_is_terminal()


def _usage_line(result: Report) -> str:
    usage = result.usage
    seconds = result.timings.get("total", 0.0)
    if result.offline:
        return (
            f"docanalyze: offline extractive analysis, {counted(result.page_count, 'page')}, "
            f"{counted(len(result.chunks), 'chunk')}, "
            f"{counted(result.reduce_levels, 'reduce level')}, {seconds:.1f} s"
        )
    return (
        f"docanalyze: {counted(usage.requests, 'request')}{_stored_detail(result)}, "
        f"{input_tokens_with_cache(usage):,} input tokens{_cache_detail(result)}, "
        f"{usage.output_tokens:,} output tokens{_thinking_detail(result)}, "
        f"{_cost_detail(result)}{_batch_detail(result)}"
        f"{_savings_detail(result)}, "
        f"{retry_detail(result.retries, result.rate_limited)}, {seconds:.1f} s"
    )


def _thinking_detail(result: Report) -> str:
    """`` (2,210 thinking)`` when the model thought; thinking is billed as output."""
    thinking = result.usage.thinking_tokens
    return f" ({thinking:,} thinking)" if thinking else ""


def _cache_detail(result: Report) -> str:
    usage = result.usage
    parts = [
        f"{tokens:,} {kind}"
        for tokens, kind in (
            (usage.cache_creation_input_tokens, "cache write"),
            (usage.cache_read_input_tokens, "cache read"),
        )
        if tokens
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _cost_detail(result: Report) -> str:
    """``$1.04 (model)``, each model's share when several answered, or why the cost is unknown."""
    unpriced = sorted(name for name, cost in result.cost_by_model.items() if cost is None)
    if result.cost is None:
        return f"cost unknown (no price for {', '.join(unpriced) or result.model})"
    if len(result.cost_by_model) <= 1:
        return f"{format_usd(result.cost)} ({result.model})"
    shares = ", ".join(
        f"{name} {format_usd(cost or 0.0)}" for name, cost in result.cost_by_model.items()
    )
    return f"{format_usd(result.cost)} ({shares})"


def _savings_detail(result: Report) -> str:
    """``, $0.31 saved by prompt caching`` when the run wrote or read the prompt cache."""
    usage = result.usage
    if not (usage.cache_creation_input_tokens or usage.cache_read_input_tokens):
        return ""
    saved = result.cache_savings
    if saved is None:
        return ", prompt caching savings unknown"
    if saved < 0:
        return f", prompt caching cost {format_usd(-saved)} more"
    return f", {format_usd(saved)} saved by prompt caching"


def _batch_detail(result: Report) -> str:
    """``, batch price (50% off)`` for a run through the Message Batches API."""
    if not result.batch:
        return ""
    return f", batch price ({1 - BATCH_DISCOUNT:.0%} off)"


def _stored_detail(result: Report) -> str:
    if not result.cache_hits:
        return ""
    return f" (+{result.cache_hits:,} answered from the run store)"
