"""What ``docanalyze extract`` finds, and what it costs, on a 400,000-character document.

Run: ``python benchmarks/extract.py`` (about a minute). It builds the planted document of the
extraction tests (tests/planted_records.py: 100 pages, 120 planted obligations: 100 stated once,
8 of them where two chunks overlap, 10 stated verbatim on two pages, 10 stated on two pages in
different words; 140 statements) and extracts it with docanalyze's defaults against a fresh
fake Messages API that follows the default model's rules (0.3 s latency), faultless and erring
like a real model (``RecordErrors``: a wrong page in one record in ten, an invented record in
one reply in ten), without a key and under ``--key id``.

It prints, for each run: the rows, the recall (planted statements, or under ``--key`` planted
obligations, found with every true page), the duplicates (rows beyond one per statement or
obligation), the rows whose pages are right, the invented records and how many are marked
unsupported, the requests, input and output tokens and cost (the server's own counts at the
model's price), and the wall time. Beside it, what the model's records say before docanalyze
checks and merges them (as a script that concatenates every chunk's JSON would report): the
duplicates it would keep (records seen twice where chunks overlap; under ``--key``, also the
repeats and the rewordings of one obligation) and the pages it would get wrong.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docanalyze
from docanalyze.cost import PriceTable, format_usd
from docanalyze.models.anthropic.catalog import DEFAULT_MODEL
from docanalyze.models.base import Usage
from docanalyze.records.result import ExtractResult
from fakeserver import FakeMessagesAPI, RecordErrors
from tests.planted_records import OBLIGATION_SCHEMA, PlantedDocument, planted_document

ERRING = RecordErrors(wrong_page_every=10, invent_every=10, seed=23)
LATENCY = 0.3
TOKEN_SECONDS = 0.002


@dataclass(frozen=True)
class Run:
    name: str
    rows: int
    recall: int
    truth: int
    duplicates: int
    pages_right: int
    invented: int
    marked: int
    raw_duplicates: int
    raw_wrong_pages: int
    requests: int
    usage: Usage
    cost: float
    wall: float


def measure(
    name: str, path: Path, planted: PlantedDocument, errors: RecordErrors | None, key: list[str]
) -> Run:
    with FakeMessagesAPI(
        model_rules=True, latency=LATENCY, token_seconds=TOKEN_SECONDS, record_errors=errors
    ) as server:
        os.environ["ANTHROPIC_API_KEY"] = "benchmark-key"
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        started = time.monotonic()
        result = docanalyze.extract(path, OBLIGATION_SCHEMA, key=key, cache="off")
        wall = time.monotonic() - started
        sent = [r for r in server.requests if r.path == "/v1/messages" and r.status == 200]
    usage = Usage(
        requests=len(sent),
        input_tokens=sum(r.input_tokens for r in sent),
        output_tokens=sum(r.output_tokens for r in sent),
    )
    cost = PriceTable.from_catalog().cost(DEFAULT_MODEL, usage) or 0.0
    return _score(name, result, planted, key, usage, cost, wall)


def _score(
    name: str,
    result: ExtractResult,
    planted: PlantedDocument,
    key: list[str],
    usage: Usage,
    cost: float,
    wall: float,
) -> Run:
    truth: Counter[object] = Counter()
    true_pages: dict[object, set[int]] = {}
    for statement in planted.records:
        known: object = statement.fields["id"] if key else tuple(statement.fields.values())
        true_pages.setdefault(known, set()).update(statement.pages)
        if not key:
            truth[known] += len(statement.pages)
    if key:
        truth = Counter(true_pages.keys())
    rows: Counter[object] = Counter()
    pages_right = invented = marked = 0
    for record in result.records:
        identity: object = record.fields.get("id") if key else tuple(record.fields.values())
        if identity not in true_pages:
            invented += 1
            marked += record.status == "unsupported"
            continue
        rows[identity] += 1
        if key:  # one row per obligation: every page it is stated on
            pages_right += set(record.pages) == true_pages[identity]
        else:  # one row per statement: its one page
            pages_right += len(record.pages) == 1 and record.pages[0] in true_pages[identity]
    recall = sum(min(rows[identity], count) for identity, count in truth.items())
    duplicates = sum(max(0, rows[identity] - count) for identity, count in truth.items())
    raw_pages = sum(
        record.cited_pages != record.pages
        for record in result.records
        if record.status == "corrected"
    )
    return Run(
        name,
        len(result.records),
        recall,
        sum(truth.values()),
        duplicates,
        pages_right,
        invented,
        marked,
        result.counts.overlap_repeats + result.counts.key_merges + result.counts.resolved,
        raw_pages,
        usage.requests,
        usage,
        cost,
        wall,
    )


def main() -> None:
    planted = planted_document()
    with tempfile.TemporaryDirectory() as folder:
        path = planted.write(Path(folder) / "obligations.txt")
        os.environ["DOCANALYZE_HOME"] = folder
        statements = sum(len(record.pages) for record in planted.records)
        print(
            f"{len(planted.text):,} characters, 100 pages, {statements} planted statements "
            f"({len(planted.records)} sentences, {statements - len(planted.records)} of them "
            f"said on two pages) of 120 obligations; model {DEFAULT_MODEL}, {LATENCY:g} s latency"
        )
        runs = [
            measure("faultless", path, planted, None, []),
            measure("faultless --key id", path, planted, None, ["id"]),
            measure("erring", path, planted, ERRING, []),
            measure("erring --key id", path, planted, ERRING, ["id"]),
        ]
    print(
        f"{'run':<20} {'rows':>5} {'recall':>9} {'dupl.':>6} {'pages right':>12} "
        f"{'invented/marked':>16} {'raw dupl.':>10} {'raw wrong p.':>13} {'requests':>9} "
        f"{'input':>9} {'output':>8} {'cost':>7} {'wall':>6}"
    )
    for run in runs:
        print(
            f"{run.name:<20} {run.rows:>5} {f'{run.recall}/{run.truth}':>9} {run.duplicates:>6} "
            f"{f'{run.pages_right}/{run.rows - run.invented}':>12} "
            f"{f'{run.invented}/{run.marked}':>16} {run.raw_duplicates:>10} "
            f"{run.raw_wrong_pages:>13} {run.requests:>9} {run.usage.input_tokens:>9,} "
            f"{run.usage.output_tokens:>8,} {format_usd(run.cost):>7} {run.wall:>5.1f}s"
        )


if __name__ == "__main__":
    main()
