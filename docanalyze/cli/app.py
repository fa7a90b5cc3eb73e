"""The ``docanalyze`` command group: errors caught once at the boundary, ``--debug``.

Exit codes (:mod:`docanalyze.errors`): 1 for an error, 2 for a usage error, 3 when the report
was written but is incomplete, 130 for Ctrl-C."""

from __future__ import annotations

import gc
import os
from typing import Any

import click

from docanalyze.errors import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    DocanalyzeError,
    IncompleteRun,
    UsageError,
)
from docanalyze.models.registry import resolve_backend

_DEBUG_KEY = "docanalyze.debug"
NOT_RESUMABLE_KEY = "docanalyze.not_resumable"
"""Set in ``ctx.meta`` by a command whose replies are not stored (``--no-cache``)."""

INTERRUPTED = (
    "Interrupted. Every reply received so far is saved in the run store: "
    "run the same command again to resume."
)


class _Group(click.Group):
    """Catches docanalyze's errors once, at the boundary: one line, and exit code 2 for a usage
    error, 3 for an incomplete report (written already), 1 for any other error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DocanalyzeError as error:
            if ctx.meta.get(_DEBUG_KEY):
                raise
            click.echo(f"Error: {error}", err=True)
            if isinstance(error, UsageError) and ctx.invoked_subcommand:
                click.echo(f"Try 'docanalyze {ctx.invoked_subcommand} --help' for help.", err=True)
            ctx.exit(_exit_code(error))
        except KeyboardInterrupt:
            if ctx.meta.get(_DEBUG_KEY):
                raise
            click.echo("Interrupted." if ctx.meta.get(NOT_RESUMABLE_KEY) else INTERRUPTED, err=True)
            ctx.exit(130)


def _exit_code(error: DocanalyzeError) -> int:
    if isinstance(error, UsageError):
        return EXIT_USAGE
    return EXIT_INCOMPLETE if isinstance(error, IncompleteRun) else EXIT_ERROR


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_DEBUG_KEY] = True
    return value


debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="Show tracebacks for errors.",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docanalyze")
@debug_option
def cli() -> None:
    """Analyze documents far longer than a model's context window, with Claude.

    \b
    Examples:
      docanalyze report contract.pdf
      docanalyze report notes.txt --format json -o notes.json
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="docanalyze")


def freeze_startup_heap(backend: str = "auto") -> None:
    """Move the objects that live as long as the process out of the garbage collector's way.

    A command that runs an analysis calls it before it starts. The modules and classes loaded
    by then (with Claude as the backend, the SDK's too: about 200,000 objects) would otherwise
    be walked by every full collection, a pause of about 0.3 s on a small machine that lands at
    random in a run and stalls every request in flight. Commands that send nothing (``--help``,
    ``plan``, an offline report) never load the SDK.
    """
    chosen, _ = resolve_backend(backend, os.environ)
    if chosen.preload is not None:
        chosen.preload()  # its modules (Claude's: the SDK) loaded now, to be frozen too
    gc.freeze()
    gc.enable()  # paused while the command line loaded (docanalyze.__main__)
