"""Citable content on the model seam: what a request with ``citable`` texts sends, and the
cited blocks its reply comes back in, directly, streamed, in a batch, from the run store and
from the offline analyzer.

Claude's side goes through the real SDK over HTTP against the fake Messages API, whose model
cites every planted ``FACT-nnnn`` sentence and writes the page its source's title names.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

import docanalyze
from docanalyze.document import Document, Page
from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.catalog import capabilities_of
from docanalyze.models.anthropic.message_parts import reply_from_message, request_params
from docanalyze.models.anthropic.model import AnthropicModel
from docanalyze.models.base import (
    CITABLE_BLOCK_TOKENS,
    CitableText,
    ModelReply,
    ModelRequest,
    ReplyBlock,
    ReplyCitation,
    Stage,
    Usage,
)
from docanalyze.models.batches.api import SdkBatchAPI
from docanalyze.models.batches.model import BatchModel
from docanalyze.models.stored import StoredModel, call_key
from docanalyze.prompting.budgets import plan_budgets
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import PromptSet
from docanalyze.store import RunStore
from docanalyze.text.tokens import estimate_tokens
from fakeserver import CitationErrors, FakeMessagesAPI
from fakeserver.tokenizer import count_tokens
from tests.fakes import CLAUDE_LIKE, RecordingModel
from tests.test_fake_server import sdk_client

MODEL = "claude-sonnet-4-5"
KEY = "test-key"
PAGE_TEXTS = {
    4: "The committee met in March. FACT-0001 the budget stands at 3.8 million dollars.\n"
    "The roof was replaced.",
    5: "Asbestos was found in the basement. FACT-0002 removal\ntakes three weeks! The reading "
    "room moves.",
    6: "FACT-0003 the plan is due by 2 April.",
}
PAGES = tuple(CitableText(text, f"Page {n}", (n,), "page") for n, text in PAGE_TEXTS.items())
POINTS = (
    CitableText(
        'FACT-0001 the budget stands at 3.8 million dollars. "the budget stands at 3.8 million"',
        "p. 4",
        (4,),
        "point",
    ),
    CitableText("FACT-0003 the plan is due by 2 April.", "pp. 6–7", (6, 7), "point"),
)
PAGE_NOTE = re.compile(r"\((?:p|pp)\. (\d+)")
T = TypeVar("T")


def request(
    stage: Stage = "map", citable: tuple[CitableText, ...] = PAGES, **kw: Any
) -> ModelRequest:
    return ModelRequest(
        prompt="List the facts, citing the pages.",
        max_tokens=600,
        stage=stage,
        citable=citable,
        **kw,
    )


def run(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coroutine())


def claude(api: FakeMessagesAPI) -> AnthropicModel:
    return AnthropicModel(MODEL, api_key=KEY, base_url=api.base_url)


def complete(model: AnthropicModel, ask: ModelRequest, **streaming: Any) -> ModelReply:
    async def go() -> ModelReply:
        try:
            return await model.complete(ask, **streaming)
        finally:
            await model.aclose()

    return run(go)


def assert_page_true(reply: ModelReply, citable: tuple[CitableText, ...]) -> None:
    """Every block is cited, its quote verbatim in its source, its page the source's."""
    assert reply.blocks and "".join(block.text for block in reply.blocks) == reply.text
    for block in reply.blocks:
        [citation] = block.citations
        source = citable[citation.source]
        assert citation.cited_text.strip() in source.text
        assert int(PAGE_NOTE.findall(block.text)[-1]) == source.pages[0]


# --- what a request sends ---------------------------------------------------------------------


def test_pages_go_as_cited_plain_text_documents_before_the_prompt() -> None:
    params = request_params(request(), MODEL, capabilities_of(MODEL))
    [message] = params["messages"]
    assert message["role"] == "user"
    assert message["content"] == [
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
            "title": f"Page {n}",
            "citations": {"enabled": True},
        }
        for n, text in PAGE_TEXTS.items()
    ] + [{"type": "text", "text": "List the facts, citing the pages."}]
    plain = request_params(request(citable=()), MODEL, capabilities_of(MODEL))
    assert plain["messages"] == [{"role": "user", "content": "List the facts, citing the pages."}]


def test_points_go_as_cited_search_results_before_the_prompt() -> None:
    params = request_params(request("reduce", POINTS), MODEL, capabilities_of(MODEL))
    content = params["messages"][0]["content"]
    assert content[:2] == [
        {
            "type": "search_result",
            "source": f"docanalyze:point/{index}",
            "title": point.title,
            "content": [{"type": "text", "text": point.text}],
            "citations": {"enabled": True},
        }
        for index, point in enumerate(POINTS)
    ]
    assert content[2] == {"type": "text", "text": "List the facts, citing the pages."}


def test_a_model_that_cannot_cite_reads_the_citable_texts_as_text() -> None:
    rules = Capabilities(citations=False)
    content = request_params(request(), MODEL, rules)["messages"][0]["content"]
    assert [block["type"] for block in content] == ["text"] * 4
    assert content[0]["text"] == f"Page 4\n{PAGE_TEXTS[4]}"


def test_a_request_holds_pages_or_points_not_both() -> None:
    with pytest.raises(ValueError, match="all pages or all points"):
        request(citable=(PAGES[0], POINTS[0]))


# --- what the reply comes back in ---------------------------------------------------------------


def test_a_cited_reply_comes_back_in_blocks_whose_citations_are_page_true(
    fake_api: FakeMessagesAPI,
) -> None:
    reply = complete(claude(fake_api), request())
    assert_page_true(reply, PAGES)
    assert len(reply.blocks) == 3
    body = fake_api.requests[-1].body
    assert [block["type"] for block in body["messages"][0]["content"]] == [
        "document",
        "document",
        "document",
        "text",
    ]


def test_points_are_cited_by_search_result(fake_api: FakeMessagesAPI) -> None:
    reply = complete(claude(fake_api), request("reduce", POINTS))
    assert [c.source for block in reply.blocks for c in block.citations] == [0, 1]
    assert reply.blocks[0].citations[0].cited_text == POINTS[0].text
    assert "(p. 6)" in reply.blocks[1].text


def test_cited_text_is_not_counted_as_output_and_the_pages_are_input(
    fake_api: FakeMessagesAPI,
) -> None:
    reply = complete(claude(fake_api), request())
    assert reply.usage.output_tokens == count_tokens(reply.text)
    quoted = "".join(c.cited_text for block in reply.blocks for c in block.citations)
    assert reply.usage.output_tokens < count_tokens(reply.text + quoted)
    without = complete(claude(fake_api), request(citable=()))
    pages = sum(count_tokens(text) for text in PAGE_TEXTS.values())
    assert reply.usage.input_tokens - without.usage.input_tokens >= pages


def test_a_streamed_reply_ends_with_the_same_blocks_as_a_plain_one(
    fake_api: FakeMessagesAPI,
) -> None:
    ask = request()
    message = sdk_client(fake_api).messages.create(
        **request_params(ask, MODEL, capabilities_of(MODEL))
    )
    plain = reply_from_message(message, 0.0, ask.citable)
    deltas: list[str] = []
    streamed = complete(claude(fake_api), ask, on_text=deltas.append)
    assert fake_api.requests[-1].stream
    assert streamed.blocks == plain.blocks
    assert "".join(deltas) == streamed.text == plain.text


def test_a_streamed_reply_hands_over_each_block_once_it_ends(fake_api: FakeMessagesAPI) -> None:
    received: list[tuple[str, object]] = []
    streamed = complete(
        claude(fake_api),
        request(),
        on_text=lambda delta: received.append(("text", delta)),
        on_block=lambda block: received.append(("block", block)),
    )
    blocks = [item for kind, item in received if kind == "block"]
    assert tuple(blocks) == streamed.blocks and any(block.citations for block in streamed.blocks)
    text_before = ""
    for kind, item in received:  # each block comes once its whole text has come
        if kind == "text":
            text_before += str(item)
        else:
            assert isinstance(item, ReplyBlock) and text_before.endswith(item.text)
            text_before = ""


def test_a_batch_reply_keeps_its_blocks(
    make_fake_api: Callable[..., FakeMessagesAPI], tmp_path: Path
) -> None:
    api = make_fake_api(batch_latency=0.0)
    direct = complete(claude(api), request())

    async def batched() -> ModelReply:
        model = BatchModel(
            claude(api),
            SdkBatchAPI(api_key=KEY, base_url=api.base_url),
            store_path=tmp_path / "store.sqlite3",
            poll_seconds=0.01,
            gather_seconds=0.01,
        )
        try:
            return await model.complete(request())
        finally:
            await model.aclose()

    reply = run(batched)
    assert api.requests[-1].custom_id is not None
    assert reply.blocks == direct.blocks
    with RunStore(tmp_path / "store.sqlite3") as store:
        stored = store.get_call(call_key(MODEL, request()))
    assert stored is not None and stored.blocks == direct.blocks


# --- the run store ------------------------------------------------------------------------------

BLOCKS = (
    ReplyBlock(
        "- FACT-0001 the budget stands at 3.8 million dollars. (p. 4)\n",
        (ReplyCitation(0, "FACT-0001 the budget stands at 3.8 million dollars. "),),
    ),
    ReplyBlock("Nothing else.", ()),
)


def cited_responder(ask: ModelRequest) -> str:
    return "".join(block.text for block in BLOCKS)


class CitingRecorder(RecordingModel):
    """A recording model that answers a request with citable text in :data:`BLOCKS`."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        reply = await super().complete(request)
        return ModelReply(
            reply.text,
            reply.stop_reason,
            reply.model,
            reply.usage,
            blocks=BLOCKS if request.citable else (),
        )


def test_a_stored_reply_comes_back_with_its_blocks(tmp_path: Path) -> None:
    inner = CitingRecorder(responder=cited_responder)
    with RunStore(tmp_path / "store.sqlite3") as store:
        first = run(lambda: StoredModel(inner, store).complete(request()))
    with RunStore(tmp_path / "store.sqlite3") as store:
        model = StoredModel(inner, store)
        again = run(lambda: model.complete(request()))
    assert model.hits == 1 and len(inner.requests) == 1
    assert again.blocks == first.blocks == BLOCKS
    assert again.usage == Usage() and again.first_usage == first.usage


def test_a_citable_request_never_reuses_a_reply_to_the_same_prompt_without(tmp_path: Path) -> None:
    inner = CitingRecorder(responder=cited_responder)
    with RunStore(tmp_path / "store.sqlite3") as store:
        run(lambda: StoredModel(inner, store).complete(request(citable=())))
        model = StoredModel(inner, store)
        cited = run(lambda: model.complete(request()))
        other_pages = run(lambda: model.complete(request(citable=PAGES[:2])))
    assert model.hits == 0 and len(inner.requests) == 3
    assert cited.blocks == BLOCKS and other_pages.blocks == BLOCKS
    assert call_key(MODEL, request(citable=())) == call_key(
        MODEL, ModelRequest(prompt="List the facts, citing the pages.", max_tokens=600, stage="map")
    )


def test_a_store_made_before_blocks_were_kept_still_answers(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with RunStore(path) as store:
        store.put_call("k", "map", ModelReply("old text", "end_turn", MODEL, Usage(1, 5, 2)), None)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE calls DROP COLUMN blocks")
    with RunStore(path) as store:
        old = store.get_call("k")
        assert old is not None and old.text == "old text" and old.blocks == ()
        store.put_call("k2", "map", ModelReply("new", "end_turn", MODEL, blocks=BLOCKS), None)
        new = store.get_call("k2")
    assert new is not None and new.as_reply().blocks == BLOCKS


# --- token estimates ----------------------------------------------------------------------------


def renderer(model: RecordingModel) -> PromptRenderer:
    document = Document("doc.txt", tuple(Page(n, text) for n, text in PAGE_TEXTS.items()))
    options = docanalyze.Options()
    return PromptRenderer(document, model, PromptSet.load(), plan_budgets(options, model))


def test_the_input_estimate_counts_the_citable_texts_a_citing_backend_is_sent() -> None:
    citing, plain = RecordingModel(), RecordingModel()
    citing.features = replace(CLAUDE_LIKE, citations=True)
    plain.features = replace(CLAUDE_LIKE, citations=False)
    bare = renderer(citing).input_estimate(request(citable=()))
    cited = renderer(citing).input_estimate(request())
    texts = sum(estimate_tokens(f"{page.title} {page.text}") for page in PAGES)
    assert cited - bare >= texts + len(PAGES) * CITABLE_BLOCK_TOKENS
    assert renderer(plain).input_estimate(request()) == bare  # its prompt carries them


def test_the_rate_limiter_is_asked_for_the_citable_texts_too(
    fake_api: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = claude(fake_api)
    asked: list[int] = []
    pacer = type(model.limiter)  # the shared limiter is joined inside the run's event loop
    acquire = pacer.acquire

    async def recording_acquire(self: Any, input_estimate: int, *args: Any) -> Any:
        asked.append(input_estimate)
        return await acquire(self, input_estimate, *args)

    monkeypatch.setattr(pacer, "acquire", recording_acquire)
    complete(model, request(citable=()))
    complete(model, request())
    pages = sum(model.estimate_tokens(page.text) for page in PAGES)
    assert asked[1] - asked[0] >= pages


def test_an_erring_model_writes_wrong_pages_and_invents_claims_our_blocks_keep_apart(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(citation_errors=CitationErrors(wrong_page_every=3, invent_every=2, seed=1))
    replies = [complete(claude(api), request()) for _ in range(4)]  # 12 paged bullets
    errors = api.citation_errors_made
    request_ids = [recorded.request_id for recorded in api.requests]
    assert sum(error.kind == "wrong_page" for error in errors) == 4
    assert sum(error.kind == "invented" for error in errors) == 2
    for error in errors:
        reply = replies[request_ids.index(error.request_id)]
        [block] = [block for block in reply.blocks if block.text == error.text]
        if error.kind == "invented":
            assert block.citations == ()
            continue
        [citation] = block.citations
        source = PAGES[citation.source]
        assert source.pages == (error.true_page,) != (error.page_written,)
        assert error.facts[0] in citation.cited_text and citation.cited_text in source.text
