"""One process, one limiter: every Pipeline that talks to the same API with the same key shares
one rate limiter and one adaptive concurrency (:mod:`docanalyze.models.anthropic.shared_limits`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import docanalyze
from docanalyze.report.result import Report
from fakeserver import FakeMessagesAPI, RateLimits


def one_chunk_files(root: Path, count: int) -> list[Path]:
    paths = []
    for n in range(count):
        path = root / f"note{n:02d}.txt"
        path.write_text(
            f"Note {n}: the inspectors checked pump {n} in March and its seals held.\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


def test_thirty_gathered_analyses_on_one_pipeline_share_the_limit_and_all_succeed(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=30), latency=0.5)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-test-SECRET-key")
    paths = one_chunk_files(tmp_path, 30)
    pipeline = docanalyze.Pipeline(cache="off")

    async def all_of_them() -> list[Report | BaseException]:
        return await asyncio.gather(
            *(pipeline.analyze_async(path) for path in paths), return_exceptions=True
        )

    started = time.monotonic()
    results = asyncio.run(all_of_them())
    elapsed = time.monotonic() - started
    stats = api.stats()
    print(f"{elapsed:.1f} s, {stats.ok} ok, {stats.rate_limited} 429s")
    print(stats)
    failed = [result for result in results if not isinstance(result, Report)]
    assert failed == []
    assert stats.rate_limited <= 0.05 * stats.requests
