"""``docanalyze plan``: what a run would send, cost and take, without calling a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from docanalyze.cli.app import cli, debug_option
from docanalyze.cli.shared_options import analysis_options, format_option, split_fields
from docanalyze.corpus.files import is_corpus_input
from docanalyze.exit_codes import EXIT_ERROR
from docanalyze.options import Options
from docanalyze.planning.corpus import CorpusPlan, plan_corpus
from docanalyze.planning.plan import RunPlan, plan_run
from docanalyze.planning.text import format_corpus_plan, format_plan


@cli.command(
    epilog="""\b
Examples:
  docanalyze plan contract.pdf                        # pages, requests, tokens, cost, time
  docanalyze plan big.pdf --model claude-haiku-4-5 --chunk-size 20000
  docanalyze plan big.pdf --rpm 50 --output-tpm 40000 # time at these caps
  docanalyze plan big.pdf --exact                     # count the map prompts with the API
  docanalyze plan big.pdf --batch                     # at the Message Batches price
  docanalyze plan big.pdf --format json | jq .cost
  docanalyze plan docs/ --rpm 4000                    # every document of a folder
  docanalyze plan a.pdf b.txt 'more/**/*.pdf' --format json | jq .per_document
  docanalyze plan contract.pdf --schema obligation.json --key id  # an extraction's plan

No model is called. --exact uses the free count_tokens endpoint and needs ANTHROPIC_API_KEY;
for several documents it counts the first ones' map prompts and calibrates the others on them.
""",
)
@click.argument("paths", nargs=-1, required=True, type=str, metavar="PATH...")
@analysis_options
@click.option(
    "--exact",
    is_flag=True,
    help="Count the map prompts with the API's free count_tokens endpoint.",
)
@click.option(
    "--batch",
    is_flag=True,
    help="Price the run as report --batch sends it: through the Message Batches API, half off.",
)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(path_type=Path),
    metavar="SCHEMA.json",
    help="Plan docanalyze extract with this record schema instead of a report.",
)
@click.option(
    "--key",
    "key_fields",
    multiple=True,
    metavar="FIELD",
    help="With --schema: the extraction's --key fields (repeatable, or comma-separated).",
)
@format_option("text", "json", help="Text for reading, or JSON.")
@debug_option
def plan(
    paths: tuple[str, ...],
    output_format: str,
    exact: bool,
    batch: bool,
    schema_path: Path | None,
    key_fields: tuple[str, ...],
    **settings: Any,
) -> None:
    """Show what a report of PATH would cost before running it ("-" reads stdin).

    Prints the pages, chunks and requests, the input and output tokens of every stage (map, each
    reduce level, final), the estimated cost for the model and the estimated time at the given
    limits, with the assumptions behind them.

    Several PATHs, a folder or a quoted glob (as report takes them) plan the whole run: the
    totals, the cost standard and with --batch, the time with the documents sharing the limits,
    and with --format json a row per document. Exits 1 when a document cannot be planned.

    With --schema, plans docanalyze extract of one document instead: a request per chunk, each
    prompt with the schema.
    """
    options = Options(**settings, batch=batch)
    result = _planned(paths, options, exact, schema_path, split_fields(key_fields))
    for notice in result.notices:
        click.echo(f"docanalyze: {notice}", err=True)
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif isinstance(result, CorpusPlan):
        click.echo(format_corpus_plan(result), nl=False)
    else:
        click.echo(format_plan(result), nl=False)
    if isinstance(result, CorpusPlan) and result.failures:
        click.get_current_context().exit(EXIT_ERROR)


def _planned(
    paths: tuple[str, ...],
    options: Options,
    exact: bool,
    schema_path: Path | None,
    key: tuple[str, ...],
) -> RunPlan | CorpusPlan:
    """The plan of an extraction (with ``schema_path``), of a report, or of a corpus."""
    single = len(paths) == 1 and not is_corpus_input(paths[0])
    if schema_path is not None:
        from docanalyze.planning.extraction import plan_extraction

        if not single:
            return plan_corpus(paths, options, exact=exact, schema=schema_path, key=key)
        return plan_extraction(paths[0], schema_path, key=key, options=options, exact=exact)
    if key:
        raise click.UsageError("--key is an option of an extraction's plan: give --schema too")
    if single:
        return plan_run(paths[0], options, exact=exact)
    return plan_corpus(paths, options, exact=exact)
