"""The result of an analysis: the report text and everything about how it was made."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from docanalyze.citations.verify import CheckedCitation
from docanalyze.document import BoilerplateCount, Point
from docanalyze.exit_codes import EXIT_INCOMPLETE
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT, PRICES_CHECKED
from docanalyze.models.base import Usage

__all__ = ["ChunkResult", "Report"]


@dataclass(frozen=True)
class ChunkResult:
    """One chunk's extraction: which pages it covers and which model wrote it.

    A chunk whose extraction did not fit one reply is asked again in parts; ``text`` then joins
    the parts and ``requests`` counts them. ``source`` names the chunk's document in a report
    that combines several documents (None otherwise).
    """

    index: int
    first_page: int
    last_page: int
    text: str
    model: str
    requests: int = 1
    source: str | None = None
    points: tuple[Point, ...] = ()
    """The extraction's claims, each with its pages and the quotes that back it."""


@dataclass
class Report:
    """An analysis. ``text`` is the Markdown report; ``truncated`` means it was cut.

    ``complete`` is False for every incomplete report, and :attr:`exit_code` is then 3 (the
    CLI's exit code): a report cut at ``max_tokens`` (``truncated``), or the partial report of
    a run stopped by ``--max-cost`` or by a refusal (see :class:`docanalyze.errors.IncompleteRun`):
    ``text`` then lists the chunk extractions obtained, ``missing_chunks`` holds the (0-based)
    indexes of the chunks not extracted, and ``refusals`` the refused parts with the API's
    category.

    ``usage`` is the total; ``usage_by_model`` and ``usage_by_stage`` (``map``, ``reduce``,
    ``final``) split it. ``cost`` is in USD, None when a model's price is unknown;
    ``prices_checked`` dates the price table. ``stage_models`` names the model(s) that wrote
    each part: ``map``, ``reduce-1``, ``reduce-2``..., ``final`` (with a fallback model, some
    parts may come from it; each chunk's own model is in ``chunks``). ``retries`` counts the
    requests sent again, ``rate_limited`` those retried after a 429. ``batch`` means the
    requests went through the Message Batches API: ``cost`` is at the batch price
    (:data:`docanalyze.models.anthropic.catalog.BATCH_DISCOUNT` times the usual one).
    ``cache_savings`` is the USD prompt caching saved: what the cache writes and reads would have
    cost as plain input, minus what they cost (None when a price is unknown).
    """

    source: str
    text: str
    backend: str
    model: str
    page_count: int
    chunks: list[ChunkResult]
    usage: Usage
    reduce_levels: int
    truncated: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    usage_by_model: dict[str, Usage] = field(default_factory=dict)
    usage_by_stage: dict[str, Usage] = field(default_factory=dict)
    cost: float | None = None
    run_id: str | None = None
    cache_hits: int = 0
    cost_by_model: dict[str, float | None] = field(default_factory=dict)
    prices_checked: str = PRICES_CHECKED
    stage_models: dict[str, list[str]] = field(default_factory=dict)
    retries: int = 0
    rate_limited: int = 0
    complete: bool = True
    missing_chunks: list[int] = field(default_factory=list)
    batch: bool = False
    cache_savings: float | None = 0.0
    refusals: list[dict[str, Any]] = field(default_factory=list)
    """The parts the model refused (stage, chunk, pages, category, explanation, model); the
    report is then incomplete."""
    offline: bool = False
    """Whether an offline backend (the extractive analyzer) made the report: no model wrote it."""
    citations: list[CheckedCitation] = field(default_factory=list)
    """Every citation of the report, checked in code against the page text
    (:mod:`docanalyze.citations`): ``verified``, ``corrected`` to its true page, or
    ``unsupported``. Empty when nothing was checked; nothing unchecked is listed."""
    boilerplate: BoilerplateCount | None = None
    """The lines taken out of the pages before chunking, by kind
    (:mod:`docanalyze.ingest.boilerplate`); None when they were kept (``keep_boilerplate``)."""

    @property
    def exit_code(self) -> int:
        """0 for a complete report, else 3 (:data:`docanalyze.exit_codes.EXIT_INCOMPLETE`): what the
        CLI exits with and a corpus index line records, for a pipeline to test."""
        return 0 if self.complete else EXIT_INCOMPLETE

    def to_markdown(self) -> str:
        """The report as Markdown, ending with one newline."""
        return self.text.rstrip() + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Everything about the run as JSON-ready data."""
        return {
            "source": self.source,
            "report": self.text,
            "backend": self.backend,
            "model": self.model,
            "offline": self.offline,
            "truncated": self.truncated,
            "page_count": self.page_count,
            "chunk_count": len(self.chunks),
            "reduce_levels": self.reduce_levels,
            "chunks": [asdict(chunk) for chunk in self.chunks],
            "boilerplate": asdict(self.boilerplate) if self.boilerplate else None,
            "complete": self.complete,
            "exit_code": self.exit_code,
            "missing_chunks": list(self.missing_chunks),
            "refused": [dict(part) for part in self.refusals],
            "citations": [_citation_row(citation) for citation in self.citations],
            "usage": asdict(self.usage),
            "usage_by_model": {name: asdict(usage) for name, usage in self.usage_by_model.items()},
            "usage_by_stage": {name: asdict(usage) for name, usage in self.usage_by_stage.items()},
            "cost": {
                "currency": "USD",
                "total": _rounded(self.cost),
                "by_model": {name: _rounded(cost) for name, cost in self.cost_by_model.items()},
                "prices_checked": self.prices_checked,
                "cache_savings": _rounded(self.cache_savings),
                "batch_discount": BATCH_DISCOUNT if self.batch else None,
            },
            "batch": self.batch,
            "stage_models": {part: list(models) for part, models in self.stage_models.items()},
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "timings": {name: round(seconds, 3) for name, seconds in self.timings.items()},
            "notices": list(self.notices),
            "run_id": self.run_id,
            "cache": {"hits": self.cache_hits},
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (non-ASCII kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    def to_html(self, *, output: str | os.PathLike[str] | None = None) -> str:
        """The report as a standalone HTML page, with each chunk's extraction below it.

        ``output``: the file the page will be written to, so that its citations link the pages
        of a source PDF relative to it (without it, to the source's path as given).
        """
        from docanalyze.report.html import render_html

        return render_html([self], output=output)


def _citation_row(citation: CheckedCitation) -> dict[str, Any]:
    """A checked citation as JSON: the claim, its (true) pages, its quote and its status."""
    return {
        "claim": citation.claim,
        "pages": list(citation.pages),
        "quote": citation.quote,
        "status": citation.status,
    }


def _rounded(cost: float | None) -> float | None:
    return None if cost is None else round(cost, 6)
