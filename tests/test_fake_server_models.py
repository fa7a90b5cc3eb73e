"""The fake server with ``model_rules=True`` behaves as the published docs say today's models do.

Everything here goes through the real ``anthropic`` SDK over HTTP; nothing uses docanalyze's
client, so these tests check the server against the docs, not against what docanalyze sends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from docanalyze.models.anthropic.catalog import KNOWN_MODELS
from fakeserver import TODAYS_MODELS, FakeMessagesAPI, FakeModel, count_tokens

MakeFakeApi = Callable[..., FakeMessagesAPI]
PROSE = (
    "The supplier shall deliver the pumps by 1 March 2025 and keep spare seals in stock for "
    "five years. The buyer pays within thirty days of each delivery. "
) * 20


def client(api: FakeMessagesAPI) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=api.base_url, max_retries=0)


def ask(api: FakeMessagesAPI, model: str = "claude-sonnet-5-5", **params: Any) -> Any:
    settings: dict[str, Any] = {
        "model": model,
        "max_tokens": 4000,
        "messages": [{"role": "user", "content": PROSE}],
    }
    settings.update(params)
    # This SDK has no sampling parameters: they travel in the body as they are.
    sampling = {name: settings.pop(name) for name in ("temperature", "top_p") if name in settings}
    return client(api).messages.create(**settings, extra_body=sampling or None)


@pytest.fixture
def api(make_fake_api: MakeFakeApi) -> FakeMessagesAPI:
    return make_fake_api(model_rules=True)


def test_a_request_without_thinking_thinks_first_inside_max_tokens(api: FakeMessagesAPI) -> None:
    message = ask(api)
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == ""  # display "omitted" by default
    assert message.content[0].signature
    thinking = message.usage.output_tokens_details.thinking_tokens
    assert thinking > 0
    text_tokens = math.ceil(count_tokens(message.content[1].text) * 1.3)
    assert message.usage.output_tokens == thinking + text_tokens
    assert message.stop_reason == "end_turn"


def test_effort_changes_how_much_the_model_thinks(api: FakeMessagesAPI) -> None:
    low = ask(api, output_config={"effort": "low"})
    high = ask(api, output_config={"effort": "high"})
    maximum = ask(api, model="claude-opus-5-5", output_config={"effort": "max"})
    details = [m.usage.output_tokens_details.thinking_tokens for m in (low, high, maximum)]
    assert details[0] < details[1] < details[2]


def test_thinking_can_be_cut_by_max_tokens_before_any_text(api: FakeMessagesAPI) -> None:
    message = ask(api, max_tokens=300)
    assert message.stop_reason == "max_tokens"
    assert message.content[-1].text == ""
    assert message.usage.output_tokens == message.usage.output_tokens_details.thinking_tokens == 300


def test_thinking_off_where_each_model_allows_it(api: FakeMessagesAPI) -> None:
    between = ask(api, thinking={"type": "between_tools"})
    assert [block.type for block in between.content] == ["text"]
    assert between.usage.output_tokens_details.thinking_tokens == 0
    disabled = ask(api, model="claude-sonnet-5", thinking={"type": "disabled"})
    assert disabled.usage.output_tokens_details.thinking_tokens == 0
    older = ask(api, model="claude-opus-4-8")  # thinks only when asked
    assert older.usage.output_tokens_details.thinking_tokens == 0


@pytest.mark.parametrize(
    ("model", "params", "words"),
    [
        ("claude-sonnet-5-5", {"thinking": {"type": "disabled"}}, "between_tools"),
        ("claude-opus-5-5", {"thinking": {"type": "disabled"}}, "thinking.type.adaptive"),
        ("claude-fable-5-2", {"thinking": {"type": "disabled"}}, "output_config.effort"),
        (
            "claude-opus-5-5",
            {"thinking": {"type": "enabled", "budget_tokens": 2000}},
            "thinking.type.enabled",
        ),
        (
            "claude-sonnet-5-5",
            {"thinking": {"type": "between_tools"}, "output_config": {"effort": "xhigh"}},
            "effort",
        ),
        (
            "claude-opus-5",
            {"thinking": {"type": "disabled"}, "output_config": {"effort": "max"}},
            "max",
        ),
        ("claude-haiku-4-5", {"output_config": {"effort": "low"}}, "not supported"),
        ("claude-sonnet-5-5", {"temperature": 0.2}, "temperature"),
        ("claude-sonnet-5", {"top_p": 0.9}, "top_p"),
        ("claude-opus-4-8", {"temperature": 0.2}, "temperature"),
        ("claude-opus-4-7", {"top_p": 0.5}, "top_p"),
        (
            "claude-sonnet-4-6",
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "{"},
                ]
            },
            "prefill",
        ),
        (
            "claude-sonnet-5-5",
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "{"},
                ]
            },
            "prefill",
        ),
        (
            "claude-opus-5-5",
            {
                "tools": [{"name": "t", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"},
            },
            "tool_choice",
        ),
    ],
    ids=[
        "disabled-sonnet-5-5",
        "disabled-opus-5-5",
        "disabled-fable",
        "budget-tokens-5x",
        "between-tools-xhigh",
        "disabled-opus-5-at-max",
        "effort-on-haiku-4-5",
        "temperature",
        "top-p",
        "temperature-opus-4-8",
        "top-p-opus-4-7",
        "prefill-sonnet-4-6",
        "prefill",
        "forced-tool-choice",
    ],
)
def test_what_todays_models_reject_is_a_400_with_the_apis_message(
    api: FakeMessagesAPI, model: str, params: dict[str, Any], words: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(api, model=model, **params)
    assert words in caught.value.message


def test_older_models_still_accept_sampling_parameters(api: FakeMessagesAPI) -> None:
    message = ask(api, model="claude-sonnet-4-6", temperature=0.2)
    assert message.stop_reason == "end_turn"
    prefilled = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{"}]
    assert ask(api, model="claude-haiku-4-5", messages=prefilled).stop_reason == "end_turn"


def test_a_forced_tool_choice_is_a_400_from_the_5_5_models_on_only(api: FakeMessagesAPI) -> None:
    forced: dict[str, Any] = {
        "tools": [{"name": "t", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "t"},
    }
    assert ask(api, model="claude-sonnet-5", **forced).stop_reason == "end_turn"
    with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
        ask(api, model="claude-sonnet-5-5", **forced)


def test_unknown_and_retired_models_are_404_and_the_models_api_knows_the_lifecycle(
    api: FakeMessagesAPI,
) -> None:
    with pytest.raises(anthropic.NotFoundError):
        ask(api, model="claude-nope-9")
    with pytest.raises(anthropic.NotFoundError):
        ask(api, model="claude-sonnet-4-5")
    sdk = client(api)
    retired = sdk.models.retrieve("claude-sonnet-4-5")
    assert retired.lifecycle == "retired" and retired.retires_at is not None
    deprecated = sdk.models.retrieve("claude-opus-4-5")
    assert deprecated.lifecycle == "deprecated"
    assert str(deprecated.retires_at)[:10] == "2027-01-22"
    current = sdk.models.retrieve("claude-sonnet-5-5")
    assert current.lifecycle == "active" and current.max_input_tokens == 1_000_000
    assert current.capabilities is not None
    types = current.capabilities.thinking.types
    assert types.adaptive.supported and types.between_tools.supported
    assert not types.disabled.supported and not types.enabled.supported
    assert (
        current.capabilities.effort.xhigh is not None
        and current.capabilities.effort.xhigh.supported
    )
    with pytest.raises(anthropic.NotFoundError):
        sdk.models.retrieve("claude-nope-9")
    listed = [model.id for model in sdk.models.list()]
    assert "claude-fable-5-2" in listed and "claude-haiku-5-5" in listed
    assert "claude-opus-4-5" in listed, "a deprecated model is listed"
    assert "claude-sonnet-4-5" not in listed, "a retired one only when asked for"
    retired_only = [model.id for model in sdk.models.list(lifecycle=["retired"])]
    assert retired_only == ["claude-sonnet-4-5"]
    assert api.model_lookups == [
        "claude-sonnet-4-5",
        "claude-opus-4-5",
        "claude-sonnet-5-5",
        "claude-nope-9",
    ]


def test_a_model_newer_than_the_table_can_be_added(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(
        model_rules=True,
        models=[FakeModel("claude-nova-6", "Nova", "opus", context_window=3_000_000)],
    )
    assert client(api).models.retrieve("claude-nova-6").max_input_tokens == 3_000_000
    assert ask(api, model="claude-nova-6").stop_reason == "end_turn"


def test_a_scripted_refusal_carries_its_stop_details(api: FakeMessagesAPI) -> None:
    details = {"type": "refusal", "category": "cyber", "explanation": "exploit development"}
    api.enqueue("I can't help with", stop_reason="refusal", stop_details=details)
    message = ask(api)
    assert message.stop_reason == "refusal"
    assert message.stop_details is not None and message.stop_details.category == "cyber"
    api.enqueue("Partly", stop_reason="refusal", stop_details=details)
    with client(api).messages.stream(
        model="claude-sonnet-5-5", max_tokens=4000, messages=[{"role": "user", "content": PROSE}]
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == "refusal" and streamed.stop_details is not None
    assert streamed.stop_details.explanation == "exploit development"
    assert streamed.usage.output_tokens_details is not None


def test_a_reply_that_reaches_the_window_stops_with_model_context_window_exceeded(
    make_fake_api: MakeFakeApi,
) -> None:
    small = FakeModel(
        "claude-tiny-5", "Tiny", "haiku", context_window=1_500, thinks_by_default=False
    )
    api = make_fake_api(model_rules=True, models=[small])
    message = ask(api, model="claude-tiny-5", max_tokens=1_400)  # the prompt leaves less room
    assert message.stop_reason == "model_context_window_exceeded"
    assert message.usage.input_tokens + message.usage.output_tokens <= 1_500
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        ask(api, model="claude-tiny-5", messages=[{"role": "user", "content": PROSE * 3}])


def test_each_model_counts_with_its_own_tokenizer(api: FakeMessagesAPI) -> None:
    sdk = client(api)
    messages: Any = [{"role": "user", "content": PROSE}]
    base = count_tokens(PROSE) + 4 + 3
    new = sdk.messages.count_tokens(model="claude-sonnet-5-5", messages=messages).input_tokens
    old = sdk.messages.count_tokens(model="claude-haiku-4-5", messages=messages).input_tokens
    assert old == base and new == math.ceil(base * 1.3)
    assert ask(api).usage.input_tokens == new


def test_the_cache_minimum_is_the_models_own(api: FakeMessagesAPI) -> None:
    system = [{"type": "text", "text": "Rules: " + "keep every figure and date. " * 70,
               "cache_control": {"type": "ephemeral"}}]  # fmt: skip
    tokens = math.ceil(count_tokens(system[0]["text"]) * 1.3)
    assert 512 < tokens < 1024
    on_5_5 = ask(api, system=system, thinking={"type": "between_tools"})
    on_5 = ask(api, model="claude-sonnet-5", system=system, thinking={"type": "disabled"})
    assert on_5_5.usage.cache_creation_input_tokens > 0  # 512 on the 5.5 models
    assert on_5.usage.cache_creation_input_tokens == 0  # 1,024 on Sonnet 5


@pytest.mark.parametrize("name", sorted({info.name for info in KNOWN_MODELS.values()}))
def test_the_fake_servers_table_and_docanalyzes_catalog_agree(name: str) -> None:
    # Two transcriptions of the same published pages, made apart: where they differ, one of
    # them misread the docs.
    served, known = TODAYS_MODELS[name], KNOWN_MODELS[name]
    rules = known.capabilities
    assert (served.context_window, served.max_tokens) == (
        known.context_window,
        known.max_output_tokens,
    )
    assert served.tokenizer_ratio == known.tokenizer_ratio
    assert served.min_cache_tokens == known.min_cache_tokens
    assert served.thinking_types == rules.thinking_types
    assert served.thinks_by_default == rules.thinks_by_default
    assert served.rejects_sampling == rules.rejects_sampling
    assert served.lifecycle == known.lifecycle
    if rules.efforts:
        assert served.efforts == rules.efforts and served.default_effort == rules.default_effort
    if rules.thinks_by_default and rules.off_type is not None:
        assert served.off_efforts == rules.off_efforts
