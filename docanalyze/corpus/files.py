"""The files of a corpus run: folders walked, globs expanded, and where each report goes.

A folder gives its supported documents (:data:`DOCUMENT_SUFFIXES`), recursively, skipping hidden
files and folders; a glob (``'docs/**/*.pdf'``) gives the files it matches; any other PATH is
one file. The list is sorted within each PATH, so a run is deterministic.

Each file's report mirrors its place under its folder (or under the fixed part of its glob):
``docs/a/b.pdf`` gives ``a/b.md``. A report never leaves the output folder: ``..`` is resolved,
and a file a glob reaches above its fixed part keeps its path without the climbing parts
(``*/../../docs/d.txt`` gives ``docs/d.md``). When a folder holds two documents with the same stem
(``b.pdf`` and ``b.txt``), both keep their suffix (``b.pdf.md``, ``b.txt.md``); a name still
taken (the same relative path under two PATHs) gets ``-2``, ``-3``.
"""

from __future__ import annotations

import glob
import os
import posixpath
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from docanalyze.errors import InputError
from docanalyze.ingest.sources import DOCUMENT_SUFFIXES

__all__ = [
    "DOCUMENT_SUFFIXES",
    "CorpusFile",
    "expand_inputs",
    "is_corpus_input",
]

_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class CorpusFile:
    """One document of a corpus: its path and its report's path under the output folder
    (POSIX-style, without the format's suffix)."""

    path: str
    report_stem: PurePosixPath

    def __post_init__(self) -> None:
        stem = self.report_stem
        if not stem.parts or stem.is_absolute() or ".." in stem.parts:
            raise InputError(
                f"the report of {self.path} must stay inside the output folder (got {stem}): "
                "give a relative report_stem without '..'"
            )

    def report_path(self, suffix: str) -> PurePosixPath:
        """Where the report goes, relative to the output folder: ``a/b`` + ``.md``."""
        return self.report_stem.with_name(self.report_stem.name + suffix)


def is_corpus_input(path: str) -> bool:
    """Whether ``path`` names a folder or is a glob (not an existing file)."""
    if path == "-":
        return False
    if os.path.isdir(path):
        return True
    return _is_glob(path) and not os.path.isfile(path)


def expand_inputs(
    paths: Sequence[str], *, exclude: Path | None = None, reserved: Iterable[str] = ()
) -> list[CorpusFile]:
    """The files of ``paths`` (each once), with their reports' places; ``exclude`` (the output
    folder) is never walked, and no report takes a ``reserved`` stem (one the run writes
    itself: it gets ``-2``). Raises :class:`InputError` for a folder or glob without a
    document, and for a file that does not exist (before any work is paid for)."""
    files: list[CorpusFile] = []
    taken = {stem.lower() for stem in reserved}
    seen: set[str] = set()
    for given in paths:
        found = list(_files_of(given, exclude))
        if not found and is_corpus_input(given):
            raise InputError(_nothing_found(given))
        unseen = [(path, relative) for path, relative in found if _first_time(path, seen)]
        for path, relative in _with_report_stems(unseen):
            files.append(CorpusFile(path, _untaken(relative, taken)))
    return files


def _first_time(path: str, seen: set[str]) -> bool:
    """Whether ``path`` is new to this run, by its real path (``a/../b.txt``, ``b.txt``, its
    absolute path and a link to it are one file)."""
    real = os.path.realpath(path)
    if real in seen:
        return False
    seen.add(real)
    return True


def _files_of(given: str, exclude: Path | None) -> Iterator[tuple[str, PurePosixPath]]:
    """(path, path relative to the folder or the glob's fixed part) for the files of ``given``."""
    if given != "-" and os.path.isdir(given):
        yield from _walk(Path(given), PurePosixPath(), _resolved(exclude))
    elif given != "-" and _is_glob(given) and not os.path.isfile(given):
        base = _glob_base(given)
        for path in sorted(glob.glob(given, recursive=True)):
            if os.path.isfile(path):
                yield path, _inside_out(_relative(path, base))
    elif given != "-" and not os.path.exists(given):
        raise InputError(f"{given} does not exist: check the path")  # before any work is paid
    else:
        yield given, _inside_out(Path(given).name or "stdin")


def _relative(path: str, base: str) -> str:
    """``path`` relative to ``base``; its name when there is no such path (another drive)."""
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return Path(path).name


def _inside_out(relative: str) -> PurePosixPath:
    """``relative`` as a path that stays inside the output folder: ``..`` resolved, and the parts
    that climb above the base dropped (``../docs/d.txt`` gives ``docs/d.txt``)."""
    normal = PurePosixPath(posixpath.normpath(Path(relative).as_posix()))
    return PurePosixPath(*(part for part in normal.parts if part not in ("..", "/")))


def _walk(
    folder: Path, relative: PurePosixPath, exclude: Path | None
) -> Iterator[tuple[str, PurePosixPath]]:
    """The supported files under ``folder``, sorted, depth first; hidden ones skipped."""
    if exclude is not None and _resolved(folder) == exclude:
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        raise InputError(f"cannot read the folder {folder}: {error.strerror}") from error
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), relative / entry.name, exclude)
        elif entry.is_file() and entry.name.lower().endswith(DOCUMENT_SUFFIXES):
            yield entry.path, relative / entry.name


def _with_report_stems(
    found: Iterable[tuple[str, PurePosixPath]],
) -> Iterator[tuple[str, PurePosixPath]]:
    """Each file with its report stem: ``a/b`` for ``a/b.pdf``, ``a/b.pdf`` when a sibling
    shares the stem."""
    found = list(found)
    stems = Counter(str(relative.with_suffix("")).lower() for _, relative in found)
    for path, relative in found:
        shared = stems[str(relative.with_suffix("")).lower()] > 1
        yield path, relative if shared else relative.with_suffix("")


def _untaken(stem: PurePosixPath, taken: set[str]) -> PurePosixPath:
    """``stem``, or ``stem-2``, ``stem-3``... when a report of this run already has the name."""
    candidate, number = stem, 1
    while str(candidate).lower() in taken:
        number += 1
        candidate = stem.with_name(f"{stem.name}-{number}")
    taken.add(str(candidate).lower())
    return candidate


def _is_glob(path: str) -> bool:
    return any(character in _GLOB_CHARACTERS for character in path)


def _glob_base(pattern: str) -> str:
    """The folder a glob's matches are relative to: its parts before the first wildcard."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if _is_glob(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _resolved(path: Path | None) -> Path | None:
    return None if path is None else Path(os.path.realpath(path))


def _nothing_found(given: str) -> str:
    if os.path.isdir(given):
        kinds = ", ".join(DOCUMENT_SUFFIXES)
        return f"{given} holds no document ({kinds}): give a folder with documents in it"
    return f"{given!r} matches no file: check the pattern (quote it so the shell leaves it)"
