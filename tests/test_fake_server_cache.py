"""Prompt-cache accounting on the fake server, driven through the real anthropic SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from fakeserver import FakeMessagesAPI, RateLimits, count_tokens
from fakeserver.prompt_cache import PromptCache

MakeFakeApi = Callable[..., FakeMessagesAPI]
MODEL = "claude-sonnet-5-5"
REQUEST_OVERHEAD = 3  # tokens the server adds per request (see recording.count_request_tokens)
MESSAGE_OVERHEAD = 4  # ... and per message
INSTRUCTIONS = " ".join(f"Rule {i}: cite the page of every claim you make." for i in range(12))


def sdk_client(api: FakeMessagesAPI) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=api.base_url, api_key="test-key", max_retries=0)


def cached_system(text: str = INSTRUCTIONS, **cache_control: Any) -> list[Any]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", **cache_control}}]


def ask(
    client: anthropic.Anthropic, question: str, system: Any = None, model: str = MODEL
) -> anthropic.types.Usage:
    extra = {"system": system if system is not None else cached_system()}
    message = client.messages.create(
        model=model,
        max_tokens=50,
        messages=[{"role": "user", "content": question}],
        **extra,
    )
    return message.usage


def total_input(client: anthropic.Anthropic, question: str, system: Any) -> int:
    counted = client.messages.count_tokens(
        model=MODEL, system=system, messages=[{"role": "user", "content": question}]
    )
    return counted.input_tokens


def test_a_cached_system_prompt_is_written_once_then_read(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(min_cache_tokens=50)
    client = sdk_client(api)
    prefix = api.count_tokens(INSTRUCTIONS) + REQUEST_OVERHEAD
    assert prefix >= 50

    first = ask(client, "What does chunk one say?")
    second = ask(client, "And chunk two?")

    assert first.cache_creation_input_tokens == prefix and first.cache_read_input_tokens == 0
    assert second.cache_read_input_tokens == prefix and second.cache_creation_input_tokens == 0
    total = total_input(client, "And chunk two?", cached_system())
    assert second.input_tokens == total - prefix, "input_tokens counts only what follows"
    assert total == api.token_counts[-1].input_tokens, "count_tokens ignores the cache"
    recorded = [r for r in api.requests if r.path == "/v1/messages"]
    assert [r.cache_creation_input_tokens for r in recorded] == [prefix, 0]
    assert [r.cache_read_input_tokens for r in recorded] == [0, prefix]
    stats = api.stats()
    assert (stats.cache_writes, stats.cache_reads) == (1, 1)
    assert (stats.cache_write_tokens, stats.cache_read_tokens) == (prefix, prefix)


def test_a_prefix_under_the_minimum_is_not_cached(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api()  # without model rules, the server's own minimum: 1024 by default
    client = sdk_client(api)

    usages = [ask(client, "Question?") for _ in range(2)]

    total = total_input(client, "Question?", cached_system())
    for usage in usages:
        assert usage.input_tokens == total
        assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0


def test_with_model_rules_the_models_minimum_applies_and_every_record_agrees(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(model_rules=True)  # claude-sonnet-5-5: 512 tokens, counted 1.3x
    client = sdk_client(api)
    just_over = " ".join(f"Rule {i}: cite pages." for i in range(57))
    just_under = " ".join(f"Rule {i}: cite pages." for i in range(54))

    over = [ask(client, "Question?", cached_system(just_over)) for _ in range(2)]
    under = ask(client, "Question?", cached_system(just_under))

    written, read = over[0].cache_creation_input_tokens, over[1].cache_read_input_tokens
    assert 512 <= written == read < 560
    assert under.cache_creation_input_tokens == under.cache_read_input_tokens == 0
    recorded = [r for r in api.requests if r.path == "/v1/messages"]
    assert [r.cache_creation_input_tokens for r in recorded] == [written, 0, 0]
    assert [r.cache_read_input_tokens for r in recorded] == [0, read, 0]
    stats = api.stats()
    assert (stats.cache_write_tokens, stats.cache_read_tokens) == (written, read)


def test_another_model_or_prefix_text_writes_a_new_entry(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(min_cache_tokens=50)
    client = sdk_client(api)

    ask(client, "q")
    other_model = ask(client, "q", model="claude-opus-5-5")
    other_text = ask(client, "q", system=cached_system(INSTRUCTIONS + " Be brief."))
    same_again = ask(client, "q")

    assert other_model.cache_creation_input_tokens > 0 and other_model.cache_read_input_tokens == 0
    assert other_text.cache_creation_input_tokens > 0 and other_text.cache_read_input_tokens == 0
    assert same_again.cache_read_input_tokens > 0


def test_an_entry_expires_after_the_ttl_unless_it_is_read(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(min_cache_tokens=50, cache_ttl=0.4)
    client = sdk_client(api)

    ask(client, "q")
    reads = []
    for _ in range(3):  # 0.75 s in all, but each read refreshes the entry
        time.sleep(0.25)
        reads.append(ask(client, "q").cache_read_input_tokens)
    time.sleep(0.5)
    expired = ask(client, "q")

    assert all(read > 0 for read in reads)
    assert expired.cache_read_input_tokens == 0 and expired.cache_creation_input_tokens > 0


def test_requests_sent_before_the_writer_replies_all_write(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(min_cache_tokens=50, latency=0.3)
    client = sdk_client(api)
    usages: list[anthropic.types.Usage] = []

    def send() -> None:
        usages.append(ask(client, "q"))

    concurrent = [threading.Thread(target=send) for _ in range(2)]
    for thread in concurrent:
        thread.start()
        time.sleep(0.05)  # both arrive before the first one starts replying (at 0.3 s)
    for thread in concurrent:
        thread.join()
    after = ask(client, "q")

    assert [u.cache_creation_input_tokens > 0 for u in usages] == [True, True]
    assert all(u.cache_read_input_tokens == 0 for u in usages)
    assert after.cache_read_input_tokens > 0 and after.cache_creation_input_tokens == 0


def test_breakpoints_in_messages_read_the_longest_cached_prefix(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(min_cache_tokens=50)
    client = sdk_client(api)
    document = "The contract runs until 2031 and renews each year unless cancelled. " * 5

    def ask_about(question: str) -> anthropic.types.Usage:
        content: list[Any] = [
            {"type": "text", "text": document, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": question},
        ]
        return client.messages.create(
            model=MODEL,
            max_tokens=20,
            system=cached_system(),
            messages=[{"role": "user", "content": content}],
        ).usage

    ask(client, "warm the system prompt")
    first = ask_about("When does it end?")
    second = ask_about("Does it renew?")

    system_prefix = api.count_tokens(INSTRUCTIONS) + REQUEST_OVERHEAD
    document_tokens = MESSAGE_OVERHEAD + api.count_tokens(document)
    assert first.cache_read_input_tokens == system_prefix
    assert first.cache_creation_input_tokens == document_tokens
    assert second.cache_read_input_tokens == system_prefix + document_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens == api.count_tokens("Does it renew?")


def test_a_streamed_reply_reports_the_cache_in_message_start(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(min_cache_tokens=50)
    client = sdk_client(api)
    ask(client, "q")

    events = list(
        client.messages.create(
            model=MODEL,
            max_tokens=50,
            system=cached_system(),
            messages=[{"role": "user", "content": "q"}],
            stream=True,
        )
    )

    start = events[0]
    assert start.type == "message_start"
    prefix = api.count_tokens(INSTRUCTIONS) + REQUEST_OVERHEAD
    assert start.message.usage.cache_read_input_tokens == prefix
    assert start.message.usage.cache_creation_input_tokens == 0


def test_batches_read_and_write_the_same_cache(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(min_cache_tokens=50, batch_latency=0.05)
    client = sdk_client(api)
    request_params = {
        "model": MODEL,
        "max_tokens": 20,
        "system": cached_system(),
        "messages": [{"role": "user", "content": "q"}],
    }
    requests: Any = [{"custom_id": f"r{i}", "params": request_params} for i in range(3)]

    batch = client.messages.batches.create(requests=requests)
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        time.sleep(0.02)
    usages = {}
    for line in client.messages.batches.results(batch.id):
        assert line.result.type == "succeeded"
        usages[line.custom_id] = line.result.message.usage
    direct = ask(client, "q")

    prefix = api.count_tokens(INSTRUCTIONS) + REQUEST_OVERHEAD
    assert usages["r0"].cache_creation_input_tokens == prefix
    assert usages["r1"].cache_read_input_tokens == usages["r2"].cache_read_input_tokens == prefix
    assert direct.cache_read_input_tokens == prefix


@pytest.mark.parametrize(
    ("system", "message"),
    [
        ([{"type": "text", "text": "x", "cache_control": {"type": "forever"}}], "'ephemeral'"),
        (
            [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}],
            "ttl",
        ),
        (
            [
                {"type": "text", "text": str(i), "cache_control": {"type": "ephemeral"}}
                for i in range(5)
            ],
            "A maximum of 4 blocks with cache_control",
        ),
    ],
)
def test_a_malformed_cache_control_is_a_400(
    make_fake_api: MakeFakeApi, system: Any, message: str
) -> None:
    api = make_fake_api()
    with pytest.raises(anthropic.BadRequestError, match=message):
        ask(sdk_client(api), "q", system=system)


def test_cache_reads_do_not_count_against_the_input_token_rate_limit(
    make_fake_api: MakeFakeApi,
) -> None:
    prefix = count_tokens(INSTRUCTIONS) + REQUEST_OVERHEAD
    limit = RateLimits(input_tokens_per_minute=prefix + 40)  # room for one uncached prefix only
    api = make_fake_api(min_cache_tokens=50, rate_limits=limit)
    client = sdk_client(api)

    usages = [ask(client, "q") for _ in range(4)]

    assert usages[0].cache_creation_input_tokens > 0
    assert all(usage.cache_read_input_tokens > 0 for usage in usages[1:])
    assert api.stats().rate_limited == 0


def test_the_one_hour_ttl_outlives_the_default() -> None:
    now = [0.0]
    cache = PromptCache(ttl_seconds=10, min_tokens=1, clock=lambda: now[0])
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "q"}]}
    short = {**body, "system": cached_system("short lived")}
    long = {**body, "system": cached_system("long lived", ttl="1h")}
    cache.commit(cache.plan(short))
    cache.commit(cache.plan(long))

    now[0] = 11.0

    assert cache.plan(short).read_tokens == 0
    assert cache.plan(long).read_tokens > 0
    assert len(cache) == 1
