"""``docanalyze extract`` over several documents, folders and globs: the table of them all on
stdout, or with ``-o DIR`` a table per document, the combined table and an index (on Ray with
``--ray``); progress and each document's summary on stderr."""

from __future__ import annotations

import click
from rich.console import Console

from docanalyze.cli.app import freeze_startup_heap
from docanalyze.cli.corpus_command import CorpusDisplay, usage_line
from docanalyze.cli.display import ProgressDisplay
from docanalyze.cli.extract_lines import records_line, summary_line
from docanalyze.cli.outputs import write_text
from docanalyze.records.corpus import CorpusRecords, extract_corpus
from docanalyze.records.route import ExtractRoute
from docanalyze.report.formats import table_format
from docanalyze.run.pipeline import Pipeline

__all__ = ["run_extract_many"]


def run_extract_many(route: ExtractRoute, console: Console) -> None:
    """Extract the route's documents (see :mod:`docanalyze.records.route`); exit 1 when a
    document failed, else 3 when one is incomplete."""
    freeze_startup_heap(route.options.backend)
    if route.mode == "folder":
        _into_folder(route, console)
        return
    with ProgressDisplay(console) as display:
        pipeline = Pipeline(route.options, on_event=display.handle)
        result = pipeline.extract_many(route.paths, route.schema, key=route.key)
    write_text(table_format(route.output_format).render_table_to(result.table, None), None)
    for done in result.results:
        line = summary_line(done).replace(": ", f": {done.source}: ", 1)
        console.print(line, highlight=False, markup=False)
        if done.stopped:
            click.echo(f"docanalyze: {done.source}: incomplete: {done.stopped}", err=True)
    for failure in result.failures:
        named = "" if failure.source in failure.message else f"{failure.source}: "
        click.echo(f"Error: {named}{failure.message}", err=True)
    if result.exit_code:
        click.get_current_context().exit(result.exit_code)


def _into_folder(route: ExtractRoute, console: Console) -> None:
    assert route.output is not None, "a folder run has its folder"
    with CorpusDisplay(console) as display:
        if route.on_ray:
            summary = _on_ray(route, display)
        else:
            summary = extract_corpus(
                Pipeline(route.options, on_event=display.handle),
                route.paths,
                route.output,
                route.schema,
                key=route.key,
                output_format=route.output_format,
                on_file=display.file_done,
            )
    if not console.quiet or not summary.ok:
        click.echo(f"docanalyze: {records_line(summary)}", err=True)
    console.print(f"docanalyze: {usage_line(summary)}", highlight=False)
    if summary.exit_code:
        click.get_current_context().exit(summary.exit_code)


def _on_ray(route: ExtractRoute, display: CorpusDisplay) -> CorpusRecords:
    try:
        from docanalyze.ray.runner import extract_on_ray
    except ImportError:
        raise click.UsageError("--ray needs Ray: pip install 'docanalyze[ray]'") from None
    assert route.output is not None, "a folder run has its folder"
    return extract_on_ray(
        route.options,
        route.paths,
        route.output,
        route.schema,
        key=route.key,
        output_format=route.output_format,
        on_file=display.file_done,
        address=route.ray_address,
        on_event=display.handle,
    )
