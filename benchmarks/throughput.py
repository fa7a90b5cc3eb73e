"""Throughput of the map-reduce under rate limits and faults, against the fake Messages API.

Run: ``python benchmarks/throughput.py`` (about 6 minutes). It analyzes a generated document of
about 1,000,000 characters (400 pages of report prose in paragraphs of a few sentences) with
docanalyze's defaults, through the real SDK over HTTP, in three scenarios, and prints for each:
wall time, the ideal wall time, efficiency = ideal / measured, the 429s received, retries, and
requests lost. The fake Messages API runs in a process of its own, as the real one runs on other
machines: the figures are the client's, not those of a server sharing its interpreter.

Ideal wall times (L is the server's latency, N the successful requests of the run, I their input
tokens as the server counts them, R/T the request and input-token limits per minute, "levels" the
reduce levels the run needed):

* Limits that bind. A bucket starts full and refills at its limit per minute, so admitting n
  requests carrying i input tokens takes at least
  ``admit(n, i) = max(0, (n - R) / (R / 60), (i - T) / (T / 60))`` seconds. The final request
  cannot start before the last map reply, and each reduce level waits for the one before, so
  ``ideal = max(admit(N, I), admit(N_map, I_map) + L * (1 + levels)) + L``.
* Generous limits. Nothing but latency binds, so the ideal is the critical path: the slowest
  map reply, plus the slowest reply of each reduce level, plus the final reply:
  ``ideal = L * (levels + 2)``.
* Real speeds (1.5 s to the first token, 15 ms a token, replies 15% of their input): the
  ``docanalyze report`` command as a user runs it, on 400,000 and 1,000,000 characters, against
  the serial ideal of a map-reduce whose report is one stream: the slowest map reply, plus one
  latency, plus every later output token written one after another. It also prints the time
  from the process's start to its first request, beside a bare ``import anthropic``'s.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docanalyze
from docanalyze.cli.app import freeze_startup_heap
from docanalyze.events import Event, RequestRetried
from fakeserver import FakeMessagesAPI, Faults, RateLimits, RecordedRequest

if sys.platform != "win32":
    multiprocessing.set_start_method("spawn", force=True)  # no fork of a threaded parent

FACT = re.compile(r"FACT-\d{4}")
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
DOCUMENT_CHARS = 1_000_000


def write_document(path: Path, chars: int = DOCUMENT_CHARS) -> set[str]:
    """About ``chars`` characters of prose in pages of 2,500, one FACT marker per page.

    Each page holds paragraphs of three to five sentences, as a report's pages do.
    """
    sentences = [
        "The regional office reviewed its freight volumes, staffing levels and customer claims.",
        "Operating costs rose in the second quarter because of higher fuel prices and tolls.",
        "Management expects the new warehouse to reduce delivery times by about twelve percent.",
        "The audit committee met four times and found no material weakness in the controls.",
    ]
    pages, facts = [], set()
    page_chars = 2_500
    for number in range(1, chars // page_chars + 1):
        fact = f"FACT-{number:04d}"
        facts.add(fact)
        paragraphs, paragraph = [], f"{fact} is the reference of page {number}."
        index = number
        while sum(map(len, paragraphs)) + len(paragraph) < page_chars:
            paragraph += " " + sentences[index % len(sentences)]
            index += 1
            if index % (3 + number % 3) == 0:
                paragraphs.append(paragraph)
                paragraph = sentences[index % len(sentences)]
                index += 1
        paragraphs.append(paragraph)
        pages.append("\n\n".join(paragraphs))
    path.write_text("\f".join(pages), encoding="utf-8")
    return facts


def respond(request: RecordedRequest) -> str:
    """A stand-in for Claude: every FACT of the prompt, glossed in an extraction, bare after."""
    facts = list(dict.fromkeys(FACT.findall(request.prompt)))
    if "<document_part>" in request.prompt:
        return "\n".join(f"- {fact}: freight, costs and controls were reviewed" for fact in facts)
    return " ".join(facts)


@dataclass(frozen=True)
class Served:
    """What the server recorded of one request."""

    status: int
    path: str
    is_map: bool
    input_tokens: int
    output_tokens: int = 0
    received_at: float = 0.0


def _serve(settings: dict[str, Any], control: Connection) -> None:
    """The fake server's process: report the URL, serve until told to stop, report the requests."""
    with FakeMessagesAPI(responder=respond, **settings) as server:
        control.send(server.base_url)
        control.recv()
        control.send(
            (
                [_served(request) for request in server.requests],
                min((request.received_at for request in server.token_counts), default=None),
            )
        )


def _sends_documents(body: dict[str, object]) -> bool:
    """Whether a request sends document blocks (a map request's pages, sent as citable content)."""
    messages = body.get("messages")
    return isinstance(messages, list) and any(
        isinstance(block, dict) and block.get("type") == "document"
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for block in message["content"]
    )


def _served(request: RecordedRequest) -> Served:
    is_map = "<document_part>" in request.prompt or _sends_documents(request.body)
    return Served(
        request.status,
        request.path,
        is_map,
        request.input_tokens,
        request.output_tokens,
        request.received_at,
    )


@contextmanager
def server_process(**settings: Any) -> Iterator[tuple[str, list[Served]]]:
    """Run a FakeMessagesAPI in another process; yields its URL and, after the block, its log
    (the messages requests; a ``count_tokens`` request comes first, as a ``Served`` with path
    ``/v1/messages/count_tokens``, when there was one)."""
    control, child_end = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve, args=(settings, child_end), daemon=True)
    process.start()
    served: list[Served] = []
    try:
        yield control.recv(), served
        control.send("stop")
        messages, first_count = control.recv()
        if first_count is not None:
            served.append(Served(200, COUNT_TOKENS_PATH, False, 0, 0, first_count))
        served.extend(messages)
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


@dataclass
class Outcome:
    wall: float
    requests: int
    map_requests: int
    input_tokens: int
    map_input_tokens: int
    levels: int
    rate_limited: int
    retries: int
    lost_facts: int
    chunks: int


def run(document: Path, facts: set[str], options: dict[str, Any], **server: Any) -> Outcome:
    """Analyze ``document`` with ``options`` against a fake server made with ``server``."""
    retries = 0

    def count(event: Event) -> None:
        nonlocal retries
        if isinstance(event, RequestRetried):
            retries += 1

    with server_process(**server) as (base_url, log), tempfile.TemporaryDirectory() as home:
        os.environ["ANTHROPIC_BASE_URL"] = base_url
        os.environ["DOCANALYZE_HOME"] = home  # an empty run store: every reply is asked for
        started = time.monotonic()
        report = docanalyze.analyze(str(document), backend="anthropic", on_event=count, **options)
        wall = time.monotonic() - started
    served = [r for r in log if r.status == 200 and r.path == "/v1/messages"]
    map_served = [r for r in served if r.is_map]
    return Outcome(
        wall=wall,
        requests=len(served),
        map_requests=len(map_served),
        input_tokens=sum(r.input_tokens for r in served),
        map_input_tokens=sum(r.input_tokens for r in map_served),
        levels=report.reduce_levels,
        rate_limited=sum(1 for r in log if r.status == 429),
        retries=retries,
        lost_facts=len(facts - set(FACT.findall(report.text))),
        chunks=len(report.chunks),
    )


def admit_seconds(requests: int, tokens: int, rpm: int, tpm: int) -> float:
    return max(0.0, (requests - rpm) / (rpm / 60), (tokens - tpm) / (tpm / 60))


def show(title: str, outcome: Outcome, ideal: float, formula: str, extra: str = "") -> None:
    share = outcome.rate_limited / max(outcome.requests, 1)
    print(f"\n{title}")
    print(f"  wall time      {outcome.wall:8.1f} s")
    print(f"  ideal          {ideal:8.1f} s   ({formula})")
    if extra:
        print(f"  {extra}")
    print(f"  efficiency     {ideal / outcome.wall:8.2f}")
    print(
        f"  requests {outcome.requests} ({outcome.map_requests} map, {outcome.chunks} chunks, "
        f"{outcome.levels} reduce levels), 429s {outcome.rate_limited} ({share:.1%}), "
        f"retries {outcome.retries}, lost {outcome.lost_facts}"
    )


def rate_limited_scenario(document: Path, facts: set[str]) -> None:
    rpm, tpm, latency = 50, 150_000, 1.0
    limits = RateLimits(requests_per_minute=rpm, input_tokens_per_minute=tpm)
    outcome = run(
        document,
        facts,
        {},
        context_window=1_000_000,
        latency=latency,
        rate_limits=limits,
    )
    ideal = (
        max(
            admit_seconds(outcome.requests, outcome.input_tokens, rpm, tpm),
            admit_seconds(outcome.map_requests, outcome.map_input_tokens, rpm, tpm)
            + latency * (1 + outcome.levels),
        )
        + latency
    )
    show(
        f"Limits that bind: {rpm} requests/min, {tpm:,} input tokens/min, {latency:.0f} s latency "
        f"({outcome.input_tokens:,} input tokens)",
        outcome,
        ideal,
        "max(admit(N, I), admit(N_map, I_map) + L*(1+levels)) + L",
    )


GENEROUS = RateLimits(
    requests_per_minute=4_000, input_tokens_per_minute=2_000_000, output_tokens_per_minute=400_000
)


def latency_scenario(document: Path, facts: set[str], *, faults: Faults | None) -> None:
    latency = 2.0
    outcome = run(
        document,
        facts,
        {},
        context_window=1_000_000,
        latency=latency,
        rate_limits=GENEROUS,
        faults=faults,
    )
    label = "no faults" if faults is None else "faults: 5% 529, 3% 500, 2% dropped connections"
    show(
        f"Generous limits (4,000 requests/min), {latency:.0f} s latency, {label}",
        outcome,
        latency * (outcome.levels + 2),
        "critical path L*(levels+2)",
    )


FIRST_TOKEN_SECONDS = 1.5
TOKEN_SECONDS = 0.015
REPLY_SHARE = 0.15


def bare_sdk_import_seconds() -> float:
    """How long a fresh interpreter takes to ``import anthropic`` (the best of three)."""
    times = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import anthropic"], check=True)
        times.append(time.monotonic() - started)
    return min(times)


def real_speeds_scenario(
    folder: Path, chars: int, sdk_import: float, target: float | None, final: str = "auto"
) -> None:
    """``docanalyze report`` as a user runs it, at Claude's speeds: the wall time against the
    serial ideal (the slowest map reply, one latency, then every later output token in one
    stream), and the time from process start to the first request."""
    document = folder / f"document-{chars}.txt"
    facts = write_document(document, chars)
    output = folder / f"report-{chars}.md"
    server = {
        "context_window": 1_000_000,
        "latency": FIRST_TOKEN_SECONDS,
        "token_seconds": TOKEN_SECONDS,
        "reply_share": REPLY_SHARE,
        "rate_limits": GENEROUS,
    }
    with server_process(**server) as (base_url, log), tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "ANTHROPIC_BASE_URL": base_url,
            "DOCANALYZE_HOME": home,
            "ANTHROPIC_API_KEY": "benchmark-key",
        }
        command = [sys.executable, "-m", "docanalyze", "report", str(document)]
        command += ["--max-tokens", "16000", "--final", final, "-q", "-o", str(output)]
        started_at, started = time.time(), time.monotonic()
        subprocess.run(command, env=env, check=True)
        wall = time.monotonic() - started
    messages = [r for r in log if r.status == 200 and r.path == "/v1/messages"]
    maps = [r for r in messages if r.is_map]
    later = [r for r in messages if not r.is_map]
    slowest_map = FIRST_TOKEN_SECONDS + max(r.output_tokens for r in maps) * TOKEN_SECONDS
    later_tokens = sum(r.output_tokens for r in later)
    ideal = slowest_map + FIRST_TOKEN_SECONDS + later_tokens * TOKEN_SECONDS
    first_request = min(r.received_at for r in log) - started_at  # count_tokens or a message
    first_message = min(r.received_at for r in messages) - started_at
    lost = len(facts - set(FACT.findall(output.read_text(encoding="utf-8"))))
    print(
        f"\nReal speeds: {chars:,} characters, {FIRST_TOKEN_SECONDS:g} s to the first token, "
        f"{TOKEN_SECONDS * 1000:g} ms a token, replies {REPLY_SHARE:.0%} of their input, "
        f"--max-tokens 16000, --final {final}"
    )
    print(f"  wall time        {wall:8.1f} s")
    print(
        f"  serial ideal     {ideal:8.1f} s   (slowest map reply {slowest_map:.1f} s + L "
        f"+ {later_tokens:,} later output tokens in one stream)"
    )
    goal = f"   (target at most {target:g})" if target is not None else "   (for comparison)"
    print(f"  ratio            {wall / ideal:8.2f}{goal}")
    print(
        f"  first request    {first_request:8.2f} s after start  (bare `import anthropic`: "
        f"{sdk_import:.2f} s; target at most {sdk_import + 0.5:.2f} s); the first message "
        f"{first_message:.2f} s"
    )
    print(
        f"  requests {len(messages)} ({len(maps)} map, {len(later)} reduce and final), "
        f"lost facts {lost} of {len(facts)}"
    )


def main() -> None:
    os.environ["ANTHROPIC_API_KEY"] = "benchmark-key"
    freeze_startup_heap()  # as the docanalyze command does: no full collection of the SDK mid-run
    with tempfile.TemporaryDirectory() as folder:
        document = Path(folder) / "document.txt"
        facts = write_document(document)
        print(f"document: {document.stat().st_size:,} bytes, {len(facts)} pages")
        rate_limited_scenario(document, facts)
        latency_scenario(document, facts, faults=None)
        latency_scenario(
            document, facts, faults=Faults(seed=7, overloaded=0.05, server_error=0.03, dropped=0.02)
        )
        sdk_import = bare_sdk_import_seconds()
        real_speeds_scenario(Path(folder), 400_000, sdk_import, 0.45)
        real_speeds_scenario(Path(folder), 1_000_000, sdk_import, 0.35)
        real_speeds_scenario(Path(folder), 400_000, sdk_import, None, final="single")


if __name__ == "__main__":
    main()
