"""``docanalyze plan`` for a corpus: how fast it plans, and how close it comes to a real run.

Run: ``python benchmarks/plan_corpus.py`` writes 1,000 small text files (one to three pages) and
prints the time ``plan_corpus`` takes over their folder (the aim: under 30 s).

``python benchmarks/plan_corpus.py --run`` (about a minute) also writes 400 one-chunk files, plans
them at ``--rpm 4000``, and analyzes them with the corpus runner through the real SDK against a
fake Messages API in a process of its own (1 s latency, 4,000 requests a minute), thinking off,
replies padded to 30% of their input; it prints the planned and the measured requests, input
tokens and wall time. The plan is timed at the fake server's speed (1 s a request, replies written
at once) by :func:`corpus_time`, and the run lets in as many documents at once as
``--concurrency`` (the admission by rate-limit headroom the time model assumes); ``--today`` runs
it with today's four documents at a time as well.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throughput import server_process
from docanalyze.corpus.runner import analyze_corpus
from docanalyze.cost import input_tokens_with_cache
from docanalyze.options import Options
from docanalyze.planning.corpus import CorpusPlan, plan_corpus
from docanalyze.planning.pace import corpus_time
from docanalyze.run.pipeline import Pipeline
from docanalyze.run.several import DOCUMENTS_AT_ONCE
from fakeserver import RateLimits
from fixtures.texts import SAMPLE_EN, page_text

PLANNED_FILES = 1_000
RUN_FILES = 400
LATENCY = 1.0
LIMITS = RateLimits(requests_per_minute=4_000)


def write_files(folder: Path, count: int) -> Path:
    """``count`` text files of one to three pages each, one chunk at the default chunk size."""
    folder.mkdir(parents=True)
    for number in range(count):
        pages = [page_text(SAMPLE_EN[(number + n) % len(SAMPLE_EN)]) for n in range(number % 3 + 1)]
        (folder / f"doc-{number:04d}.txt").write_text("\f".join(pages), encoding="utf-8")
    return folder


def time_the_plan(home: Path) -> None:
    folder = write_files(home / "plan", PLANNED_FILES)
    started = time.monotonic()
    plan = plan_corpus([str(folder)])
    seconds = time.monotonic() - started
    print(
        f"plan of {plan.documents:,} files: {seconds:.1f} s "
        f"({plan.requests:,} requests, {plan.input_tokens:,} input tokens planned)"
    )


def seconds_at_server_speed(plan: CorpusPlan) -> float:
    """The plan's time with each request as fast as the fake server answers it."""
    pace = replace(plan.pace, first_token_seconds=LATENCY, output_tokens_per_second=math.inf)
    documents = [[stage.requests for stage in each.stages] for each in plan.plans]
    return corpus_time(pace, documents).seconds


def compare_with_a_run(home: Path, documents_at_once: int) -> None:
    folder = home / "run"
    if not folder.exists():
        write_files(folder, RUN_FILES)
    options = Options(backend="anthropic", thinking="off")
    plan = plan_corpus([str(folder)], options, rpm=LIMITS.requests_per_minute)
    server = {"latency": LATENCY, "rate_limits": LIMITS, "model_rules": True, "reply_share": 0.3}
    with server_process(**server) as (url, log):
        os.environ["ANTHROPIC_BASE_URL"] = url
        os.environ["DOCANALYZE_HOME"] = str(home / f"store-{documents_at_once}")
        started = time.monotonic()
        summary = analyze_corpus(
            Pipeline(options),
            [str(folder)],
            home / f"out-{documents_at_once}",
            documents_at_once=documents_at_once,
        )
        wall = time.monotonic() - started
    rate_limited = sum(1 for served in log if served.status == 429)
    planned_seconds = seconds_at_server_speed(plan)
    actual_input = input_tokens_with_cache(summary.usage)
    print(f"{RUN_FILES} files, {documents_at_once} documents at once ({rate_limited} 429s):")
    print(f"  requests      planned {plan.requests:,}, run {summary.usage.requests:,}")
    print(f"  input tokens  planned {plan.input_tokens:,}, run {actual_input:,}")
    planned_map = sum(each.stages[0].input_tokens for each in plan.plans)
    run_map = sum(served.input_tokens for served in log if served.is_map and served.status == 200)
    print(f"  of which map  planned {planned_map:,}, run {run_map:,}")
    print(f"  wall          planned {planned_seconds:.1f} s, run {wall:.1f} s")


def main() -> None:
    os.environ["ANTHROPIC_API_KEY"] = "fake-key"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        time_the_plan(home)
        if "--run" in sys.argv:
            compare_with_a_run(home, Options().concurrency)
        if "--today" in sys.argv:
            compare_with_a_run(home, DOCUMENTS_AT_ONCE)


if __name__ == "__main__":
    main()
