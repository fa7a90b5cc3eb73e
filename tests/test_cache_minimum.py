"""A block is marked for caching only when the server will cache it: the margin over each model's
minimum cacheable prefix, checked against the fake server's tokenizer and cache (with model rules,
as the API: a prefix under the model's minimum is not cached, and no error), and the README's
table of minimums checked against the catalog."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import pytest

import docanalyze
from docanalyze.models.anthropic.catalog import (
    DEFAULT_MODEL,
    KNOWN_MODELS,
    min_cache_tokens,
    tokenizer_ratio,
)
from docanalyze.prompting.cache import cache_threshold, shared_instructions, worth_caching
from docanalyze.prompting.templates import PromptSet
from docanalyze.text.language import resolve_language
from docanalyze.text.tokens import estimate_for_tokenizer
from fakeserver import FakeMessagesAPI, RecordedRequest
from fakeserver.policies import Exchange

LATENCY = 0.3
PART = re.compile(r"This is part (\d+) of \d+")
README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SHORT_QUESTION = "What did the depot say about staffing and customer claims?"
"""With it, the default map template's shared instructions are estimated over the default
model's 512-token minimum, and counted under it by the server."""
LONG_QUESTION = " ".join(
    ["What did the depot say about staffing, freight volumes and customer claims in each region?"]
    * 5
)


def document_text(pages: int = 8) -> str:
    filler = "The depot reviewed freight volumes, staffing and customer claims this quarter. "
    return "\f".join(f"FACT-{n:04d} is on page {n}. " + filler * 18 for n in range(1, pages + 1))


@dataclass
class Arrivals:
    """A fake-server policy noting when each map request arrived."""

    seen: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, exchange: Exchange) -> None:
        messages = exchange.body.get("messages") or [{}]
        if PART.search(str(messages[-1].get("content", ""))):
            with self._lock:
                self.seen.append(time.monotonic())


def marked(request: RecordedRequest) -> bool:
    system = request.body.get("system")
    return isinstance(system, list) and any("cache_control" in block for block in system)


def run_question(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    question: str,
) -> tuple[FakeMessagesAPI, Arrivals]:
    arrivals = Arrivals()
    server = make_fake_api(
        latency=LATENCY, model_rules=True, policies=[arrivals], responder=lambda _: "- noted (p. 1)"
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    docanalyze.analyze(
        document_text(), backend="anthropic", chunk_size=1500, cache="off", question=question
    )
    return server, arrivals


def test_a_question_whose_instructions_the_server_would_not_cache_marks_and_holds_nothing(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, arrivals = run_question(make_fake_api, monkeypatch, SHORT_QUESTION)

    answered = [request for request in server.requests if request.status == 200]
    assert len(arrivals.seen) >= 4
    assert not any(marked(request) for request in answered), "no cache_control is sent"
    assert not any(r.cache_creation_input_tokens or r.cache_read_input_tokens for r in answered)
    assert max(arrivals.seen) - min(arrivals.seen) < LATENCY * 0.9, "map requests went together"


def test_every_block_marked_on_the_default_model_is_written_or_read_by_the_server(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, arrivals = run_question(make_fake_api, monkeypatch, LONG_QUESTION)

    cached = [request for request in server.requests if marked(request)]
    assert len(cached) == len(arrivals.seen) >= 4
    writes = [request for request in cached if request.cache_creation_input_tokens]
    assert len(writes) == 1
    assert all(r.cache_creation_input_tokens or r.cache_read_input_tokens for r in cached)


# --- the margin, swept across block sizes and models ----------------------------------------------

SWEEP_MODELS = ("claude-sonnet-5-5", "claude-sonnet-5", "claude-opus-4-7", "claude-haiku-4-5")


def map_instructions(model: str, words: int) -> tuple[str, bool, int]:
    """The default map template's shared instructions with a question of ``words`` words: the
    text, whether docanalyze marks it for ``model``, and its estimate."""
    vocabulary = [
        "staffing",
        "freight",
        "volumes",
        "customer",
        "claims",
        "depot",
        "quarter",
        "region",
        "board",
    ]
    question = " ".join(vocabulary[n % len(vocabulary)] for n in range(words)) + "?"
    language = resolve_language("en", "")
    values = {"question": question, "language": language.code, "language_name": language.name}
    ratio = tokenizer_ratio(model)
    found = shared_instructions(
        PromptSet.load(None), values, lambda _: model, lambda t: estimate_for_tokenizer(t, ratio)
    )["map"]
    return found.text, found.cached, found.tokens


def sizes_around_the_minimum(model: str) -> Iterator[int]:
    """Question lengths (in words) whose instructions are estimated from under the model's
    minimum to 1.5 times it."""
    minimum = min_cache_tokens(model)
    longest = 1
    while map_instructions(model, longest)[2] < minimum * 1.5:
        longest *= 2
    step = max(1, longest // 40)
    for words in range(0, longest + 1, step):
        if map_instructions(model, words)[2] >= minimum * 0.9:
            yield words


@pytest.mark.parametrize("model", SWEEP_MODELS)
def test_a_block_is_marked_only_when_the_server_caches_it(
    model: str, make_fake_api: Callable[..., FakeMessagesAPI]
) -> None:
    server = make_fake_api(model_rules=True)
    client = anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0)
    minimum = min_cache_tokens(model)
    outcomes: list[tuple[int, bool, bool]] = []
    for words in sizes_around_the_minimum(model):
        server.prompt_cache.clear()
        text, is_marked, estimate = map_instructions(model, words)
        reply = client.messages.create(
            model=model,
            max_tokens=2000,
            system=[{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "This is part 1 of 9: " + document_text(1)}],
        )
        outcomes.append((estimate, is_marked, bool(reply.usage.cache_creation_input_tokens)))
    not_cached = [
        estimate for estimate, is_marked, written in outcomes if is_marked and not written
    ]
    assert not not_cached, f"{model}: marked but not cached at estimates {not_cached}"
    assert any(is_marked for _, is_marked, _ in outcomes)
    assert any(estimate >= minimum and not is_marked for estimate, is_marked, _ in outcomes)


def test_the_margin_is_one_rule() -> None:
    assert cache_threshold(512) == 640 and cache_threshold(4096) == 5120
    assert not worth_caching(639, 512) and worth_caching(640, 512)


# --- the README's minimums are the catalog's ------------------------------------------------------


def readme_minimums() -> list[tuple[int, int, str]]:
    """The rows of the README's table of minimums: minimum, marked from, and the models."""
    section = README[README.index("## Prompt caching") :]
    table = section[section.index("| minimum cacheable prefix |") :].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        minimum, threshold, models = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((int(minimum.replace(",", "")), int(threshold.replace(",", "")), models))
    return rows


def test_the_readme_states_each_models_minimum_from_the_catalog() -> None:
    rows = readme_minimums()
    listed: list[str] = []
    for minimum, threshold, models in rows:
        assert threshold == cache_threshold(minimum)
        for name in re.findall(r"`(claude-[a-z0-9-]+)`", models):
            assert min_cache_tokens(name) == minimum, f"README: {name} at {minimum}"
            listed.append(name)
        if "any other model" in models:
            assert min_cache_tokens("claude-unknown-9") == minimum
        if "any other Haiku model" in models:
            assert min_cache_tokens("claude-haiku-9") == minimum
    names = {info.name for info in KNOWN_MODELS.values()}
    assert sorted(listed) == sorted(names), "every catalog model, once"
    assert any("any other model" in models for *_, models in rows)
    assert any("any other Haiku model" in models for *_, models in rows)
    assert f"`{DEFAULT_MODEL}`" in README
