"""A corpus of small PDFs on one process and on Ray, against a rate-limited fake Messages API.

Run: ``python benchmarks/corpus.py`` (about 2 minutes; needs the test extra: reportlab, ray).
It writes 200 PDFs of 3 pages each (one FACT marker a page), then analyzes them with
docanalyze's defaults through the real SDK over HTTP, against a fake server in a process of its
own (0.3 s latency, 1,200 requests a minute): once with the single-process corpus runner
(``docanalyze report DIR -o OUT``), once on a local Ray with 2 CPUs (``--ray``). It prints, for
each: wall time, documents a second, requests, 429s and facts lost.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from benchmarks.throughput import server_process
from docanalyze.corpus.runner import analyze_corpus
from docanalyze.options import Options
from docanalyze.run.pipeline import Pipeline
from fakeserver import RateLimits

DOCUMENTS = 200
PAGES = 3
FACT = re.compile(r"FACT-\d{4}")
LIMITS = RateLimits(requests_per_minute=1_200, input_tokens_per_minute=2_000_000)
SENTENCE = "The inspectors walked the site and recorded the condition of every pump and valve."


def write_corpus(folder: Path) -> set[str]:
    """``DOCUMENTS`` PDFs of ``PAGES`` pages, one FACT marker a page."""
    folder.mkdir()
    facts = set()
    for number in range(DOCUMENTS):
        pdf = canvas.Canvas(str(folder / f"report-{number:03d}.pdf"), pagesize=A4, invariant=1)
        for page in range(1, PAGES + 1):
            fact = f"FACT-{number:03d}{page}"
            facts.add(fact)
            lines = [f"{fact} is the reference of page {page}.", *[SENTENCE] * 30]
            for row, line in enumerate(lines):
                pdf.drawString(50, 800 - 16 * row, line)
            pdf.showPage()
        pdf.save()
    return facts


def one_process(folder: Path, out: Path) -> None:
    analyze_corpus(Pipeline(Options(backend="anthropic")), [str(folder)], out)


def on_ray(folder: Path, out: Path) -> None:
    import ray

    from docanalyze.ray.runner import analyze_on_ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        analyze_on_ray(Options(backend="anthropic"), [str(folder)], out)
    finally:
        ray.shutdown()


def measure(name: str, run: object, folder: Path, facts: set[str], home: Path) -> None:
    out = home / f"out-{name}"
    with server_process(latency=0.3, rate_limits=LIMITS) as (base_url, log):
        os.environ["ANTHROPIC_BASE_URL"] = base_url
        os.environ["DOCANALYZE_HOME"] = str(home / f"store-{name}")
        started = time.monotonic()
        run(folder, out)  # type: ignore[operator]
        wall = time.monotonic() - started
    messages = [served for served in log if served.path == "/v1/messages"]
    rate_limited = sum(1 for served in messages if served.status == 429)
    found = {fact for path in out.glob("*.md") for fact in FACT.findall(path.read_text("utf-8"))}
    print(
        f"{name:<13} {wall:7.1f} s  {DOCUMENTS / wall:6.1f} documents/s  "
        f"{len(messages):5} requests  {rate_limited:4} 429s  {len(facts - found):3} facts lost"
    )


def main() -> None:
    os.environ["ANTHROPIC_API_KEY"] = "benchmark-key"
    os.environ["RAY_AUTH_MODE"] = "disabled"
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        facts = write_corpus(home / "pdfs")
        print(f"{DOCUMENTS} PDFs of {PAGES} pages; server: 0.3 s latency, 1,200 requests/min")
        measure("one process", one_process, home / "pdfs", facts, home)
        measure("ray, 2 CPUs", on_ray, home / "pdfs", facts, home)


if __name__ == "__main__":
    main()
