"""The partial report of a run stopped early (``--max-cost``, a refusal, a failed request): what
was extracted, what is missing.

No extraction that was paid for is dropped: every map reply kept so far is listed with its pages,
under a heading that says the report is INCOMPLETE, with the missing chunks and how to finish.
"""

from __future__ import annotations

from dataclasses import dataclass

from docanalyze.cost import format_usd
from docanalyze.document import Chunk
from docanalyze.report.result import ChunkResult
from docanalyze.run.context import Extraction, FailedPart, RefusedPart

__all__ = [
    "PartialWork",
    "collect_partial_work",
    "cost_stop_note",
    "failure_message",
    "failure_note",
    "incomplete_report_text",
    "refusal_message",
    "refusal_note",
    "stop_message",
]

NO_FINAL_REPORT = "No final report was written"
"""What an incomplete report's note says the run did not write."""


@dataclass(frozen=True)
class PartialWork:
    """The chunk extractions a stopped run obtained, and the chunks not (fully) extracted."""

    chunks: list[ChunkResult]
    missing: list[Chunk]
    total: int

    @property
    def complete_chunks(self) -> int:
        """How many chunks were extracted in full."""
        return self.total - len(self.missing)


def collect_partial_work(chunks: list[Chunk], extractions: list[Extraction]) -> PartialWork:
    """Group the kept extractions by chunk, in document order; a chunk is missing until covered."""
    by_chunk: dict[int, list[Extraction]] = {}
    for extraction in extractions:
        by_chunk.setdefault(extraction.chunk_index, []).append(extraction)
    results: list[ChunkResult] = []
    missing: list[Chunk] = []
    for chunk in chunks:
        parts = sorted(by_chunk.get(chunk.index, []), key=lambda part: part.start)
        if parts:
            results.append(_chunk_result(chunk, parts))
        if not _covers(parts, chunk.start, chunk.end):
            missing.append(chunk)
    return PartialWork(results, missing, len(chunks))


def _chunk_result(chunk: Chunk, parts: list[Extraction]) -> ChunkResult:
    return ChunkResult(
        index=chunk.index,
        first_page=min(part.partial.first_page for part in parts),
        last_page=max(part.partial.last_page for part in parts),
        text="\n".join(part.partial.text.strip() for part in parts),
        model=", ".join(sorted({part.model for part in parts})),
        requests=len(parts),
    )


def _covers(parts: list[Extraction], start: int, end: int) -> bool:
    position = start
    for part in parts:
        if part.start > position:
            return False
        position = max(position, part.end)
    return position >= end


def stop_message(work: PartialWork, limit: float, spent: float, refused: float | None) -> str:
    """The one-line error of a run stopped by ``--max-cost``."""
    next_cost = f" and the next request could cost up to {format_usd(refused)}" if refused else ""
    return (
        f"stopped before exceeding --max-cost {format_usd(limit)}: spent {format_usd(spent)}"
        f"{next_cost}; {_progress(work)}, no final report (the output is marked INCOMPLETE); "
        f"raise --max-cost to finish"
    )


def _progress(work: PartialWork) -> str:
    return f"{work.complete_chunks} of {work.total} chunks extracted"


def refusal_message(work: PartialWork, refusals: list[RefusedPart]) -> str:
    """The one-line error of a run the model refused part of."""
    return (
        f"the model refused {_refused_list(refusals)}; {_progress(work)}, no final report (the "
        "output is marked INCOMPLETE); the refused parts were not stored: run again to ask for "
        "them again, or pass --fallback-model to ask another model"
    )


def refusal_note(refusals: list[RefusedPart], kept: str = NO_FINAL_REPORT) -> str:
    """Why a refused run's report is incomplete, for its INCOMPLETE note (``kept``: what the
    run wrote instead, for a run that is no report)."""
    return (
        f"the model refused {_refused_list(refusals)}. {kept}: run again to ask for the refused "
        "parts again, or pass --fallback-model to ask another model"
    )


def _refused_list(refusals: list[RefusedPart]) -> str:
    parts = []
    for part in refusals:
        what = "the final report" if part.stage == "final" else f"a {part.stage} request"
        reason = part.refusal.category or "no category"
        parts.append(f"{what} for {_pages(part.first_page, part.last_page)} ({reason})")
    return "; ".join(parts)


def failure_message(work: PartialWork, failures: list[FailedPart]) -> str:
    """The one-line error of a run in which requests failed for good."""
    return (
        f"{_failed_list(failures)}; {_progress(work)}, no final report (the output is marked "
        "INCOMPLETE); run again to ask for the failed parts again (the replies obtained are "
        "stored and not asked for again)"
    )


def failure_note(failures: list[FailedPart], kept: str = NO_FINAL_REPORT) -> str:
    """Why a run with failed requests is incomplete, for its INCOMPLETE note (``kept``: as for
    :func:`refusal_note`)."""
    return (
        f"{_failed_list(failures)}. {kept}: run again to ask for the failed parts again; the "
        "replies obtained are stored and not asked for again"
    )


def _failed_list(failures: list[FailedPart]) -> str:
    parts = []
    for part in failures:
        if part.stage == "final":
            what = "the request for the final report"
        elif part.first_page is None or part.last_page is None:
            what = f"a {part.stage} request"
        else:
            what = f"a {part.stage} request for {_pages(part.first_page, part.last_page)}"
        parts.append(f"{what} failed for good ({part.error})")
    return "; ".join(parts)


def cost_stop_note(limit: float, spent: float, kept: str = NO_FINAL_REPORT) -> str:
    """Why a run stopped by ``--max-cost`` is incomplete, for its INCOMPLETE note (``kept``: as
    for :func:`refusal_note`)."""
    return (
        f"the run stopped before exceeding --max-cost {format_usd(limit)}, after spending "
        f"{format_usd(spent)}. {kept}: run again with a higher --max-cost to finish"
    )


def incomplete_report_text(source: str, work: PartialWork, why: str) -> str:
    """The Markdown of the partial report: a clear INCOMPLETE note saying ``why`` (see
    :func:`cost_stop_note`, :func:`refusal_note`, :func:`failure_note`), the extractions, the
    missing chunks."""
    if work.missing:
        what = (
            f"It lists the extractions of {len(work.chunks)} of the {work.total} chunks, as the "
            f"map step wrote them; {len(work.missing)} "
            f"{'is' if len(work.missing) == 1 else 'are'} missing (listed at the end)."
        )
    else:
        what = (
            f"All {work.total} chunks were extracted (listed below), but the extractions were not "
            f"merged into a report."
        )
    note = f"> **This report is INCOMPLETE:** {what} It is incomplete because {why}."
    lines = [f"# INCOMPLETE report: {source}", "", note]
    missing_indexes = {chunk.index for chunk in work.missing}
    for result in work.chunks:
        partly = ", partly extracted" if result.index in missing_indexes else ""
        lines += [
            "",
            f"## Chunk {result.index + 1} ({_pages(result.first_page, result.last_page)}{partly})",
            "",
            result.text.strip(),
        ]
    if work.missing:
        lines += ["", "## Missing chunks", ""]
        lines += [
            f"- Chunk {chunk.index + 1} ({_pages(chunk.first_page, chunk.last_page)})"
            for chunk in work.missing
        ]
    return "\n".join(lines)


def _pages(first: int, last: int) -> str:
    return f"page {first}" if first == last else f"pages {first}-{last}"
