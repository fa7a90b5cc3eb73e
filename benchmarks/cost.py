"""What one long document costs three ways: standard, Message Batches, and prompt caching.

Run: ``python benchmarks/cost.py`` (under a minute). It analyzes a generated document of about
1,000,000 characters (400 pages) through the real SDK over HTTP against the fake Messages API,
with a map template whose shared instructions carry a long glossary (a style guide that every
chunk's extraction must follow), and prices the usage the fake server reports with docanalyze's
price table (:mod:`docanalyze.models.anthropic.catalog`):

* **standard**: the same template without its ``shared_instructions`` block, so the glossary is
  part of every map request's message, uncached (what docanalyze sent before prompt caching);
* **batch**: the standard run through the Message Batches API (``--batch``), every token at
  ``BATCH_DISCOUNT`` times the price. If ``--batch`` does not run here, the standard usage is
  priced at the discount instead; the output says which;
* **prompt caching**: the template as written, so the glossary goes in a cached system prompt:
  the first map request writes it (1.25 times the input price), the others read it (at the
  model's cache-read price: $0.10 per million tokens on claude-sonnet-5-5).

The fake server follows the default model's published rules (``model_rules``): it counts tokens
with its own tokenizer scaled to the model's, and caches a prefix like the real API (at least the
model's minimum, 512 tokens on claude-sonnet-5-5; 5 minutes; readable once the writing request has
started replying). The cache writes and reads shown are the server's own records, with how many
requests carried ``cache_control`` and how many of them wrote or read the cache. Replies are
stand-ins of a realistic length: a dozen bullets per chunk, shorter merges.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docanalyze
from docanalyze.cost import PriceTable, format_usd
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT, DEFAULT_MODEL, tokenizer_ratio
from docanalyze.models.base import Usage
from docanalyze.report.result import Report
from docanalyze.text.tokens import estimate_for_tokenizer
from fakeserver import FakeMessagesAPI, RecordedRequest

DOCUMENT_CHARS = 1_000_000
PAGES = 400
GLOSSARY_TERMS = 100
FACT = re.compile(r"FACT-\d{4}")

MAP_TEMPLATE = """\
You are analyzing part {{ index }} of {{ total }} of "{{ source }}" (pages {{ first_page }}-{{ last_page }}).

<document_part>
{{ text }}
</document_part>

{% block shared_instructions %}
Extract every key point of this part as a bullet list, in the order of the text. End every bullet
with its page citation from the [Page N] markers: "(p. N)" or "(pp. N-M)". State only what the
text says.

Write every bullet in the house style. Use the terms of this glossary exactly as defined, and
replace any synonym the text uses with the glossary term:

GLOSSARY
{{ glossary }}
{% endblock %}
"""


def glossary() -> str:
    """A made-up glossary of GLOSSARY_TERMS entries (about 6,000 tokens on the default model)."""
    lines = []
    for number in range(1, GLOSSARY_TERMS + 1):
        lines.append(
            f"- Term {number:03d}, 'service level {number}': the agreed standard of service "
            f"number {number}, measured monthly; never 'quality level' or 'grade {number}'."
        )
    return "\n".join(lines)


def write_templates(folder: Path, *, cached: bool) -> Path:
    """The glossary map template, with its shared block (cached) or without (standard)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = MAP_TEMPLATE.replace("{{ glossary }}", glossary())
    if not cached:
        text = text.replace("{% block shared_instructions %}\n", "").replace("{% endblock %}\n", "")
    (folder / "map.j2").write_text(text, encoding="utf-8")
    return folder


def write_document(path: Path) -> None:
    """About 1,000,000 characters of prose in 400 pages, one FACT marker per page."""
    sentences = [
        "The regional office reviewed its freight volumes, staffing levels and customer claims.",
        "Operating costs rose in the second quarter because of higher fuel prices and tolls.",
        "Management expects the new warehouse to reduce delivery times by about twelve percent.",
        "The audit committee met four times and found no material weakness in the controls.",
    ]
    pages = []
    for number in range(1, PAGES + 1):
        body = f"FACT-{number:04d} is the reference of page {number}. "
        index = number
        while len(body) < DOCUMENT_CHARS // PAGES:
            body += sentences[index % len(sentences)] + " "
            index += 1
        pages.append(body.strip())
    path.write_text("\f".join(pages), encoding="utf-8")


def respond(request: RecordedRequest) -> str:
    """A stand-in for Claude: a dozen bullets per map reply, the facts kept when merging."""
    facts = list(dict.fromkeys(FACT.findall(request.prompt)))
    if "<document_part>" in request.prompt:
        point = "service level 12 was reviewed against freight volumes and costs (p. {})"
        bullets = [f"- {fact}: " + point.format(fact[-4:].lstrip("0")) for fact in facts]
        while len(bullets) < 12:
            bullets.append("- " + point.format(1))
        return "\n".join(bullets)
    return "\n".join(f"- {fact}: reviewed (p. {fact[-4:].lstrip('0')})" for fact in facts)


@dataclass(frozen=True)
class ServerCache:
    """The prompt cache as the fake server recorded it: requests that carried ``cache_control``,
    requests that wrote or read the cache, and the tokens written and read."""

    marked: int = 0
    writes: int = 0
    reads: int = 0
    written: int = 0
    read: int = 0

    @classmethod
    def of(cls, requests: list[RecordedRequest]) -> ServerCache:
        answered = [request for request in requests if request.status == 200]
        return cls(
            marked=sum(1 for request in answered if marked_for_caching(request)),
            writes=sum(1 for request in answered if request.cache_creation_input_tokens),
            reads=sum(1 for request in answered if request.cache_read_input_tokens),
            written=sum(request.cache_creation_input_tokens for request in answered),
            read=sum(request.cache_read_input_tokens for request in answered),
        )

    def describe(self) -> str:
        return (
            f"{self.marked} request(s) sent cache_control; the server recorded {self.writes} "
            f"cache write(s) ({self.written:,} tokens) and {self.reads} read(s) "
            f"({self.read:,} tokens)"
        )


def marked_for_caching(request: RecordedRequest) -> bool:
    system = request.body.get("system")
    return isinstance(system, list) and any("cache_control" in block for block in system)


@dataclass(frozen=True)
class Priced:
    """One way of running the analysis: its usage, cost, and how it was obtained."""

    name: str
    usage: Usage
    cost: float
    note: str
    cache: ServerCache = ServerCache()


def analyze(document: Path, prompts: Path, **options: object) -> tuple[Report, ServerCache]:
    """A run against the fake server, and the prompt cache as the server recorded it."""
    with FakeMessagesAPI(context_window=1_000_000, responder=respond, model_rules=True) as server:
        os.environ["ANTHROPIC_API_KEY"] = "benchmark-key"
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        report = docanalyze.analyze(
            str(document), backend="anthropic", prompts_dir=prompts, cache="off", **options
        )
        return report, ServerCache.of(server.requests)


def batch_run(document: Path, standard: Priced, prompts: Path, prices: PriceTable) -> Priced:
    """The batch price: a real ``--batch`` run if it works here, else standard x discount."""
    try:
        report, cache = analyze(document, prompts, batch=True, batch_poll_seconds=0.05)
    except Exception as error:  # noqa: BLE001 - any failure: fall back to the computed price
        cost = standard.cost * BATCH_DISCOUNT
        note = f"computed: standard usage x {BATCH_DISCOUNT} (--batch failed: {error})"
        return Priced("batch", standard.usage, cost, note, standard.cache)
    cost = report.cost if report.cost is not None else 0.0
    note = "measured: a --batch run, priced by docanalyze"
    return Priced("batch", report.usage, cost, note, cache)


def show(rows: list[Priced], standard: Priced) -> None:
    header = (
        f"{'mode':<15}{'requests':>9}{'input':>12}{'cache write':>13}{'cache read':>12}"
        f"{'output':>10}{'cost':>10}{'saved':>16}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        usage = row.usage
        saved = standard.cost - row.cost
        share = f"{format_usd(saved)} ({saved / standard.cost:.0%})" if row is not standard else ""
        print(
            f"{row.name:<15}{usage.requests:>9,}{usage.input_tokens:>12,}"
            f"{row.cache.written:>13,}{row.cache.read:>12,}"
            f"{usage.output_tokens:>10,}{format_usd(row.cost):>10}{share:>16}"
        )
    print()
    for row in rows:
        print(f"{row.name}: {row.note}; {row.cache.describe()}")
        usage = row.usage
        if (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) != (
            row.cache.written,
            row.cache.read,
        ):
            print(
                f"  (the run's own usage differs: {usage.cache_creation_input_tokens:,} written, "
                f"{usage.cache_read_input_tokens:,} read)"
            )


def main() -> None:
    prices = PriceTable.from_catalog()
    model_prices = prices.get(DEFAULT_MODEL)
    assert model_prices is not None
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["DOCANALYZE_HOME"] = str(root / "home")
        document = root / "document.txt"
        write_document(document)
        characters = len(document.read_text(encoding="utf-8"))
        standard_prompts = write_templates(root / "standard", cached=False)
        cached_prompts = write_templates(root / "cached", cached=True)

        plain, plain_cache = analyze(document, standard_prompts)
        standard = Priced(
            "standard", plain.usage, plain.cost or 0.0, "measured, uncached", plain_cache
        )
        batch = batch_run(document, standard, standard_prompts, prices)
        caching, server_cache = analyze(document, cached_prompts)
        cached = Priced(
            "prompt caching",
            caching.usage,
            caching.cost or 0.0,
            f"measured; the run reports {format_usd(caching.cache_savings or 0.0)} saved by "
            "prompt caching (cache writes and reads against the plain input price)",
            server_cache,
        )

    print(
        f"document: {characters:,} characters in {PAGES} pages, "
        f"{len(plain.chunks)} chunks, {plain.reduce_levels} reduce level(s)"
    )
    print(
        f"model: {DEFAULT_MODEL} at ${model_prices.input:g} input, ${model_prices.output:g} "
        f"output, ${model_prices.cache_write:g} cache write, ${model_prices.cache_read:g} cache "
        f"read per million tokens (prices checked {prices.checked})"
    )
    print(
        f"map template: {GLOSSARY_TERMS}-term glossary in its shared instructions, "
        f"~{estimate_for_tokenizer(glossary(), tokenizer_ratio(DEFAULT_MODEL)):,} tokens by "
        "docanalyze's estimate for the model\n"
    )
    show([standard, batch, cached], standard)


if __name__ == "__main__":
    main()
