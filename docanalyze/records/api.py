"""The functions a pipeline calls for records: :func:`extract` and :func:`extract_async`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docanalyze.ingest.sources import Source
from docanalyze.records.result import ExtractResult
from docanalyze.records.schema import SchemaSource
from docanalyze.run.pipeline import Pipeline

__all__ = ["extract", "extract_async"]


def extract(
    path_or_text: Source, schema: SchemaSource, *, key: Sequence[str] = (), **options: Any
) -> ExtractResult:
    """The records ``schema`` describes in one document, each cited and checked, merged across
    chunks (and under ``key``): see :meth:`Pipeline.extract`. Options as for :class:`Pipeline`.

    ``schema`` is a JSON Schema file or dict describing one record, or a pydantic model, whose
    instances the records then carry (:meth:`ExtractResult.instances`)."""
    return Pipeline(**options).extract(path_or_text, schema, key=key)


async def extract_async(
    path_or_text: Source, schema: SchemaSource, *, key: Sequence[str] = (), **options: Any
) -> ExtractResult:
    """The asynchronous form of :func:`extract`."""
    return await Pipeline(**options).extract_async(path_or_text, schema, key=key)
