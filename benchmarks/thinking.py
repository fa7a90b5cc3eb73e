"""What thinking costs on today's default model, at docanalyze's defaults and at the API's.

Run: ``python benchmarks/thinking.py`` (about half a minute). It analyzes the generated document
of ``benchmarks/cost.py`` (about 1,000,000 characters, 400 pages, one planted fact per page)
through the real SDK over HTTP against the fake Messages API following today's model rules
(``FakeMessagesAPI(model_rules=True)``, :mod:`fakeserver.model_rules`): the default
model, ``claude-sonnet-5-5``, thinks by default inside ``max_tokens`` at effort ``high`` and
counts tokens with the newer tokenizer. Three runs, side by side:

* **docanalyze defaults** (``--thinking auto``): map and reduce turn up-front thinking off
  (``between_tools``), the report thinks adaptively at effort ``medium`` with its own allowance;
* **API defaults** (``--thinking api``): no thinking setting is sent, as a client that knows
  nothing of thinking would do; a reply cut while thinking is asked again with more room;
* **docanalyze defaults with ``--max-tokens 8192``**: room for a report of every fact.

For each it prints the output tokens, the share spent thinking by stage, the replies cut (as the
server counted them), the planted facts kept, the requests the server refused, and the cost by
docanalyze's price table.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cost import FACT, PAGES, respond, write_document  # the cost benchmark's document

import docanalyze
from docanalyze.cost import format_usd
from docanalyze.models.anthropic.catalog import DEFAULT_MODEL
from fakeserver import FakeMessagesAPI


@dataclass(frozen=True)
class Outcome:
    name: str
    report: docanalyze.Report
    cut: int
    refused: int
    requests: int
    facts: int


def run(document: Path, name: str, thinking: str, **options: object) -> Outcome:
    with FakeMessagesAPI(model_rules=True, responder=respond) as server:
        os.environ["ANTHROPIC_API_KEY"] = "benchmark-key"
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        report = docanalyze.analyze(
            str(document), backend="anthropic", cache="off", thinking=thinking, **options
        )
        stats = server.stats()
        refused = sum(1 for request in server.requests if request.status != 200)
    facts = len(set(FACT.findall(report.text)))
    return Outcome(name, report, stats.cut_replies, refused, stats.requests, facts)


def show(outcomes: list[Outcome]) -> None:
    header = (
        f"{'thinking':<20}{'requests':>9}{'cut':>6}{'refused':>9}{'output':>10}{'thinking':>10}"
        f"{'map+reduce':>12}{'final':>8}{'facts':>8}{'cost':>9}"
    )
    print(header)
    print("-" * len(header))
    for outcome in outcomes:
        report = outcome.report
        usage = report.usage
        stages = report.usage_by_stage
        middle = [stages[name] for name in ("map", "reduce") if name in stages]
        middle_out = sum(stage.output_tokens for stage in middle)
        middle_thinking = sum(stage.thinking_tokens for stage in middle)
        final = stages["final"]
        print(
            f"{outcome.name:<20}{outcome.requests:>9,}{outcome.cut:>6,}{outcome.refused:>9,}"
            f"{usage.output_tokens:>10,}{usage.thinking_tokens / usage.output_tokens:>10.0%}"
            f"{middle_thinking / max(1, middle_out):>12.0%}"
            f"{final.thinking_tokens / max(1, final.output_tokens):>8.0%}"
            f"{outcome.facts:>5}/{PAGES}{format_usd(report.cost or 0.0):>9}"
        )
    print()
    print("thinking: the share of output tokens spent thinking, in all, in map and reduce, and in")
    print("the report; cut: replies that stopped at max_tokens; refused: requests the server")
    print("answered with an error for breaking the model's rules; facts: planted facts in the")
    print("report. The report of all 400 facts needs about 6,200 tokens of text: at the default")
    print("--max-tokens 4096 it is cut (and says so); the last row gives it --max-tokens 8192.")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["DOCANALYZE_HOME"] = str(root / "home")
        document = root / "document.txt"
        write_document(document)
        characters = len(document.read_text(encoding="utf-8"))
        outcomes = [
            run(document, "docanalyze defaults", "auto"),
            run(document, "API defaults", "api"),
            run(document, "defaults, 8192 tokens", "auto", max_tokens=8192),
        ]
    report = outcomes[0].report
    print(
        f"document: {characters:,} characters in {PAGES} pages, {len(report.chunks)} chunks; "
        f"model {DEFAULT_MODEL} (fake server following today's model rules)\n"
    )
    show(outcomes)


if __name__ == "__main__":
    main()
