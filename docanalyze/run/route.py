"""The router of ``docanalyze report``: what the user gave, to the work to do.

:func:`route_report` decides from the PATHs (a file, several files, folders, globs, ``-`` for
stdin) and the options (``--combine``, ``--dry-run``, ``--ray``, ``-o``, ``--stream``) which run
it is, before any work, and raises a :class:`UsageError` for what cannot go together:

- ``single``: one document, one report (stdout or ``-o FILE``), streamed when asked;
- ``several``: a report each, in memory (stdout, or ``-o DIR`` when stdin is among them);
- ``combine``: one report of all the documents (folders and globs expanded);
- ``folder``: folders, globs, or several files into ``-o DIR``: the corpus runner, a report
  written as each file is done, an index, resume; on Ray with ``--ray``;
- ``dry-run``: the prompts of one document, nothing sent.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from docanalyze.corpus.files import CorpusFile, expand_inputs, is_corpus_input
from docanalyze.errors import UsageError
from docanalyze.options import Options, check_run_shape
from docanalyze.report.formats import DEFAULT_FORMAT, report_format

__all__ = ["DEFAULT_CORPUS_OUTPUT", "InputConflict", "Mode", "ReportRoute", "route_report"]

DEFAULT_CORPUS_OUTPUT = Path("docanalyze-reports")
"""Where the reports of a folder or glob go without ``-o``."""

Mode = Literal["single", "several", "combine", "folder", "dry-run"]


class InputConflict(UsageError):
    """The PATHs and the options given cannot make one run (the command line shows it with its
    usage line)."""


@dataclass(frozen=True)
class ReportRoute:
    """The run to make: its ``mode`` (see the module), the documents, the options (``stream``
    decided), where the result goes. A ``folder`` run has its ``files`` expanded already and
    its ``output`` chosen (``default_output`` when ``-o`` was not given)."""

    mode: Mode
    paths: tuple[str, ...]
    options: Options
    output: Path | None = None
    output_format: str = DEFAULT_FORMAT
    files: tuple[CorpusFile, ...] = ()
    default_output: bool = False
    on_ray: bool = False
    ray_address: str | None = None


def route_report(
    paths: tuple[str, ...],
    options: Options,
    *,
    output: Path | None = None,
    output_format: str = DEFAULT_FORMAT,
    combine: bool = False,
    dry_run: bool = False,
    on_ray: bool = False,
    ray_address: str | None = None,
    stream: bool | None = None,
    stdout_is_terminal: bool = False,
    command_line: Collection[str] = (),
) -> ReportRoute:
    """The run ``docanalyze report PATHS...`` makes with these options; an
    :class:`InputConflict` (or, from :func:`check_run_shape`, a :class:`UsageError`) when they
    cannot go together, an :class:`~docanalyze.errors.InputError` for a folder or glob without
    a document. ``command_line``: the options given there (``--batch-poll``), to refuse
    one given without the option it works with, or with one it contradicts."""
    if paths.count("-") > 1:
        raise InputConflict('"-" (stdin) can be given only once')
    check_run_shape(options, combine=combine, on_ray=on_ray)
    _check_flags(options, set(command_line), on_ray=on_ray, ray_address=ray_address)
    route = ReportRoute("single", paths, options, output, output_format, on_ray=on_ray)
    into_folder = len(paths) > 1 and not combine and output is not None
    if into_folder and output is not None and output.is_file():
        raise InputConflict(
            f"-o {output} is a file: with several PATHs, -o names a folder for a report each "
            "(or add --combine for one report of them all)"
        )
    # Several files into a folder go through the corpus runner too: each report is written
    # as soon as it is done (not all at the end), with an index, and a re-run resumes.
    if (into_folder and "-" not in paths) or any(is_corpus_input(path) for path in paths):
        if not (combine or dry_run):
            return _folder(replace(route, ray_address=ray_address), stream)
        route = replace(route, paths=tuple(file.path for file in expand_inputs(paths)))
    if on_ray or ray_address:
        raise InputConflict("--ray runs folders and globs: give a folder or a quoted glob")
    if dry_run:
        return _dry_run(route, combine)
    several = len(route.paths) > 1 or combine
    if several and not combine:
        if stream:
            raise InputConflict("--stream writes one report: add --combine, or give one PATH")
        stream = False
    streaming = _streaming(stream, output_format, output, stdout_is_terminal)
    mode: Mode = "combine" if combine else "several" if several else "single"
    return replace(route, mode=mode, options=replace(options, stream=streaming))


def _check_flags(
    options: Options, given: set[str], *, on_ray: bool, ray_address: str | None
) -> None:
    """Raise :class:`UsageError` for an option that works only with another, given without it,
    or for two that contradict each other (the last would silently win)."""
    if ray_address and not on_ray:
        raise UsageError(
            "--ray-address names the cluster of --ray: add --ray, or drop --ray-address"
        )
    if "--batch-poll" in given and not options.batch:
        raise UsageError(
            "--batch-poll sets how often --batch checks its batches: add --batch, or drop "
            "--batch-poll"
        )
    if {"--no-cache", "--refresh"} <= given:
        raise UsageError(
            "--no-cache neither reads nor stores replies, --refresh asks again and stores "
            "them: give one of them"
        )


def _folder(route: ReportRoute, stream: bool | None) -> ReportRoute:
    if stream:
        raise InputConflict("--stream writes one report: this run writes one per document")
    if "-" in route.paths:
        raise InputConflict('"-" (stdin) cannot be given with a folder or glob')
    output = route.output or DEFAULT_CORPUS_OUTPUT
    files = tuple(expand_inputs(route.paths, exclude=output))
    default = route.output is None
    return replace(route, mode="folder", files=files, output=output, default_output=default)


def _dry_run(route: ReportRoute, combine: bool) -> ReportRoute:
    """The prompts of the first document; several documents (files, a folder, a glob) show the
    first one's and say how many follow."""
    if combine and len(route.paths) > 1:
        raise InputConflict("--dry-run shows the prompts of one document: drop --combine")
    if route.output_format != DEFAULT_FORMAT:
        raise InputConflict(
            f"--dry-run prints the prompts as text: drop --format {route.output_format}"
        )
    return replace(route, mode="dry-run")


def _streaming(stream: bool | None, format_name: str, output: Path | None, terminal: bool) -> bool:
    """Stream when asked, or by default when a format that can stream goes to a terminal."""
    can_stream = report_format(format_name).streams and output is None
    if stream is None:
        return can_stream and terminal
    if stream and not can_stream:
        given = [] if report_format(format_name).streams else [f"--format {format_name}"]
        given += ["-o"] if output is not None else []
        raise InputConflict(f"--stream writes Markdown to stdout: drop {' and '.join(given)}")
    return stream
