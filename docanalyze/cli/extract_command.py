"""``docanalyze extract``: a schema in, the records as a table on stdout, usage on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from docanalyze.cli.app import cli, debug_option, freeze_startup_heap
from docanalyze.cli.display import ProgressDisplay
from docanalyze.cli.extract_lines import summary_line
from docanalyze.cli.outputs import RegisteredFormat, write_text
from docanalyze.cli.shared_options import (
    BackendChoice,
    cache_setting,
    extraction_options,
    split_fields,
    stored_reply_options,
)
from docanalyze.errors import UsageError
from docanalyze.options import UNSUPPORTED_CHOICES, Options
from docanalyze.records.route import check_table_file, route_extract
from docanalyze.report.formats import DEFAULT_TABLE_FORMAT, table_format, table_format_names
from docanalyze.run.pipeline import Pipeline
from docanalyze.text.wording import counted


@cli.command(
    epilog="""\b
Examples:
  docanalyze extract contract.pdf --schema obligation.json           # JSON lines on stdout
  docanalyze extract contract.pdf --schema obligation.json --format csv -o obligations.csv
  docanalyze extract contract.pdf --schema obligation.json --key id  # one row per id
  docanalyze extract contract.pdf --schema obligation.json --format html -o obligations.html
  docanalyze extract report.pdf --schema risk.json --language zh     # values in Chinese
  docanalyze extract big.pdf --schema obligation.json --max-cost 1.00 --batch
  docanalyze extract contract.pdf --schema obligation.json --dry-run  # the request, not sent
  docanalyze extract a.pdf b.pdf 'contracts/**/*.pdf' --schema obligation.json  # one table
  docanalyze extract contracts/ --schema obligation.json -o records/ --ray  # a table each

Every record carries the pages and the quote it was taken from, checked against the pages
(citation: verified, corrected or unsupported). Needs ANTHROPIC_API_KEY (Claude).
""",
)
@click.argument("paths", nargs=-1, required=True, type=str, metavar="PATH...")
@click.option(
    "--schema",
    "schema_path",
    required=True,
    type=click.Path(path_type=Path),
    metavar="SCHEMA.json",
    help="JSON Schema of one record (an object and its fields).",
)
@click.option(
    "--key",
    "key_fields",
    multiple=True,
    metavar="FIELD",
    help="Merge the records with equal values of these fields across the document, keeping "
    "every page (repeatable, or comma-separated).",
)
@extraction_options
@click.option(
    "--backend",
    type=BackendChoice(),
    default=Options.backend,
    show_default=True,
    help="auto: Claude when ANTHROPIC_API_KEY is set (extract needs Claude).",
)
@click.option(
    "--fallback-model", help="Model for later requests when the primary keeps failing (529/5xx)."
)
@click.option(
    "--format",
    "format_name",
    type=RegisteredFormat(table_format_names, table_format),
    default=DEFAULT_TABLE_FORMAT,
    show_default=True,
    help="JSON lines, CSV, JSON, a Markdown table, or a standalone HTML page.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the table here.")
@click.option(
    "--unsupported",
    type=click.Choice(UNSUPPORTED_CHOICES),
    default=Options.unsupported,
    show_default=True,
    help="A record whose quote no page holds: keep it, marked unsupported, or drop it.",
)
@click.option(
    "--max-cost",
    type=float,
    metavar="USD",
    help="Stop before the run could cost more (USD); the records so far are kept.",
)
@stored_reply_options
@click.option(
    "--ray",
    "on_ray",
    is_flag=True,
    help="With -o DIR: run the documents on Ray (the cluster at RAY_ADDRESS, or a local Ray).",
)
@click.option(
    "--ray-address", metavar="ADDRESS", help="With --ray: the cluster to join (not RAY_ADDRESS)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or usage on stderr.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the first chunk's request (prompt, budgets, JSON schema) and send nothing.",
)
@debug_option
def extract(
    paths: tuple[str, ...],
    schema_path: Path,
    key_fields: tuple[str, ...],
    format_name: str,
    output: Path | None,
    quiet: bool,
    on_ray: bool,
    ray_address: str | None,
    dry_run: bool,
    **settings: Any,
) -> None:
    """Extract the records SCHEMA.json describes from the document at PATH ("-" reads stdin),
    one row per record, each with its pages, quote and citation check.

    Several PATHs, folders or quoted globs: the table of them all on stdout, the document's
    name first; with -o DIR, a table per document (mirroring the folders), DIR/records.SUFFIX
    of them all and DIR/index.jsonl: re-running resumes."""
    options, key = Options(**cache_setting(settings)), split_fields(key_fields)
    if dry_run:
        return _print_dry_run(paths, schema_path, key, output, options)
    chosen = table_format(format_name)
    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    route = route_extract(
        paths,
        schema_path,
        options,
        key=key,
        output=output,
        output_format=format_name,
        on_ray=on_ray,
        ray_address=ray_address,
    )
    if route.mode != "single":
        from docanalyze.cli.extract_corpus_command import run_extract_many  # loaded to run many

        return run_extract_many(route, console)
    freeze_startup_heap(options.backend)
    with ProgressDisplay(console) as display:
        result = Pipeline(options, on_event=display.handle).extract(paths[0], schema_path, key=key)
    write_text(chosen.render_table_to(result.table, output), output)
    console.print(summary_line(result), highlight=False, markup=False)
    if result.stopped:
        click.echo(f"docanalyze: incomplete: {result.stopped}", err=True)
    if result.exit_code:
        click.get_current_context().exit(result.exit_code)


def _print_dry_run(
    paths: tuple[str, ...],
    schema_path: Path,
    key: tuple[str, ...],
    output: Path | None,
    options: Options,
) -> None:
    """``--dry-run``: the first chunk's request as a run would send it, on stdout (or ``-o``)."""
    from docanalyze.corpus.files import expand_inputs, is_corpus_input
    from docanalyze.planning.dry_run import format_dry_run, preview_extraction

    files = [paths[0]] if paths == ("-",) else [file.path for file in expand_inputs(paths)]
    if output is not None and (len(paths) > 1 or is_corpus_input(paths[0])):
        raise UsageError("--dry-run of several documents prints the first one's: drop -o")
    if output is not None:
        check_table_file(output, files)
    dry_run = preview_extraction(files[0], schema_path, key=key, options=options)
    write_text(format_dry_run(dry_run), output)
    if len(files) > 1:
        more = counted(len(files) - 1, "more document")
        click.echo(f"docanalyze: the request of {files[0]}; {more} not shown", err=True)
