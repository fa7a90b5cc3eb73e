"""Analysis as a Ray Data transform: ``dataset.map(AnalyzeRows, ...)`` over rows of documents.

Each row names a document by ``path``, or carries its ``bytes`` (with a ``name``); the row comes
back with the report and what it cost as columns. A document that cannot be analyzed is a row
with ``status`` "failed" and its ``error``, never an exception that stops the dataset.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from docanalyze.errors import EXIT_ERROR, DocanalyzeError, IncompleteRun
from docanalyze.ingest import document_from_bytes
from docanalyze.ingest.sources import resolve_document
from docanalyze.options import Options
from docanalyze.ray.limiter import ClusterConcurrency, ClusterRateLimiter
from docanalyze.report.result import Report
from docanalyze.run.backend import create_model
from docanalyze.run.pipeline import Pipeline

__all__ = ["AnalyzeRows"]


class AnalyzeRows:
    """A callable class for ``ray.data.Dataset.map``: a row in, the row with its report out.

    ``limiter`` is the handle of the cluster's rate limiter
    (:func:`docanalyze.ray.limiter.start_rate_limiter`), so that every Ray Data worker paces
    itself with the others; without one, each worker paces alone. Options as for
    :class:`docanalyze.Pipeline`.

    Columns added: ``report`` (the Markdown text, "" on failure), ``status`` ("complete",
    "incomplete" or "failed"), ``exit_code`` (0, 3 or 1, as in a corpus index line), ``error``,
    ``input_tokens``, ``output_tokens``, ``cost`` (USD, None when unknown).
    """

    def __init__(
        self, options: Options | None = None, *, limiter: Any = None, **overrides: Any
    ) -> None:
        self.options = replace(options or Options(), **overrides)
        self.limiter = limiter

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        """Analyze the row's document."""
        return {**row, **asyncio.run(self._columns(row))}

    async def _columns(self, row: dict[str, Any]) -> dict[str, Any]:
        shared = self.limiter is not None
        model, _ = create_model(
            self.options,
            rate_limiter=ClusterRateLimiter(self.limiter) if shared else None,
            concurrency_limiter=ClusterConcurrency(self.limiter) if shared else None,
        )
        pipeline = Pipeline(self.options, client=model)
        stopped: str | None = None
        try:
            report = await pipeline.analyze_async(self._document(row))
        except IncompleteRun as stop:
            report, stopped = stop.report, str(stop)
        except DocanalyzeError as error:
            return _failed(str(error))
        finally:
            await model.aclose()
        return _done(report, stopped)

    def _document(self, row: dict[str, Any]) -> Any:
        if "bytes" in row:
            name = str(row.get("name") or "<bytes>")
            return document_from_bytes(row["bytes"], name, password=self.options.password)
        if "path" not in row:
            raise KeyError("a row needs a 'path' or 'bytes' column")
        return resolve_document(str(row["path"]), password=self.options.password)


def _done(report: Report, stopped: str | None) -> dict[str, Any]:
    usage = report.usage
    return {
        "report": report.text,
        "status": "complete" if report.complete else "incomplete",
        "exit_code": report.exit_code,
        "error": stopped,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost": report.cost,
    }


def _failed(error: str) -> dict[str, Any]:
    return {
        "report": "",
        "status": "failed",
        "exit_code": EXIT_ERROR,
        "error": error,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost": None,
    }
