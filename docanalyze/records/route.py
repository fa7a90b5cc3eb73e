"""The router of ``docanalyze extract``: the PATHs and options given, to the run to make.

:func:`route_extract` decides, before any work, and raises a :class:`UsageError` for what
cannot go together:

- ``single``: one file (or ``-``): its table on stdout or in ``-o FILE``;
- ``several``: several PATHs, folders or globs without ``-o``: the documents in memory
  (:func:`~docanalyze.records.several.extract_many`), the table of them all on stdout;
- ``folder``: the same with ``-o DIR``: a table per document, the combined table and the index,
  and a re-run resumes (:mod:`docanalyze.records.corpus`); on Ray with ``--ray``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from docanalyze.corpus.files import expand_inputs, is_corpus_input
from docanalyze.errors import UsageError
from docanalyze.options import Options, check_run_shape
from docanalyze.report.formats import DEFAULT_TABLE_FORMAT

__all__ = ["ExtractMode", "ExtractRoute", "check_table_file", "route_extract"]

ExtractMode = Literal["single", "several", "folder"]


@dataclass(frozen=True)
class ExtractRoute:
    """The run to make: its ``mode`` (see the module), the documents (a ``several`` run's
    folders and globs expanded), the schema, key and options, where the result goes."""

    mode: ExtractMode
    paths: tuple[str, ...]
    schema: Path
    key: tuple[str, ...]
    options: Options
    output: Path | None = None
    output_format: str = DEFAULT_TABLE_FORMAT
    on_ray: bool = False
    ray_address: str | None = None


def route_extract(
    paths: tuple[str, ...],
    schema: Path,
    options: Options,
    *,
    key: tuple[str, ...] = (),
    output: Path | None = None,
    output_format: str = DEFAULT_TABLE_FORMAT,
    on_ray: bool = False,
    ray_address: str | None = None,
) -> ExtractRoute:
    """The run ``docanalyze extract PATHS... --schema SCHEMA`` makes with these options; a
    :class:`UsageError` when they cannot go together, an
    :class:`~docanalyze.errors.InputError` for a folder or glob without a document."""
    if ray_address and not on_ray:
        raise UsageError("--ray-address names the cluster of --ray: add --ray, or drop it")
    check_run_shape(options, on_ray=on_ray)
    route = ExtractRoute(
        "single", paths, schema, key, options, output, output_format, on_ray, ray_address
    )
    if len(paths) == 1 and not is_corpus_input(paths[0]):
        if on_ray:
            raise UsageError("--ray runs folders, globs or several files: give them, with -o DIR")
        if output is not None:
            check_table_file(output, paths)
        return route
    if output is None:
        if on_ray:
            raise UsageError("--ray writes a table per document into a folder: add -o DIR")
        expanded = tuple(file.path for file in expand_inputs(paths))
        return replace(route, mode="several", paths=expanded)
    if output.is_file():
        raise UsageError(
            f"-o {output} is a file: with several PATHs, a folder or a glob, -o names a folder "
            "(a table per document, and the table of them all)"
        )
    if "-" in paths:
        raise UsageError('"-" (stdin) cannot be written into a folder: give files, or drop -o')
    return replace(route, mode="folder")


def check_table_file(output: Path, inputs: Sequence[str] = ()) -> None:
    """Raise a :class:`UsageError` before any request when the table could not be written to
    ``output`` (a folder, or in a folder that does not exist), or would overwrite one of the
    ``inputs``."""
    if output.exists() and any(
        path != "-" and os.path.exists(path) and os.path.samefile(path, output) for path in inputs
    ):
        raise UsageError(f"-o {output} is the document itself: give the table another file")
    if output.is_dir():
        raise UsageError(f"-o {output} is a folder: for one document, -o names the table's file")
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: the folder {output.parent} does not exist; create it first")
