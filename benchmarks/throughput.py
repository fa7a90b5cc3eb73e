"""Throughput of the map-reduce under rate limits and faults, against the fake Messages API.

Run: ``python benchmarks/throughput.py`` (about 3 minutes). It analyzes a generated document of
about 1,000,000 characters with docanalyze's defaults, through the real SDK over HTTP, in three
scenarios (plus the fault-free latency one again with a concurrency ceiling above the chunk
count, to show the critical path without waves), and prints for each: wall time, the ideal wall time, efficiency = ideal / measured,
the 429s received, retries, and requests lost.

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
  ``ideal = L * (levels + 2)``. With more map chunks than the concurrency ceiling C, the map
  needs ``ceil(N_map / C)`` waves; the script prints that ceiling-aware ideal too.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docanalyze
from docanalyze.events import Event, RequestRetried
from docanalyze.fakeserver import FakeMessagesAPI, Faults, RateLimits, RecordedRequest

FACT = re.compile(r"FACT-\d{4}")
DOCUMENT_CHARS = 1_000_000


def write_document(path: Path) -> set[str]:
    """About 1,000,000 characters of prose in 400 pages, one FACT marker per page."""
    sentences = [
        "The regional office reviewed its freight volumes, staffing levels and customer claims.",
        "Operating costs rose in the second quarter because of higher fuel prices and tolls.",
        "Management expects the new warehouse to reduce delivery times by about twelve percent.",
        "The audit committee met four times and found no material weakness in the controls.",
    ]
    pages, facts = [], set()
    page_chars = DOCUMENT_CHARS // 400
    for number in range(1, 401):
        fact = f"FACT-{number:04d}"
        facts.add(fact)
        body = f"{fact} is the reference of page {number}. "
        index = number
        while len(body) < page_chars:
            body += sentences[index % len(sentences)] + " "
            index += 1
        pages.append(body.strip())
    path.write_text("\f".join(pages), encoding="utf-8")
    return facts


def respond(request: RecordedRequest) -> str:
    """A stand-in for Claude: every FACT of the prompt, glossed in an extraction, bare after."""
    facts = list(dict.fromkeys(FACT.findall(request.prompt)))
    if "<document_part>" in request.prompt:
        return "\n".join(f"- {fact}: freight, costs and controls were reviewed" for fact in facts)
    return " ".join(facts)


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


def run(server: FakeMessagesAPI, document: Path, facts: set[str], **options: object) -> Outcome:
    os.environ["ANTHROPIC_API_KEY"] = "benchmark-key"
    os.environ["ANTHROPIC_BASE_URL"] = server.base_url
    retries = 0

    def count(event: Event) -> None:
        nonlocal retries
        if isinstance(event, RequestRetried):
            retries += 1

    started = time.monotonic()
    report = docanalyze.analyze(
        str(document), backend="anthropic", cache="off", on_event=count, **options
    )
    wall = time.monotonic() - started
    served = [r for r in server.requests if r.status == 200 and r.path.startswith("/v1/messages")]
    map_served = [r for r in served if "<document_part>" in r.prompt]
    return Outcome(
        wall=wall,
        requests=len(served),
        map_requests=len(map_served),
        input_tokens=sum(r.input_tokens for r in served),
        map_input_tokens=sum(r.input_tokens for r in map_served),
        levels=report.reduce_levels,
        rate_limited=sum(1 for r in server.requests if r.status == 429),
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
    with FakeMessagesAPI(
        context_window=1_000_000, latency=latency, rate_limits=limits, responder=respond
    ) as server:
        outcome = run(server, document, facts)
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


def latency_scenario(
    document: Path, facts: set[str], *, faults: Faults | None, concurrency: int | None = None
) -> None:
    latency = 2.0
    ceiling = concurrency or docanalyze.Options().concurrency
    with FakeMessagesAPI(
        context_window=1_000_000,
        latency=latency,
        rate_limits=GENEROUS,
        faults=faults,
        responder=respond,
    ) as server:
        outcome = run(
            server, document, facts, **({"concurrency": concurrency} if concurrency else {})
        )
    ideal = latency * (outcome.levels + 2)
    waves = math.ceil(outcome.map_requests / ceiling)
    ceiling_ideal = latency * (waves + outcome.levels + 1)
    label = "no faults" if faults is None else "faults: 5% 529, 3% 500, 2% dropped connections"
    setting = f", --concurrency {concurrency}" if concurrency else ""
    show(
        f"Generous limits (4,000 requests/min), {latency:.0f} s latency, {label}{setting}",
        outcome,
        ideal,
        "critical path L*(levels+2)",
        f"with ceiling   {ceiling_ideal:8.1f} s   (L*(ceil(N_map/{ceiling})+levels+1); "
        f"efficiency {ceiling_ideal / outcome.wall:.2f})",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        document = Path(folder) / "document.txt"
        facts = write_document(document)
        print(f"document: {document.stat().st_size:,} bytes, {len(facts)} pages")
        rate_limited_scenario(document, facts)
        latency_scenario(document, facts, faults=None)
        latency_scenario(document, facts, faults=None, concurrency=256)
        latency_scenario(
            document, facts, faults=Faults(seed=7, overloaded=0.05, server_error=0.03, dropped=0.02)
        )


if __name__ == "__main__":
    main()
