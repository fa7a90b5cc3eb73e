"""What a grounded report costs against today's, and what it catches, on one long PDF.

Run: ``python benchmarks/grounded.py`` (about a minute; needs reportlab and git). It writes an
English PDF of 400,000 characters with 80 planted facts on known pages, and analyzes it three
ways with docanalyze's defaults (``docanalyze report PDF --format json``), each against a fresh
fake Messages API that follows the default model's rules and errs like a real model (a wrong
page in one bullet in ten, an invented fact in one reply in ten):

* **today**: docanalyze as it was before the grounded pipeline (``BEFORE_GROUNDING``, the
  commit of main the grounded pipeline was merged onto), taken from git: the map asks for
  bullets with ``(p. N)`` citations, and nothing checks them;
* **quote fallback**: today's docanalyze with a Claude backend that declares no Citations, so
  each point carries a quote from the prompt's text, checked in code;
* **grounded**: today's docanalyze with Claude's Citations: pages and points sent as citable
  content, every citation checked in code.

It prints, for each: requests, input and output tokens, the cost at the model's price (priced
from the server's own counts), the facts reported on their true page only, the invented facts
that reached the report and how many of those are marked unsupported, and the wall time. The
fake model writes the same bullets for a fact with or without Citations (a cited reply's
``cited_text`` is not output), so the difference in cost is what grounding adds: the citable
blocks' input tokens, the quotes carried through the reduce, and the cited replies' extra text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docanalyze.citations.pages import CITATION, parse_pages
from docanalyze.cost import PriceTable, format_usd
from docanalyze.models.anthropic.catalog import CLAUDE_FEATURES, DEFAULT_MODEL
from docanalyze.models.base import Model, ModelFeatures, ModelReply, ModelRequest, Usage
from docanalyze.models.plugin import Backend, BackendSettings, BackendWiring
from docanalyze.models.wrapper import ModelWrapper
from fakeserver import CitationErrors, FakeMessagesAPI
from tests.planted_pdfs import write_english_pdf

BEFORE_GROUNDING = "e5fb76f"
"""main before the grounded pipeline's merge (42ed2e1): what ``docanalyze report`` sent until then."""
ERRING = CitationErrors(wrong_page_every=10, invent_every=10, seed=20)
LATENCY = 0.3
TOKEN_SECONDS = 0.002
FACT = re.compile(r"FACT-\d+")
UNSUPPORTED = "⚠ unsupported"
QUOTING_BACKEND = "claude-quoting"


@dataclass(frozen=True)
class Run:
    """One way of running, and what it cost and caught."""

    name: str
    requests: int
    usage: Usage
    cost: float
    pages_right: int
    facts: int
    invented_made: int
    invented_reported: int
    invented_marked: int
    wall: float


class QuotingClaude(ModelWrapper):
    """The Claude backend declaring no Citations: docanalyze asks it for quotes instead."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner

    @property
    def features(self) -> ModelFeatures:
        """Claude's, without Citations."""
        return replace(self.inner.features, citations=False)

    async def complete(self, request: ModelRequest) -> ModelReply:
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def create_quoting_claude(
    settings: BackendSettings, wiring: BackendWiring
) -> tuple[Model, list[str]]:
    from docanalyze.models.anthropic.backend import create_claude

    model, notices = create_claude(settings, wiring)
    return QuotingClaude(model), notices


def quoting_cli(arguments: list[str]) -> None:
    """``docanalyze report`` with the backend that declares no Citations (a subprocess's job)."""
    from docanalyze.models.registry import register

    features = replace(CLAUDE_FEATURES, citations=False)
    register(Backend(QUOTING_BACKEND, features, create_quoting_claude))
    from docanalyze.cli import cli

    cli.main(["report", *arguments, "--backend", QUOTING_BACKEND], prog_name="docanalyze")


def checkout_before_grounding(folder: Path) -> Path:
    """docanalyze and its prompts at ``BEFORE_GROUNDING``, from git, in ``folder``."""
    archive = subprocess.run(
        ["git", "archive", BEFORE_GROUNDING, "docanalyze", "prompts"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def measure(
    name: str, command: list[str], code_root: Path, pdf: Path, truth: dict[str, int]
) -> Run:
    prices = PriceTable.from_catalog()
    with FakeMessagesAPI(
        model_rules=True, latency=LATENCY, token_seconds=TOKEN_SECONDS, citation_errors=ERRING
    ) as server:
        env = {
            **os.environ,
            "PYTHONPATH": str(code_root),
            "ANTHROPIC_API_KEY": "benchmark-key",
            "ANTHROPIC_BASE_URL": server.base_url,
        }
        started = time.monotonic()
        done = subprocess.run(
            [*command, str(pdf), "--format", "json", "--no-cache", "-q"],
            check=False,
            env=env,
            cwd=code_root,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"{name}: exit {done.returncode}\n{done.stderr}")
        sent = [r for r in server.requests if r.path == "/v1/messages" and r.status == 200]
        errors = server.citation_errors_made
    usage = Usage(
        requests=len(sent),
        input_tokens=sum(r.input_tokens for r in sent),
        output_tokens=sum(r.output_tokens for r in sent),
        cache_creation_input_tokens=sum(r.cache_creation_input_tokens for r in sent),
        cache_read_input_tokens=sum(r.cache_read_input_tokens for r in sent),
    )
    report = json.loads(done.stdout)["report"]
    found = fact_pages(report)
    invented = {fact for error in errors if error.kind == "invented" for fact in error.facts}
    reported = {fact for fact in invented if fact in found}
    marked = {fact for fact in reported if all_marked(report, fact)}
    return Run(
        name,
        len(sent),
        usage,
        prices.cost(DEFAULT_MODEL, usage) or 0.0,
        sum(found.get(fact) == {page} for fact, page in truth.items()),
        len(truth),
        len(invented),
        len(reported),
        len(marked),
        wall,
    )


def fact_pages(report: str) -> dict[str, set[int]]:
    """Each fact of a report and the pages its lines cite."""
    found: dict[str, set[int]] = {}
    for line in report.splitlines():
        pages = {page for match in CITATION.finditer(line) for page in parse_pages(match["pages"])}
        for fact in FACT.findall(line):
            found.setdefault(fact, set()).update(pages)
    return found


def all_marked(report: str, fact: str) -> bool:
    return all(UNSUPPORTED in line for line in report.splitlines() if fact in line)


def show(runs: list[Run]) -> None:
    today = runs[0]
    print(
        f"{'run':<16} {'requests':>8} {'input':>9} {'output':>8} {'cost':>8} {'vs today':>9} "
        f"{'pages right':>12} {'inventions marked':>18} {'wall':>7}"
    )
    for run in runs:
        print(
            f"{run.name:<16} {run.requests:>8,} {run.usage.input_tokens:>9,} "
            f"{run.usage.output_tokens:>8,} {format_usd(run.cost):>8} "
            f"{100 * (run.cost / today.cost - 1):>+8.1f}% "
            f"{f'{run.pages_right}/{run.facts}':>12} "
            f"{f'{run.invented_marked}/{run.invented_reported} ({run.invented_made} made)':>18} "
            f"{run.wall:>6.1f}s"
        )


def main() -> None:
    if sys.argv[1:2] == ["--quoting"]:
        quoting_cli(sys.argv[2:])
        return
    python = sys.executable
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        os.environ["DOCANALYZE_HOME"] = str(home / "home")
        pdf = home / "inspection.pdf"
        truth = write_english_pdf(pdf, facts=80, characters=400_000)
        old = checkout_before_grounding(home / "before")
        print(
            f"{pdf.name}: 400,000 characters, {len(truth)} planted facts; the model errs: "
            f"a wrong page in 1 bullet in {ERRING.wrong_page_every}, an invented fact in 1 "
            f"reply in {ERRING.invent_every}; {LATENCY} s latency"
        )
        report = [python, "-m", "docanalyze", "report"]
        runs = [
            measure(f"today ({BEFORE_GROUNDING})", report, old, pdf, truth),
            measure("quote fallback", [python, __file__, "--quoting"], ROOT, pdf, truth),
            measure("grounded", report, ROOT, pdf, truth),
        ]
    show(runs)


if __name__ == "__main__":
    main()
