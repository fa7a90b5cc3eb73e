"""A folder of documents at the speed of one: documents admitted by the limits' headroom.

Run: ``python benchmarks/corpus_speed.py`` (about 4 minutes; ``--only generous``, ``tight``,
``memory`` or ``batch`` runs one part). Against a fake Messages API in a process of its own, through the
real SDK:

* generous: 1,000,000 characters (400 pages) with 4,000 requests a minute and 1 s latency, as
  one document (``--chunk-size 2500``) and as 400 one-chunk files (``report DIR -o OUT``);
  prints the wall, requests, peak requests in flight and the ratio of the two walls.
* tight: 40 one-chunk files at 50 requests a minute (1 s latency): the wall against the
  rate-limit bound (the requests beyond a full bucket at 50 a minute, plus one latency), and
  the share of 429s.
* batch: the 400 one-chunk files with ``--batch``, each batch ending 1 s after it is created: the
  wall and the Message Batches created.
* memory: a folder of large PDFs (12 of 600 pages) with the text ceiling set to 4,000,000
  characters: the most text the documents in flight held, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docanalyze
import docanalyze.run.admission as admission_module
from benchmarks.throughput import respond, write_document
from docanalyze.corpus.runner import analyze_corpus
from docanalyze.options import Options
from docanalyze.run.pipeline import Pipeline
from fakeserver import FakeMessagesAPI, RateLimits, ServerStats

GENEROUS = RateLimits(requests_per_minute=4_000, input_tokens_per_minute=10_000_000)
TIGHT = RateLimits(requests_per_minute=50, input_tokens_per_minute=10_000_000)
LATENCY = 1.0
PAGE = 2_500


@dataclass(frozen=True)
class Served:
    """What the server saw of a run."""

    stats: ServerStats
    requests: int
    batches: int
    batched: int


def _serve(settings: dict[str, Any], control: Connection) -> None:
    with FakeMessagesAPI(responder=respond, **settings) as server:
        control.send(server.base_url)
        control.recv()
        messages = [r for r in server.requests if r.path == "/v1/messages"]
        answered = sum(1 for r in messages if r.status == 200)
        batched = [r.batch_id for r in server.requests if r.batch_id]
        control.send(Served(server.stats(), answered, len(set(batched)), len(batched)))


@contextmanager
def server(**settings: Any) -> Iterator[tuple[str, list[Served]]]:
    """A fake server in another process; after the block, what it saw."""
    control, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve, args=(settings, child), daemon=True)
    process.start()
    seen: list[Served] = []
    try:
        yield control.recv(), seen
        control.send("stop")
        seen.append(control.recv())
    finally:
        process.join(timeout=10)


def timed(run: Callable[[], object], home: Path, **settings: Any) -> tuple[float, Served]:
    with server(**settings) as (base_url, seen), tempfile.TemporaryDirectory(dir=home) as store:
        os.environ["ANTHROPIC_BASE_URL"] = base_url
        os.environ["DOCANALYZE_HOME"] = store
        started = time.monotonic()
        run()
        wall = time.monotonic() - started
    return wall, seen[0]


def split_into_files(document: Path, folder: Path, count: int | None = None) -> int:
    """One file a page of ``document``: one chunk each at ``--chunk-size 2500``."""
    folder.mkdir()
    pages = document.read_text(encoding="utf-8").split("\f")[:count]
    for number, page in enumerate(pages):
        (folder / f"page-{number:04d}.txt").write_text(page, encoding="utf-8")
    return len(pages)


def line(name: str, wall: float, served: Served) -> None:
    stats = served.stats
    print(
        f"  {name:<22} {wall:7.1f} s  {served.requests:5} requests  "
        f"{stats.max_in_flight:4} peak in flight  {stats.rate_limited:4} 429s"
    )


def generous(home: Path) -> None:
    document = home / "document.txt"
    write_document(document)
    files = split_into_files(document, home / "pages")
    options = Options(backend="anthropic", chunk_size=PAGE, cache="off")
    print(f"generous limits (4,000 requests/min), {LATENCY:g} s latency, 1,000,000 characters:")
    settings = {"latency": LATENCY, "rate_limits": GENEROUS}

    def one() -> None:
        docanalyze.analyze(str(document), **vars_of(options))

    def corpus() -> None:
        analyze_corpus(Pipeline(options), [str(home / "pages")], home / "out-generous")

    single, served_single = timed(one, home, **settings)
    line("one document", single, served_single)
    several, served_corpus = timed(corpus, home, **settings)
    line(f"{files} one-chunk files", several, served_corpus)
    print(f"  the files take {several / single:.2f}x the single document")


def batch(home: Path) -> None:
    document = home / "document-batch.txt"
    write_document(document)
    files = split_into_files(document, home / "batch-pages")
    options = Options(
        backend="anthropic", chunk_size=PAGE, cache="off", batch=True, batch_poll_seconds=0.1
    )

    def corpus() -> None:
        analyze_corpus(Pipeline(options), [str(home / "batch-pages")], home / "out-batch")

    wall, served = timed(corpus, home, batch_latency=LATENCY, rate_limits=GENEROUS)
    print(f"--batch, batches ending {LATENCY:g} s after creation, {files} one-chunk files:")
    print(f"  {wall:7.1f} s  {served.batches} Message Batches for {served.batched} requests")


def tight(home: Path) -> None:
    document = home / "document-tight.txt"
    write_document(document, 40 * PAGE)
    files = split_into_files(document, home / "tight", 40)
    options = Options(backend="anthropic", chunk_size=PAGE, cache="off")
    rpm = TIGHT.requests_per_minute or 1

    def corpus() -> None:
        analyze_corpus(Pipeline(options), [str(home / "tight")], home / "out-tight")

    wall, served = timed(corpus, home, latency=LATENCY, rate_limits=TIGHT)
    bound = max(0, served.requests - rpm) * 60 / rpm + LATENCY
    print(f"tight limits ({rpm} requests/min), {LATENCY:g} s latency, {files} one-chunk files:")
    line(f"{files} one-chunk files", wall, served)
    share = served.stats.rate_limited / max(1, served.stats.requests)
    print(f"  rate-limit bound {bound:.1f} s: {bound / wall:.2f} of it; {share:.1%} 429s")


def write_pdf(path: Path, pages: int) -> None:
    """A PDF of ``pages`` pages of about 2,500 characters each."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    sentence = "The inspectors walked the site and recorded the state of every pump and valve."
    for page in range(1, pages + 1):
        pdf.drawString(50, 800, f"FACT-{page:04d} is the reference of page {page}.")
        for row in range(1, 32):
            pdf.drawString(50, 800 - 16 * row, sentence)
        pdf.showPage()
    pdf.save()


def memory(home: Path) -> None:
    folder = home / "pdfs"
    folder.mkdir()
    for number in range(12):
        write_pdf(folder / f"big-{number:02d}.pdf", pages=600)
    ceiling = 4_000_000
    admission_module.TEXT_CEILING = ceiling
    most: list[int] = []
    original = admission_module.TextHeld.resize

    def resize(held: admission_module.TextHeld, old: int, new: int) -> None:
        original(held, old, new)
        most.append(held.text)

    admission_module.TextHeld.resize = resize  # type: ignore[method-assign]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    options = Options(backend="anthropic", chunk_size=10_000, cache="off")

    def corpus() -> None:
        analyze_corpus(Pipeline(options), [str(folder)], home / "out-pdfs")

    wall, served = timed(corpus, home, latency=0.2, rate_limits=GENEROUS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(path.stat().st_size for path in folder.glob("*.pdf")) / 1e6
    print(f"12 PDFs of 600 pages ({size:.0f} MB), text ceiling {ceiling:,} characters:")
    line("12 large PDFs", wall, served)
    print(
        f"  most text held {max(most):,} characters; "
        f"peak memory {peak:.0f} MB (before the run {before:.0f} MB)"
    )


def vars_of(options: Options) -> dict[str, Any]:
    return {"backend": options.backend, "chunk_size": options.chunk_size, "cache": options.cache}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("generous", "tight", "memory", "batch"))
    only = parser.parse_args().only
    os.environ["ANTHROPIC_API_KEY"] = "benchmark-key"
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        parts = (("generous", generous), ("tight", tight), ("memory", memory), ("batch", batch))
        for name, part in parts:
            if only in (None, name):
                part(home)


if __name__ == "__main__":
    if sys.platform != "win32":
        multiprocessing.set_start_method("spawn", force=True)
    main()
