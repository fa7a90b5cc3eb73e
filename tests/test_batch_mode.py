"""--batch: the map stage, every reduce level and the final report through the Message Batches API.

The batch logic runs against an in-memory batch API here (results shuffled, outcomes scripted);
the HTTP path, and resuming after SIGKILL, run against the fake server in
``tests/test_batch_server.py``.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from anthropic.types.messages.batch_create_params import Request
from click.testing import CliRunner

import docanalyze.run.pipeline
from docanalyze.cli import cli
from docanalyze.cost import PriceTable
from docanalyze.errors import FailedRun, ModelError
from docanalyze.events import Event, Notice, StepFinished
from docanalyze.models.base import ModelRequest, Usage
from docanalyze.models.batches.api import BatchGone
from docanalyze.models.batches.model import BatchModel
from docanalyze.options import Options
from docanalyze.run import backend as backends
from docanalyze.run.pipeline import Pipeline
from docanalyze.store import RunStore
from docanalyze.text.tokens import estimate_tokens
from tests.fakes import RecordingModel

MODEL = "claude-sonnet-5-5"
FACT = re.compile(r"FACT-\d+")
Outcome = Callable[[str, int], str]
"""(prompt, how many batches held this request before) -> succeeded, expired, canceled,
missing, or errored:<error type>."""


def succeed(_prompt: str, _attempt: int) -> str:
    return "succeeded"


class MemoryBatchAPI:
    """The batch endpoints in memory: a batch ends after ``polls`` retrieves; results come back
    shuffled; ``outcome`` decides each item's result. Replies repeat the facts of the prompt's
    document part (``=== ... ===`` excluded), padded with ``padding`` words."""

    def __init__(self, outcome: Outcome = succeed, polls: int = 1, padding: int = 0) -> None:
        self.outcome = outcome
        self.polls = polls
        self.padding = padding
        self.created: list[list[Request]] = []
        self.retrieves: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        self.rng = random.Random(7)
        self.closed = False

    async def create(self, requests: list[Request]) -> MessageBatch:
        batch_id = f"msgbatch_{len(self.created) + 1:04d}"
        self.created.append(list(requests))
        self.retrieves[batch_id] = 0
        return self._batch(batch_id, "in_progress")

    async def retrieve(self, batch_id: str) -> MessageBatch:
        if batch_id not in self.retrieves:
            raise BatchGone(f"no batch {batch_id}")
        self.retrieves[batch_id] += 1
        ended = self.retrieves[batch_id] > self.polls
        return self._batch(batch_id, "ended" if ended else "in_progress")

    async def results(self, batch_id: str) -> list[MessageBatchIndividualResponse]:
        items = self.created[int(batch_id.split("_")[1]) - 1]
        lines = []
        for item in items:
            prompt = str(item["params"]["messages"][0]["content"])
            attempt = self.seen.get(prompt, 0)
            self.seen[prompt] = attempt + 1
            outcome = self.outcome(prompt, attempt)
            if outcome != "missing":
                lines.append(_result_line(item, outcome, self.padding))
        self.rng.shuffle(lines)
        return lines

    async def cancel(self, batch_id: str) -> MessageBatch:
        return self._batch(batch_id, "canceling")

    async def aclose(self) -> None:
        self.closed = True

    def batches_with(self, text: str) -> int:
        return sum(
            any(text in str(item["params"]["messages"][0]["content"]) for item in batch)
            for batch in self.created
        )

    def _batch(self, batch_id: str, status: str) -> MessageBatch:
        now = datetime.now(timezone.utc).isoformat()
        return MessageBatch.model_validate(
            {
                "id": batch_id,
                "type": "message_batch",
                "processing_status": status,
                "created_at": now,
                "expires_at": now,
                "request_counts": {
                    "processing": 0,
                    "succeeded": 0,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
            }
        )


def _result_line(item: Request, outcome: str, padding: int) -> MessageBatchIndividualResponse:
    params = item["params"]
    prompt = str(params["messages"][0]["content"])
    if outcome == "succeeded":
        facts = dict.fromkeys(FACT.findall(prompt))
        text = " ".join(facts) or "nothing"
        text += " filler" * padding
        stop = "end_turn"
        while estimate_tokens(text) > params["max_tokens"]:
            text, stop = text[: int(len(text) * 0.9)], "max_tokens"
        result: dict[str, Any] = {
            "type": "succeeded",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": params["model"],
                "content": [{"type": "text", "text": text}],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": estimate_tokens(prompt), "output_tokens": 10},
            },
        }
    elif outcome.startswith("errored:"):
        kind = outcome.split(":", 1)[1]
        result = {
            "type": "errored",
            "error": {"type": "error", "error": {"type": kind, "message": f"scripted {kind}"}},
        }
    else:
        result = {"type": outcome}
    return MessageBatchIndividualResponse.model_validate(
        {"custom_id": item["custom_id"], "result": result}
    )


def write_document(tmp_path: Path, pages: int = 24) -> tuple[Path, set[str]]:
    filler = "The inspectors walked the site and recorded the condition of every pump. " * 10
    text = "\f".join(f"FACT-{n:04d} is noted on page {n}. {filler}" for n in range(1, pages + 1))
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    return path, {f"FACT-{n:04d}" for n in range(1, pages + 1)}


class Harness:
    """A pipeline whose backend is a BatchModel over ``api`` (as ``create_model`` builds it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, api: MemoryBatchAPI, **batch: Any):
        self.api = api
        self.inner = RecordingModel(name=MODEL, context_window=batch.pop("window", 200_000))
        self.events: list[Event] = []
        self.models: list[BatchModel] = []

        def create_model(options: Options, **kwargs: Any) -> tuple[BatchModel, list[str]]:
            model = BatchModel(
                self.inner,
                api,
                store_path=options.store_path,
                on_event=kwargs.get("on_event"),
                poll_seconds=0.01,
                gather_seconds=0.02,
                **batch,
            )
            self.models.append(model)
            return model, []

        monkeypatch.setattr(docanalyze.run.pipeline, "create_model", create_model)

    def run(self, path: Path, **options: Any) -> docanalyze.Report:
        settings = {"chunk_size": 1200, "chunk_overlap": 0, "batch": True, **options}
        return Pipeline(on_event=self.events.append, **settings).analyze(path)

    def notices(self) -> list[str]:
        return [event.message for event in self.events if isinstance(event, Notice)]


def test_every_chunk_and_every_reduce_level_goes_through_batches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    harness = Harness(monkeypatch, MemoryBatchAPI(padding=250), window=4000)
    path, facts = write_document(tmp_path, pages=30)
    report = harness.run(path, max_tokens=600, reduce_max_tokens=700, map_max_tokens=800)

    assert harness.inner.requests == []  # nothing went to the Messages API directly
    assert report.reduce_levels >= 2
    assert report.batch and report.to_dict()["batch"] is True
    assert facts <= set(FACT.findall(report.text))
    submitted = [n for n in harness.notices() if "submitted" in n]
    assert len(harness.api.created) == len(submitted) >= 1 + report.reduce_levels + 1
    assert any("map)" in n for n in submitted) and any("final)" in n for n in submitted)
    assert sum("reduce)" in n for n in submitted) >= report.reduce_levels
    steps = [e for e in harness.events if isinstance(e, StepFinished)]
    assert len(steps) == report.usage.requests == sum(len(b) for b in harness.api.created)
    assert harness.api.closed


def test_results_in_any_order_reach_the_right_chunks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    harness = Harness(monkeypatch, MemoryBatchAPI())
    path, _ = write_document(tmp_path, pages=12)
    report = harness.run(path)

    assert len(report.chunks) > 4 and len(harness.api.created[0]) == len(report.chunks)
    for chunk in report.chunks:
        pages = range(chunk.first_page, chunk.last_page + 1)
        assert set(FACT.findall(chunk.text)) == {f"FACT-{page:04d}" for page in pages}


def test_errored_expired_canceled_and_missing_results_are_sent_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first_time = {
        "FACT-0002": "expired",
        "FACT-0004": "errored:overloaded_error",
        "FACT-0006": "canceled",
        "FACT-0008": "missing",
        "FACT-0010": "errored:api_error",
    }

    def outcome(prompt: str, attempt: int) -> str:
        for fact, result in first_time.items():
            if attempt == 0 and f"{fact} is noted" in prompt:
                return result
        return "succeeded"

    harness = Harness(monkeypatch, MemoryBatchAPI(outcome))
    path, facts = write_document(tmp_path, pages=12)
    report = harness.run(path)

    assert facts <= set(FACT.findall(report.text))
    for fact in first_time:
        assert harness.api.batches_with(f"{fact} is noted") == 2
    assert harness.api.batches_with("FACT-0001 is noted") == 1
    ended = next(n for n in harness.notices() if "ended" in n and "expired" in n)
    assert ended.endswith(
        "ended: 7 succeeded, 2 errored, 1 expired, 1 canceled, 1 without a result"
    )


def test_an_invalid_request_fails_with_one_line_naming_the_stage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def outcome(prompt: str, _attempt: int) -> str:
        return "errored:invalid_request_error" if "FACT-0003 is noted" in prompt else "succeeded"

    harness = Harness(monkeypatch, MemoryBatchAPI(outcome))
    path, _ = write_document(tmp_path, pages=8)
    with pytest.raises(ModelError) as caught:
        harness.run(path)
    message = str(caught.value)
    assert "\n" not in message
    assert "refused a map request" in message and "invalid_request_error" in message
    assert "check --model" in message
    assert len(harness.api.created) == 1  # not sent again


def test_a_request_that_keeps_expiring_gives_up_after_bounded_attempts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def outcome(prompt: str, _attempt: int) -> str:
        return "expired" if "FACT-0003 is noted" in prompt else "succeeded"

    harness = Harness(monkeypatch, MemoryBatchAPI(outcome), max_attempts=3)
    path, _ = write_document(tmp_path, pages=8)
    with pytest.raises(
        FailedRun, match=r"gave up on a map request after 3 batches \(last: expired\)"
    ) as caught:
        harness.run(path)
    assert harness.api.batches_with("FACT-0003 is noted") == 3
    report = caught.value.report  # the other chunks' replies are kept, only page 3 is missing
    assert report.exit_code == 3 and len(report.missing_chunks) == 1
    assert "FACT-0003" not in report.text and "FACT-0004" in report.text


def test_a_stage_is_split_into_batches_above_the_count_and_size_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    harness = Harness(monkeypatch, MemoryBatchAPI(), max_requests=4)
    path, facts = write_document(tmp_path, pages=20)
    report = harness.run(path)
    map_items = [
        item
        for batch in harness.api.created
        for item in batch
        if "is noted on page" in str(item["params"]["messages"][0]["content"])
    ]
    assert len(report.chunks) > 8 and len(map_items) == len(report.chunks)
    assert all(len(batch) <= 4 for batch in harness.api.created)
    assert facts <= set(FACT.findall(report.text))

    sized = Harness(monkeypatch, MemoryBatchAPI(), max_bytes=6000)
    sized.run(path, cache="off")
    from docanalyze.models.batches.requests import item_size

    assert len(sized.api.created) > len(harness.api.created) // 2
    for batch in sized.api.created:
        assert len(batch) == 1 or sum(item_size(item) for item in batch) <= 6000


def test_the_cost_is_the_batch_price(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    harness = Harness(monkeypatch, MemoryBatchAPI())
    path, _ = write_document(tmp_path, pages=10)
    report = harness.run(path)
    full = PriceTable.from_catalog().cost(MODEL, report.usage)
    assert full is not None and full > 0
    assert report.cost == pytest.approx(full * 0.5)
    data = report.to_dict()
    assert data["batch"] is True and data["cost"]["batch_discount"] == 0.5


def test_the_cli_usage_line_says_batch_price(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    Harness(monkeypatch, MemoryBatchAPI())
    path, _ = write_document(tmp_path, pages=6)
    result = CliRunner().invoke(cli, ["report", str(path), "--batch", "--chunk-size", "1200"])
    assert result.exit_code == 0, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert f"({MODEL}), batch price (50% off)," in line
    assert "submitted" in result.stderr


def test_a_later_process_collects_a_recorded_batch_instead_of_sending_again(
    tmp_path: Path,
) -> None:
    store_path = tmp_path / "store.sqlite3"
    api = MemoryBatchAPI(polls=1_000_000)  # never ends while the first "process" waits
    requests = [ModelRequest(f"FACT-{n:04d} is noted", 100, "map") for n in range(5)]

    async def first_process() -> None:
        model = BatchModel(
            RecordingModel(name=MODEL),
            api,
            store_path=store_path,
            poll_seconds=0.01,
            gather_seconds=0.01,
        )
        tasks = [asyncio.create_task(model.complete(r)) for r in requests]
        while not api.created:
            await asyncio.sleep(0.01)
        for task in tasks:  # killed: nothing collected
            task.cancel()
        await model.aclose()

    asyncio.run(first_process())
    with RunStore(store_path) as store:
        (pending,) = store.pending_batches()
    assert pending.id == "msgbatch_0001" and len(pending.requests) == 5

    api.polls = 2

    async def second_process() -> list[str]:
        model = BatchModel(
            RecordingModel(name=MODEL),
            api,
            store_path=store_path,
            poll_seconds=0.01,
            gather_seconds=0.01,
        )
        try:
            replies = await asyncio.gather(*(model.complete(r) for r in requests))
        finally:
            await model.aclose()
        return [reply.text for reply in replies]

    texts = asyncio.run(second_process())
    assert texts == [f"FACT-{n:04d}" for n in range(5)]
    assert len(api.created) == 1  # no second batch
    with RunStore(store_path) as store:
        assert store.pending_batches() == []
        assert store.cache_stats().calls == 5


def test_a_recorded_batch_whose_results_are_gone_is_sent_again(tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite3"
    request = ModelRequest("FACT-0001 is noted", 100, "map")
    with RunStore(store_path) as store:
        from docanalyze.models.batches.requests import custom_id_of
        from docanalyze.models.stored import call_key

        key = call_key(MODEL, request)
        store.record_batch("msgbatch_unknown", {custom_id_of(key): (key, "map")})
    api = MemoryBatchAPI()

    async def run() -> str:
        model = BatchModel(
            RecordingModel(name=MODEL),
            api,
            store_path=store_path,
            poll_seconds=0.01,
            gather_seconds=0.01,
        )
        try:
            return (await model.complete(request)).text
        finally:
            await model.aclose()

    assert asyncio.run(run()) == "FACT-0001"
    assert len(api.created) == 1
    with RunStore(store_path) as store:
        assert store.pending_batches() == []


def test_batch_options_are_checked() -> None:
    with pytest.raises(docanalyze.ConfigError, match="batch_poll_seconds"):
        Options(batch=True, batch_poll_seconds=0)
    code = CliRunner().invoke(cli, ["report", "x.txt", "--batch-poll", "0"]).exit_code
    assert code == 2


def test_usage_of_batch_replies_counts_as_usual(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    harness = Harness(monkeypatch, MemoryBatchAPI())
    path, _ = write_document(tmp_path, pages=6)
    started = time.monotonic()
    report = harness.run(path)
    assert time.monotonic() - started < 10
    assert report.usage.requests == sum(len(batch) for batch in harness.api.created)
    assert report.usage.output_tokens == 10 * report.usage.requests
    assert report.usage_by_stage["map"] != Usage()


def test_a_fallback_model_under_batch_is_said_to_have_no_effect() -> None:
    env = {"ANTHROPIC_API_KEY": "fake-test-key"}
    options = Options(batch=True, fallback_model="claude-haiku-4-5")
    model, notices = backends.create_model(options, env=env)
    assert isinstance(model, BatchModel)
    assert any(n.startswith("--fallback-model has no effect with --batch") for n in notices)
    _, plain = backends.create_model(Options(batch=True), env=env)
    assert not any("--fallback-model" in notice for notice in plain)
