"""The output folder of a corpus run: made once, each file written whole or not at all, and
the input files hashed (so a resume knows an input is unchanged)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from docanalyze.errors import ConfigError

__all__ = ["file_hash", "make_folder", "write_atomically"]


def file_hash(path: str) -> str | None:
    """The sha256 of the file's bytes, or None when it cannot be read (reading will say why)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file: the file is whole, or absent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)


def make_folder(out: Path, what: str = "reports") -> None:
    """Create the output folder ``out`` of the documents' ``what``; a :class:`ConfigError` when
    it is a file or cannot be made."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file: the {what} of several documents need a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create the output folder {out}: {error.strerror}") from error
