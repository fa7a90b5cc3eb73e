"""A run read back from the run store: killed when its process is gone, and what it paid for.

A run killed by SIGKILL (or still running) never wrote its totals; every reply it paid for was
stored the moment it arrived, under the run's id, so its requests, tokens and cost are counted
from those replies, each priced at its own tier (and at the batch price for a ``--batch`` run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from docanalyze.cost import PriceTable, UsageLedger
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT
from docanalyze.models.base import Usage
from docanalyze.store_records import RunRecord

__all__ = ["StoredReply", "record_from_row", "with_stored_spend"]

StoredReply = tuple[str, str, Usage]
"""A stored reply's stage, model and usage."""


def record_from_row(row: tuple[Any, ...]) -> RunRecord:
    """The run of a row of the ``runs`` table; a ``running`` run whose process is gone was
    ``killed``."""
    status = row[3]
    if status == "running" and not _process_alive(row[4]):
        status = "killed"
    return RunRecord(
        id=row[0],
        started_at=row[1],
        finished_at=row[2],
        status=status,
        inputs=json.loads(row[5]),
        options=json.loads(row[6]),
        model=row[7],
        requests=row[8],
        cached=row[9],
        input_tokens=row[10],
        output_tokens=row[11],
        cost=row[12],
        error=row[13],
        result=None if row[14] is None else json.loads(row[14]),
    )


def with_stored_spend(
    record: RunRecord, replies: Sequence[StoredReply], prices: PriceTable | None = None
) -> RunRecord:
    """``record`` with what its stored ``replies`` paid for, where the run did not record it.

    A run that never finished (running, or killed) takes its requests, tokens and cost from the
    replies. A run that ended without a report (failed, interrupted) keeps the figures it
    recorded, and takes its cost from the replies when they are every request it counted.
    """
    if not replies:
        return record
    table = _prices_of(record, prices)
    ledger = _ledger(replies, table)
    cost = ledger.total_cost(table)
    if record.finished_at is None:
        total = ledger.total
        return replace(
            record,
            requests=total.requests,
            input_tokens=total.input_tokens,
            output_tokens=total.output_tokens,
            cost=cost,
        )
    if record.cost is None and record.result is None and record.requests == len(replies):
        return replace(record, cost=cost)
    return record


def _prices_of(record: RunRecord, prices: PriceTable | None) -> PriceTable:
    table = prices if prices is not None else PriceTable.default()
    return table.discounted(BATCH_DISCOUNT) if record.options.get("batch") else table


def _ledger(replies: Sequence[StoredReply], prices: PriceTable) -> UsageLedger:
    ledger = UsageLedger()
    for stage, model, usage in replies:
        model_prices = prices.get(model)
        long_prompt = model_prices is not None and model_prices.is_long(usage)
        ledger.add(stage, model, usage, long_prompt=long_prompt)
    return ledger


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
