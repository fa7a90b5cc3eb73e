"""One extracted record and a table of them: the user's fields beside where they were found.

A :class:`Record` holds the fields the user's schema describes (:attr:`Record.fields`) and,
beside them, what docanalyze adds: the pages its quotes are on, the quotes, and what checking
them against the pages found (:data:`~docanalyze.citations.verify.Status`). A
:class:`RecordTable` is the records of one document (or of several, with the document's name as
a column) in the schema's field order; every output format renders one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docanalyze.citations.verify import QUOTE_JOINER, Status

__all__ = ["ADDED_COLUMNS", "DOCUMENT_COLUMN", "Record", "RecordTable"]

ADDED_COLUMNS = ("pages", "quote", "citation")
"""The columns docanalyze adds after the user's fields: the pages the record's quotes are on,
its quotes (joined by " … "), and its citation's status (verified, corrected, unsupported)."""
DOCUMENT_COLUMN = "document"
"""The first column of a table of several documents: the document each record is from."""


@dataclass(frozen=True)
class Record:
    """One record: ``fields`` as the schema describes them, and where it was found.

    ``pages`` are where its quotes really are (none when ``status`` is ``unsupported``);
    ``cited_pages`` the pages the model gave; ``quotes`` the verbatim passages it rests on, in
    document order; ``spans`` where each quote found is in the document's text
    (:attr:`~docanalyze.document.Document.text`); ``chunks`` the chunks it was seen in.
    ``resolved``: its fields were merged by the model from records worded differently.
    ``value``: the record as the caller's pydantic model, when the schema is one.
    """

    fields: Mapping[str, Any]
    pages: tuple[int, ...]
    quotes: tuple[str, ...]
    status: Status
    cited_pages: tuple[int, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    chunks: tuple[int, ...] = ()
    document: str | None = None
    resolved: bool = False
    value: Any = field(default=None, compare=False, repr=False)

    @property
    def quote(self) -> str:
        """The record's quotes as one text (empty when it has none)."""
        return QUOTE_JOINER.join(self.quotes)

    def row(self, columns: tuple[str, ...], combined: bool = False) -> dict[str, Any]:
        """The record as one row: its fields named in ``columns`` (missing: None), then
        :data:`ADDED_COLUMNS`, after :data:`DOCUMENT_COLUMN` when the record has a document or
        is in a ``combined`` table of several documents (None when it has none)."""
        row: dict[str, Any] = {}
        if combined or self.document is not None:
            row[DOCUMENT_COLUMN] = self.document
        row.update({name: self.fields.get(name) for name in columns})
        row["pages"] = list(self.pages)
        row["quote"] = self.quote
        row["citation"] = self.status
        return row


@dataclass(frozen=True)
class RecordTable:
    """Records in order under the schema's ``fields`` (the user's columns, in schema order).

    ``sources`` names the documents the records are from, in order: one for one document; a
    table of several shows :data:`DOCUMENT_COLUMN` first. ``title`` is what a page or a heading
    calls the table (the schema's title, else its name).
    """

    fields: tuple[str, ...]
    records: tuple[Record, ...]
    sources: tuple[str, ...] = ()
    title: str = "Records"

    @property
    def combined(self) -> bool:
        """Whether the table holds records of several documents."""
        return len(self.sources) > 1 or any(record.document is not None for record in self.records)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of a row, in order."""
        first = (DOCUMENT_COLUMN,) if self.combined else ()
        return (*first, *self.fields, *ADDED_COLUMNS)

    def rows(self) -> list[dict[str, Any]]:
        """Every record as a row with :attr:`columns` (a record without a document, in a
        combined table, has None there)."""
        combined = self.combined
        return [record.row(self.fields, combined) for record in self.records]
