"""The lines ``docanalyze extract`` ends with on stderr: a document's records and what they
cost, and a folder run's records, documents and files."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from docanalyze.cost import format_usd, input_tokens_with_cache
from docanalyze.text.wording import counted

if TYPE_CHECKING:
    from docanalyze.records.corpus import CorpusRecords
    from docanalyze.records.result import ExtractResult

__all__ = ["records_line", "summary_line"]


def summary_line(result: ExtractResult) -> str:
    """``docanalyze: 140 records (8 seen twice in an overlap, kept once; ...), citations: ...;
    44 requests, 141,573 input tokens, 20,177 output tokens, $0.73 (model), 12.0 s``."""
    counts, usage = result.counts, result.usage
    merged = [
        f"{counts.overlap_repeats:,} seen twice where chunks overlap, kept once"
        if counts.overlap_repeats
        else "",
        f"{counts.key_merges:,} merged under --key" if counts.key_merges else "",
        f"{counts.resolved:,} worded differently, merged by the model" if counts.resolved else "",
        f"{counts.unresolved:,} left apart" if counts.unresolved else "",
        f"{counts.unsupported_dropped:,} unsupported dropped" if counts.unsupported_dropped else "",
    ]
    detail = "; ".join(part for part in merged if part)
    citations = result.citations.describe().rstrip(".")
    cost = "cost unknown" if result.cost is None else f"{format_usd(result.cost)} ({result.model})"
    stored = f" (+{result.cache_hits:,} from the run store)" if result.cache_hits else ""
    return (
        f"docanalyze: {counted(len(result.records), 'record')}"
        f"{f' ({detail})' if detail else ''}; {citations}; "
        f"{counted(usage.requests, 'request')}{stored}, "
        f"{input_tokens_with_cache(usage):,} input tokens, {usage.output_tokens:,} output "
        f"tokens, {cost}, {result.timings.get('total', 0.0):.1f} s"
    )


def records_line(summary: CorpusRecords) -> str:
    """``140 records of 12 documents (3 from an earlier run), 1 incomplete, 0 failed: see
    /abs/OUT/records.jsonl (a table per document in /abs/OUT/, and index.jsonl)``."""
    documents = summary.complete + summary.incomplete
    earlier = f" ({summary.skipped:,} from an earlier run)" if summary.skipped else ""
    incomplete = f"{summary.incomplete:,} incomplete, " if summary.incomplete else ""
    folder = os.path.join(os.path.abspath(summary.output_dir), "")
    table = os.path.abspath(summary.table_path or summary.output_dir)
    return (
        f"{counted(summary.records, 'record')} of {counted(documents, 'document')}{earlier}, "
        f"{incomplete}{summary.failed:,} failed: see {table} (a table per document in "
        f"{folder}, and {os.path.basename(summary.index_path)})"
    )
