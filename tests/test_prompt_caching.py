"""Prompt caching: shared instructions in a cached system prompt, the fan-out held for the cache
write, cache usage and the money it saved (through the fake server and in-process fakes)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.cost import Prices, PriceTable, UsageLedger
from docanalyze.document import Document, Page, Partial
from docanalyze.errors import TemplateError
from docanalyze.ingest.chunking import split_document
from docanalyze.models.anthropic.catalog import DEFAULT_MODEL, min_cache_tokens
from docanalyze.models.anthropic.model import AnthropicModel
from docanalyze.models.base import ModelRequest, Usage
from docanalyze.prompting.budgets import plan_budgets
from docanalyze.prompting.cache import CacheWarmup
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import PromptSet
from docanalyze.report.result import Report
from docanalyze.run.map import map_prompt
from docanalyze.run.reduce import reduce_prompt
from docanalyze.text.tokens import estimate_tokens
from fakeserver import FakeMessagesAPI, RecordedRequest
from fakeserver.policies import Exchange
from fakeserver.recording import last_user_text
from tests.fakes import CLAUDE_LIKE, RecordingModel, is_map

LATENCY = 0.3
FACT = re.compile(r"FACT-\d{4}")
PART = re.compile(r"^Part (\d+) of \d+", re.MULTILINE)


def glossary(terms: int) -> str:
    """Jinja lines of a glossary: about 25 tokens a term by docanalyze's estimate."""
    return (
        f"{{% for n in range({terms}) %}}\n"
        "- TERM-{{ n }}: the defined term number {{ n }} of the style guide, always in full.\n"
        "{% endfor %}\n"
    )


def write_long_templates(folder: Path, terms: int = 120, header: str = "") -> Path:
    """A map.j2 whose shared instructions carry a long glossary (well over 1024 tokens)."""
    folder.mkdir(exist_ok=True)
    (folder / "map.j2").write_text(
        f'{header}Part {{{{ index }}}} of {{{{ total }}}} of "{{{{ source }}}}":\n\n'
        "<document_part>\n{{ text }}\n</document_part>\n"
        "{% block shared_instructions %}\n"
        'Extract the key points of this part, one bullet each, ending with "(p. N)".\n\n'
        f"Glossary:\n{glossary(terms)}"
        "{% endblock %}\n",
        encoding="utf-8",
    )
    return folder


def document_text(pages: int = 6) -> str:
    filler = "The depot reviewed freight volumes, staffing and customer claims this quarter. "
    return "\f".join(f"FACT-{n:04d} is on page {n}. " + filler * 18 for n in range(1, pages + 1))


def facts_reply(request: RecordedRequest) -> str:
    facts = dict.fromkeys(FACT.findall(request.prompt))
    return "\n".join(f"- {fact} was noted (p. 1)" for fact in facts) or "- nothing (p. 1)"


@dataclass
class Arrivals:
    """A fake-server policy noting when each request arrived, and its map part number."""

    seen: list[tuple[float, int | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, exchange: Exchange) -> None:
        part = PART.search(last_user_text(exchange.body))
        with self._lock:
            self.seen.append((time.monotonic(), int(part.group(1)) if part else None))

    def of_parts(self) -> dict[int, float]:
        return {part: when for when, part in self.seen if part is not None}


def use_server(monkeypatch: pytest.MonkeyPatch, server: FakeMessagesAPI) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)


def map_requests(server: FakeMessagesAPI) -> list[RecordedRequest]:
    return [r for r in server.requests if r.status == 200 and is_map(r)]


def expected_savings(usage: Usage, input_price: float, read_factor: float = 0.05) -> float:
    """Cache writes and reads as plain input, minus their price (1.25 times input for writes;
    reads at the model's own factor: 0.05 on Sonnet 5.5, the default model)."""
    written, read = usage.cache_creation_input_tokens, usage.cache_read_input_tokens
    return input_price * (written * (1 - 1.25) + read * (1 - read_factor)) / 1_000_000


# --- through the fake server ----------------------------------------------------------------------


def test_long_shared_instructions_are_written_once_then_read_by_the_fan_out(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arrivals = Arrivals()
    server = make_fake_api(latency=LATENCY, policies=[arrivals], responder=facts_reply)
    use_server(monkeypatch, server)
    prompts = write_long_templates(tmp_path / "prompts")

    report = docanalyze.analyze(
        document_text(), backend="anthropic", prompts_dir=prompts, chunk_size=1500, cache="off"
    )

    maps = map_requests(server)
    assert len(maps) == len(report.chunks) >= 4
    for request in maps:
        [block] = request.body["system"]
        assert block["cache_control"] == {"type": "ephemeral"}
        assert "TERM-119" in block["text"] and block["text"].startswith("Extract the key points")
        assert "FACT-" not in block["text"] and "<document_part>" not in block["text"]
        assert "TERM-" not in request.prompt and FACT.search(request.prompt)
    [writer] = [r for r in maps if r.cache_creation_input_tokens]
    readers = [r for r in maps if r is not writer]
    assert PART.search(writer.prompt).group(1) == "1"  # type: ignore[union-attr]
    assert writer.cache_read_input_tokens == 0
    assert all(r.cache_read_input_tokens == writer.cache_creation_input_tokens for r in readers)
    assert not any(r.cache_creation_input_tokens for r in readers)

    times = arrivals.of_parts()
    first = times.pop(1)
    assert len(times) == len(readers)
    assert min(times.values()) >= first + LATENCY * 0.9, "the others waited for the first reply"

    usage = report.usage_by_stage["map"]
    assert usage.cache_creation_input_tokens == writer.cache_creation_input_tokens
    assert usage.cache_read_input_tokens == sum(r.cache_read_input_tokens for r in readers)
    assert report.usage.cache_read_input_tokens == usage.cache_read_input_tokens
    input_price = PriceTable.from_catalog().get(DEFAULT_MODEL).input  # type: ignore[union-attr]
    saved = expected_savings(report.usage, input_price)
    assert saved > 0 and report.cache_savings == pytest.approx(saved)
    assert report.to_dict()["cost"]["cache_savings"] == round(saved, 6)


def test_short_default_instructions_are_not_cached_and_nothing_is_held(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    arrivals = Arrivals()
    server = make_fake_api(latency=LATENCY, policies=[arrivals], responder=facts_reply)
    use_server(monkeypatch, server)

    report = docanalyze.analyze(document_text(), backend="anthropic", chunk_size=1500, cache="off")

    assert len(map_requests(server)) >= 4
    assert all("system" not in request.body for request in server.requests)
    assert report.usage.cache_creation_input_tokens == report.usage.cache_read_input_tokens == 0
    assert report.cache_savings == 0
    map_times = [when for when, _ in arrivals.seen[: len(report.chunks)]]
    assert max(map_times) - min(map_times) < LATENCY * 0.9, "map requests went out together"


def test_the_usage_line_and_json_show_the_money_saved(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = make_fake_api(responder=facts_reply)
    use_server(monkeypatch, server)
    prompts = write_long_templates(tmp_path / "prompts")
    source = tmp_path / "doc.txt"
    source.write_text(document_text(), encoding="utf-8")

    result = CliRunner().invoke(
        cli,
        ["report", str(source), "--prompts", str(prompts), "--chunk-size", "1500"]
        + ["--format", "json", "--no-cache"],
    )

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    usage = Usage(**{k: v for k, v in data["usage"].items() if k in Usage.__dataclass_fields__})
    input_price = PriceTable.from_catalog().get(DEFAULT_MODEL).input  # type: ignore[union-attr]
    assert data["cost"]["cache_savings"] == pytest.approx(expected_savings(usage, input_price))
    line = result.stderr.strip().splitlines()[-1]
    written, read = usage.cache_creation_input_tokens, usage.cache_read_input_tokens
    assert f"({written:,} cache write, {read:,} cache read)" in line
    saved = re.search(r", \$([\d.]+) saved by prompt caching, ", line)
    assert saved and float(saved.group(1)) == pytest.approx(
        data["cost"]["cache_savings"], abs=0.005
    )


def test_the_claude_client_sends_a_cached_block_and_reads_cache_usage(
    fake_api: FakeMessagesAPI,
) -> None:
    system = "Follow the style guide. " + " ".join(f"TERM-{n} is a term." for n in range(400))
    request = ModelRequest(
        prompt="Part one.", max_tokens=50, stage="map", system=system, cache_system=True
    )

    async def run() -> tuple[Usage, Usage]:
        model = AnthropicModel(DEFAULT_MODEL, api_key="test-key", base_url=fake_api.base_url)
        try:
            written = await model.complete(request)
            read = await model.complete(request, on_text=lambda _: None)
        finally:
            await model.aclose()
        return written.usage, read.usage

    written, read = asyncio.run(run())
    first, second = fake_api.requests
    assert first.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first.stream and second.stream  # every attempt streams
    assert written.cache_creation_input_tokens == first.cache_creation_input_tokens > 1024
    assert read.cache_read_input_tokens == second.cache_read_input_tokens > 1024
    assert written.input_tokens == read.input_tokens < 20


# --- templates and the decision to cache (in-process) --------------------------------------------


def renderer_for(prompts: PromptSet, model: RecordingModel, *, cache: bool) -> PromptRenderer:
    return PromptRenderer(
        Document(
            "doc.txt", tuple(Page(n, t) for n, t in enumerate(document_text().split("\f"), 1))
        ),
        model,
        prompts,
        plan_budgets(docanalyze.Options(), model),
        question=QUESTION,
        cache_prompts=cache,
    )


QUESTION = "What was recorded?"
LONG_FOCUS = "the glossary terms " + ", ".join(f"TERM-{n}" for n in range(600))


@pytest.mark.parametrize("stage", ["map", "reduce"])
def test_default_instructions_move_unchanged_to_the_cached_system_prompt(stage: str) -> None:
    prompts = PromptSet.load(None, {"focus": LONG_FOCUS})
    model = RecordingModel(name=DEFAULT_MODEL)
    cached, whole = (
        renderer_for(prompts, model, cache=True),
        renderer_for(prompts, model, cache=False),
    )
    chunk = split_document(cached.document, chunk_size=1500)[1]
    partials = [Partial("- FACT-0001 (p. 1)", 1, 1), Partial("- FACT-0002 (p. 2)", 2, 2)]

    def render(renderer: PromptRenderer) -> tuple[str, int]:
        if stage == "map":
            rendered = map_prompt(renderer, chunk, chunk.start, chunk.end)
            return rendered.prompt, rendered.tokens
        return reduce_prompt(renderer, partials, 1, 1, 1)

    (message, tokens), (prompt, whole_tokens) = render(cached), render(whole)
    request = cached.stage_request(stage, message, 100, ())  # type: ignore[arg-type]
    assert request.cache_system and request.system
    assert "Pay particular attention to: the glossary terms TERM-0," in request.system
    assert "Rules:" in request.system and "the question" in request.system
    assert prompt.replace(request.system, "").rstrip() == message
    assert tokens == estimate_tokens(message) + estimate_tokens(request.system)
    assert abs(tokens - whole_tokens) < 5
    assert whole.stage_request(stage, prompt, 100, ()).system is None  # type: ignore[arg-type]


def test_the_final_report_is_never_cached_and_short_instructions_stay_in_the_message() -> None:
    model = RecordingModel(name=DEFAULT_MODEL)
    docanalyze.Pipeline(client=model, chunk_size=1500, variables={"focus": LONG_FOCUS}).analyze(
        document_text()
    )
    maps = [request for request in model.requests if request.stage == "map"]
    [final] = [request for request in model.requests if request.stage == "final"]
    assert all(request.cache_system for request in maps)
    assert final.system is None and not final.cache_system and LONG_FOCUS in final.prompt

    short = RecordingModel(name=DEFAULT_MODEL)
    docanalyze.Pipeline(client=short, chunk_size=1500).analyze(document_text())
    assert all(r.system is None and not r.cache_system for r in short.requests)
    assert all("Rules:" in r.prompt for r in short.requests)


def test_haiku_4_5_needs_a_longer_prefix_than_sonnet_5_5(tmp_path: Path) -> None:
    # The published minimums: 512 tokens on the 5.5 models, 4,096 on Haiku and Opus 4.5/4.6.
    assert min_cache_tokens("claude-sonnet-5-5") == min_cache_tokens("claude-haiku-5-5") == 512
    assert min_cache_tokens("claude-opus-4-6") == min_cache_tokens("claude-haiku-4-5") == 4096
    assert min_cache_tokens("claude-sonnet-5") == min_cache_tokens("some-new-model") == 1024
    terms = 55  # about 1,500 tokens: over Sonnet's minimum, under Haiku's
    sonnet = PromptSet.load(write_long_templates(tmp_path / "sonnet", terms))
    haiku_header = "{#- docanalyze: model=claude-haiku-4-5 -#}\n"
    haiku = PromptSet.load(write_long_templates(tmp_path / "haiku", terms, haiku_header))
    model = RecordingModel(name=DEFAULT_MODEL)

    on_sonnet = renderer_for(sonnet, model, cache=True).shared
    on_haiku = renderer_for(haiku, model, cache=True).shared

    assert 1024 <= on_sonnet["map"].tokens < 2048
    assert "map" not in on_haiku


def test_a_shared_block_using_a_per_request_variable_is_an_error_before_any_request(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "map.j2").write_text(
        "{{ text }}\n{% block shared_instructions %}\nPart {{ index }}: extract.\n{% endblock %}\n",
        encoding="utf-8",
    )
    model = RecordingModel(name=DEFAULT_MODEL)
    with pytest.raises(TemplateError) as raised:
        docanalyze.Pipeline(client=model, prompts_dir=folder).analyze(document_text())
    message = str(raised.value)
    assert "map.j2, line 3: 'index' is undefined" in message
    assert "shared_instructions block is rendered once per run" in message
    assert model.requests == []


def test_a_template_extending_the_default_can_add_to_its_shared_instructions(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "map.j2").write_text(
        '{% extends "default/map.j2" %}\n{% block shared_instructions %}{{ super() }}\n\n'
        f"Glossary:\n{glossary(120)}{{% endblock %}}\n",
        encoding="utf-8",
    )
    model = RecordingModel(name=DEFAULT_MODEL)
    docanalyze.Pipeline(client=model, prompts_dir=folder, chunk_size=1500).analyze(document_text())
    maps = [request for request in model.requests if request.stage == "map"]
    assert maps and all(request.cache_system for request in maps)
    system = maps[0].system or ""
    assert system.startswith("Extract every key point of this part")
    assert "Rules:" in system and system.endswith(
        "TERM-119: the defined term number 119 of the style guide, always in full."
    )
    assert all("<document_part>" in r.prompt and "Rules:" not in r.prompt for r in maps)


# --- the warm-up gate and the money saved ---------------------------------------------------------


def test_the_first_request_of_a_prefix_goes_alone_and_the_others_follow_its_reply() -> None:
    async def scenario() -> list[str]:
        now = [0.0]
        warmup = CacheWarmup(ttl=300, clock=lambda: now[0])
        order: list[str] = []
        writer = await warmup.enter("m", "system A")
        other_prefix = await warmup.enter("m", "system B")
        assert writer.writer and other_prefix.writer

        async def reader(name: str) -> None:
            turn = await warmup.enter("m", "system A")
            assert not turn.writer
            order.append(name)
            turn.started()

        readers = [asyncio.create_task(reader(f"reader {n}")) for n in range(3)]
        await asyncio.sleep(0.01)
        order.append("writer started")
        writer.started()
        await asyncio.gather(*readers)
        now[0] = 301.0  # unused for longer than the cache keeps an entry
        assert (await warmup.enter("m", "system A")).writer
        return order

    order = asyncio.run(scenario())
    assert order[0] == "writer started" and len(order) == 4


def test_money_saved_is_plain_input_price_minus_the_cache_prices() -> None:
    prices = Prices.of(2.0, 10.0)
    usage = Usage(requests=10, cache_creation_input_tokens=1000, cache_read_input_tokens=9000)
    # as plain input: 10,000 x $2; paid: 1,000 x $2.50 + 9,000 x $0.20 = $4,300 per million
    assert prices.cache_savings(usage) == pytest.approx((20_000 - 4_300) / 1_000_000)
    assert prices.cache_savings(Usage(cache_creation_input_tokens=1000)) == pytest.approx(-0.0005)
    assert prices.cache_savings(Usage(input_tokens=5000)) == 0

    ledger = UsageLedger()
    ledger.add("map", DEFAULT_MODEL, usage)
    # Sonnet 5.5 reads the cache at $0.10: paid 1,000 x $2.50 + 9,000 x $0.10 = $3,400 per million
    assert ledger.cache_savings(PriceTable.from_catalog()) == pytest.approx(0.0166)
    ledger.add("map", "unpriced-model", Usage(cache_read_input_tokens=10))
    assert ledger.cache_savings(PriceTable.from_catalog()) is None
    ledger.add("map", "unpriced-but-uncached", Usage(input_tokens=10))
    report = Report("s", "t", "anthropic", DEFAULT_MODEL, 1, [], usage, 0, cache_savings=None)
    assert report.to_dict()["cost"]["cache_savings"] is None


@dataclass
class BatchingModel(RecordingModel):
    """A model that answers its requests together, like the Message Batches backend."""

    features = replace(CLAUDE_LIKE, batches=True)


@pytest.mark.parametrize(("model_class", "held"), [(RecordingModel, True), (BatchingModel, False)])
def test_a_cached_stage_holds_the_fan_out_unless_the_model_batches(
    model_class: type[RecordingModel], held: bool, tmp_path: Path
) -> None:
    model = model_class(name=DEFAULT_MODEL, delay=0.05)
    prompts = write_long_templates(tmp_path / "prompts")
    docanalyze.Pipeline(client=model, prompts_dir=prompts, chunk_size=1500).analyze(document_text())
    maps = [request for request in model.requests if request.stage == "map"]
    assert len(maps) >= 4 and all(request.cache_system for request in maps)
    # held: the first request alone, then all the others at once
    assert model.max_in_flight["map"] == len(maps) - (1 if held else 0)
