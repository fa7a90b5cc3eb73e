"""``docanalyze plan``: what a run would send, cost and take, without calling a model."""

from __future__ import annotations

import json
from typing import Any

import click

from docanalyze.cli.app import cli, debug_option
from docanalyze.cli.shared_options import analysis_options, format_option
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
@format_option("text", "json", help="Text for reading, or JSON.")
@debug_option
def plan(
    paths: tuple[str, ...], output_format: str, exact: bool, batch: bool, **settings: Any
) -> None:
    """Show what a report of PATH would cost before running it ("-" reads stdin).

    Prints the pages, chunks and requests, the input and output tokens of every stage (map, each
    reduce level, final), the estimated cost for the model and the estimated time at the given
    limits, with the assumptions behind them.

    Several PATHs, a folder or a quoted glob (as report takes them) plan the whole run: the
    totals, the cost standard and with --batch, the time with the documents sharing the limits,
    and with --format json a row per document. Exits 1 when a document cannot be planned.
    """
    options = Options(**settings, batch=batch)
    result: RunPlan | CorpusPlan
    if len(paths) == 1 and not is_corpus_input(paths[0]):
        result = plan_run(paths[0], options, exact=exact)
    else:
        result = plan_corpus(paths, options, exact=exact)
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
