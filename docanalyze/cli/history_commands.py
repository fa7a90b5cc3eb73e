"""``docanalyze runs`` and ``docanalyze cache``: the run history and the stored replies."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.table import Table

from docanalyze.cli.app import cli, debug_option
from docanalyze.cli.shared_options import format_option
from docanalyze.cost import format_usd
from docanalyze.store import RunRecord, RunStore


@cli.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  docanalyze runs                    # the latest runs
  docanalyze runs --limit 50
  docanalyze runs show 20261125-1402  # one run (an id prefix is enough)
  docanalyze runs show 20261125-1402 --report > report.md
""",
)
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@debug_option
@click.pass_context
def runs(ctx: click.Context, limit: int) -> None:
    """List past runs: id, time, file, status, requests, tokens and cost."""
    if ctx.invoked_subcommand is not None:
        return
    with RunStore() as store:
        records = store.list_runs(limit)
    if not records:
        click.echo("No runs yet: `docanalyze report FILE` records one.", err=True)
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "started", "file", "status", "requests", "tokens in/out", "cost"):
        table.add_column(column, justify="right" if column in ("requests", "cost") else "left")
    for record in records:
        table.add_row(
            record.id,
            _when(record.started_at),
            ", ".join(item["source"] for item in record.inputs),
            record.status,
            f"{record.requests:,}" + (f" (+{record.cached} cached)" if record.cached else ""),
            _tokens(record),
            "?" if record.cost is None else format_usd(record.cost),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=400)  # piped: one line per run, never wrapped
    console.print(table)


@runs.command(
    "show",
    epilog="""\b
Examples:
  docanalyze runs show 20261125-140210-3fa2c1
  docanalyze runs show 20261125-1402 --report
  docanalyze runs show 20261125-1402 --format json
""",
)
@click.argument("run_id")
@click.option("--report", "print_report", is_flag=True, help="Print the run's report again.")
@format_option("text", "json")
@debug_option
def show(run_id: str, print_report: bool, output_format: str) -> None:
    """Show one run (an id prefix is enough); --report prints its report (an extraction's
    records, as JSON lines) again."""
    with RunStore() as store:
        record = store.get_run(run_id)
    if print_report:
        if record.result is None:
            raise click.ClickException(
                f"run {record.id} has no report ({record.status}): run the same command again "
                f"to finish it from the stored replies"
            )
        if "records" in record.result:  # an extraction: its rows, as JSON lines
            for row in record.result["records"]:
                click.echo(json.dumps(row, ensure_ascii=False))
            return
        report = record.result.get("report", "")
        click.echo(report.rstrip() + "\n", nl=False)
        return
    if output_format == "json":
        click.echo(json.dumps(_record_data(record), ensure_ascii=False, indent=2))
        return
    for label, value in _record_lines(record):
        click.echo(f"{label:<10} {value}")


@cli.group(
    epilog="""\b
Examples:
  docanalyze cache stats
  docanalyze cache clear --yes
""",
)
def cache() -> None:
    """The stored model replies that make re-runs free and resumable."""


@cache.command(
    "stats",
    epilog="""\b
Examples:
  docanalyze cache stats
  DOCANALYZE_HOME=/data/docanalyze docanalyze cache stats
""",
)
@debug_option
def cache_stats() -> None:
    """How many replies are stored, and where."""
    with RunStore() as store:
        stats = store.cache_stats()
    click.echo(f"store     {stats.path}")
    click.echo(
        f"replies   {stats.calls:,} ({stats.input_tokens:,} input, "
        f"{stats.output_tokens:,} output tokens when first asked)"
    )
    click.echo(f"runs      {stats.runs:,}")
    click.echo(f"size      {stats.size_bytes / 1_048_576:.1f} MiB")


@cache.command(
    "clear",
    epilog="""\b
Examples:
  docanalyze cache clear          # asks first
  docanalyze cache clear --yes
""",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@debug_option
def cache_clear(yes: bool) -> None:
    """Delete every stored reply (the run history stays)."""
    if not yes:
        click.confirm("Delete every stored reply? Re-runs will pay for them again", abort=True)
    with RunStore() as store:
        deleted = store.clear_cache()
    click.echo(f"Deleted {deleted:,} stored replies.", err=True)


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _record_lines(record: RunRecord) -> list[tuple[str, str]]:
    lines = [
        ("run", record.id),
        ("started", _when(record.started_at)),
        ("status", record.status + (f": {record.error}" if record.error else "")),
        ("inputs", ", ".join(f"{i['source']} (sha256 {i['sha256'][:12]})" for i in record.inputs)),
        ("model", record.model),
        ("requests", f"{record.requests:,}, and {record.cached:,} answered from the store"),
        ("tokens", _tokens(record, long=True)),
        ("thinking", _thinking_line(record)),
        ("cost", "unknown" if record.cost is None else format_usd(record.cost)),
        ("took", _took(record)),
    ]
    if record.result is not None and "records" in record.result:
        rows = len(record.result["records"])
        lines.append(("records", f"{rows:,} (--report prints them as JSON lines)"))
    elif record.result is not None:
        lines.append(
            ("report", f"{len(record.result.get('report', '')):,} characters (--report prints it)")
        )
    return lines


def _took(record: RunRecord) -> str:
    """How long the run took; for one that never finished, until its last stored reply."""
    if record.finished_at is not None:
        return f"{record.finished_at - record.started_at:.1f} s"
    if record.last_reply_at is None:
        return "unknown (no reply was stored)"
    return f"{record.last_reply_at - record.started_at:.1f} s until its last stored reply"


def _estimated(record: RunRecord) -> bool:
    """Whether the run's token figures are the offline analyzer's estimate (no request sent)."""
    return bool(((record.result or {}).get("usage") or {}).get("estimated"))


def _tokens(record: RunRecord, *, long: bool = False) -> str:
    """The run's input and output tokens, ``~`` before the offline analyzer's estimate."""
    mark = "~" if _estimated(record) else ""
    given, written = f"{mark}{record.input_tokens:,}", f"{mark}{record.output_tokens:,}"
    if not long:
        return f"{given} / {written}"
    return f"{given} input, {written} output" + (
        " (the offline analyzer's estimate)" if mark else ""
    )


def _thinking_tokens(record: RunRecord) -> tuple[int | None, dict[str, int]]:
    """The run's thinking tokens in all and by stage, from its stored result (None: unknown)."""
    result = record.result or {}
    total = (result.get("usage") or {}).get("thinking_tokens")
    by_stage = {
        stage: int(usage.get("thinking_tokens") or 0)
        for stage, usage in (result.get("usage_by_stage") or {}).items()
    }
    return (int(total) if isinstance(total, int) else None), by_stage


def _thinking_line(record: RunRecord) -> str:
    total, by_stage = _thinking_tokens(record)
    if total is None:
        return "unknown (no report was stored)"
    stages = ", ".join(f"{stage} {tokens:,}" for stage, tokens in by_stage.items())
    return f"{total:,} output tokens" + (f" ({stages})" if stages else "")


def _record_data(record: RunRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "last_reply_at": record.last_reply_at,
        "status": record.status,
        "error": record.error,
        "inputs": record.inputs,
        "options": record.options,
        "model": record.model,
        "requests": record.requests,
        "cached": record.cached,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "estimated": _estimated(record),
        "thinking_tokens": _thinking_tokens(record)[0],
        "cost": record.cost,
        "result": record.result,
    }
