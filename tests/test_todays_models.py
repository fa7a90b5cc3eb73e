"""docanalyze against a fake server that follows today's model rules (``model_rules=True``).

Thinking and effort per stage, the request rules of the 5.x family, refusals, the Models API,
the tokenizer of the default model; every run goes through the real CLI, SDK and HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.models.base import CITABLE_BLOCK_TOKENS
from docanalyze.planning.plan import plan_run
from fakeserver import (
    ApiError,
    Exchange,
    FakeMessagesAPI,
    FakeModel,
    RecordedRequest,
    ScriptedReply,
)
from tests.fakes import is_map
from tests.test_end_to_end import halving_responder, write_long_document

MakeFakeApi = Callable[..., FakeMessagesAPI]
FORBIDDEN = "FORBIDDEN-TOPIC"
REFUSAL = {"type": "refusal", "category": "cyber", "explanation": "exploit development"}


def invoke(server: FakeMessagesAPI, *args: str, key: str = "test-key") -> tuple[int, str, str]:
    env = {"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": server.base_url}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def messages(server: FakeMessagesAPI) -> list[RecordedRequest]:
    return [request for request in server.requests if request.path == "/v1/messages"]


@pytest.fixture
def rules_api(make_fake_api: MakeFakeApi) -> FakeMessagesAPI:
    return make_fake_api(model_rules=True, responder=halving_responder)


def test_the_default_run_keeps_every_fact_with_little_thinking_and_no_rule_broken(
    rules_api: FakeMessagesAPI, tmp_path: Path
) -> None:
    facts = write_long_document(tmp_path / "long.txt", pages=160, page_chars=2500)
    assert (tmp_path / "long.txt").stat().st_size >= 400_000

    code, out, err = invoke(rules_api, "report", str(tmp_path / "long.txt"), "--format", "json")

    assert code == 0, err
    result = json.loads(out)
    assert set(re.findall(r"FACT-\d+", result["report"])) == facts
    sent = messages(rules_api)
    assert all(request.status == 200 for request in sent), "the server refused a request"
    assert rules_api.stats().cut_replies <= 0.05 * len(sent)
    stages = result["usage_by_stage"]
    intermediate = [stages[name] for name in ("map", "reduce") if name in stages]
    output = sum(usage["output_tokens"] for usage in intermediate)
    thinking = sum(usage["thinking_tokens"] for usage in intermediate)
    assert thinking <= 0.10 * output
    assert stages["final"]["thinking_tokens"] > 0, "the report keeps adaptive thinking"
    assert result["usage"]["thinking_tokens"] == sum(u["thinking_tokens"] for u in stages.values())
    maps = [request for request in sent if is_map(request)]
    assert all(request.body["thinking"] == {"type": "between_tools"} for request in maps)
    # The report (here in sections, written at once) keeps adaptive thinking at medium: each
    # request has its share of --max-tokens plus medium's allowance.
    finals = [request for request in sent if request.body["thinking"] == {"type": "adaptive"}]
    assert len(finals) == result["usage_by_stage"]["final"]["requests"] > 1
    assert all(final.body["output_config"] == {"effort": "medium"} for final in finals)
    text_budgets = [final.body["max_tokens"] - 2048 for final in finals]
    assert all(budget > 0 for budget in text_budgets) and sum(text_budgets) <= 4096
    # no request ever carried prefill, a tool choice or a sampling parameter
    for request in sent:
        assert request.body["messages"][-1]["role"] == "user"
        assert not {"tool_choice", "tools", "temperature", "top_p", "top_k"} & set(request.body)
    assert "thinking)" in err  # the usage line counts thinking


def test_a_model_that_always_thinks_runs_map_and_reduce_at_its_lowest_effort(
    make_fake_api: MakeFakeApi, fixtures_dir: Path
) -> None:
    server = make_fake_api(model_rules=True, responder=halving_responder)
    code, _, err = invoke(
        server, "report", str(fixtures_dir / "sample-en.pdf"), "--model", "claude-opus-5-5",
        "--chunk-size", "1500",
    )  # fmt: skip
    assert code == 0, err
    sent = messages(server)
    maps = [request for request in sent if is_map(request)]
    assert maps and all("thinking" not in request.body for request in maps)
    assert all(request.body["output_config"] == {"effort": "low"} for request in maps)
    assert all(request.body["max_tokens"] == 2048 + 1024 for request in maps)  # low's allowance
    assert all(request.status == 200 for request in sent)


def test_thinking_and_effort_can_be_set_per_run_and_per_stage(
    rules_api: FakeMessagesAPI, fixtures_dir: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "final.j2").write_text(
        "{#- docanalyze: thinking=off -#}\nWrite the report of:\n"
        "{% for partial in partials %}{{ partial.text }}\n{% endfor %}",
        encoding="utf-8",
    )
    code, _, err = invoke(
        rules_api, "report", str(fixtures_dir / "sample-en.pdf"), "--chunk-size", "1500",
        "--thinking", "on", "--effort", "high", "--prompts", str(prompts), "--no-cache",
    )  # fmt: skip
    assert code == 0, err
    sent = messages(rules_api)
    maps = [request for request in sent if is_map(request)]
    assert all(r.body["thinking"] == {"type": "adaptive"} for r in maps)
    assert all(r.body["output_config"] == {"effort": "high"} for r in maps)
    assert all(r.body["max_tokens"] == 2048 + 4096 for r in maps)
    assert sent[-1].body["thinking"] == {"type": "between_tools"}  # the header wins
    assert sent[-1].body["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--model", "claude-opus-5-5", "--thinking", "off"), "claude-opus-5-5 always thinks"),
        (("--model", "claude-haiku-4-5", "--effort", "low"), "claude-haiku-4-5 has no effort"),
        (
            ("--thinking", "off", "--effort", "xhigh"),
            "thinking cannot be off on claude-sonnet-5-5 at effort xhigh",
        ),
        (
            ("--model", "claude-sonnet-4-6", "--effort", "xhigh"),
            "it accepts low, medium, high, max",
        ),
    ],
    ids=["always-thinks", "no-effort", "off-at-xhigh", "no-xhigh"],
)
def test_settings_a_model_does_not_accept_fail_before_any_request(
    rules_api: FakeMessagesAPI, fixtures_dir: Path, args: tuple[str, ...], words: str
) -> None:
    code, out, err = invoke(rules_api, "report", str(fixtures_dir / "sample-en.pdf"), *args)
    assert code == 2 and out == "", "options that conflict with --model are a usage error"
    assert words in err.splitlines()[0] and len(err.strip().splitlines()) == 2
    assert messages(rules_api) == []


def template_folder(tmp_path: Path, name: str, header: str, body: str) -> Path:
    """A prompts folder with one template, ``name``, whose docanalyze: header is ``header``."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / name).write_text(f"{{#- docanalyze: {header} -#}}\n{body}", encoding="utf-8")
    return prompts


@pytest.mark.parametrize("batch", [False, True], ids=["direct", "batch"])
def test_a_template_temperature_for_the_default_model_fails_before_any_request(
    rules_api: FakeMessagesAPI, fixtures_dir: Path, tmp_path: Path, batch: bool
) -> None:
    prompts = template_folder(tmp_path, "map.j2", "temperature=0.2", "Extract:\n{{ text }}")
    extra = ("--batch",) if batch else ()
    code, out, err = invoke(
        rules_api, "report", str(fixtures_dir / "sample-en.pdf"), "--prompts", str(prompts), *extra
    )
    assert code == 1 and out == ""
    line = err.strip()
    assert len(line.splitlines()) == 1
    assert "map.j2" in line and "temperature=0.2" in line and "claude-sonnet-5-5" in line
    assert "remove temperature" in line
    assert messages(rules_api) == [] and rules_api.stats().requests == 0


@pytest.mark.parametrize("model", ["claude-opus-4-8", "claude-opus-4-7"])
def test_claude_4_7_and_later_reject_a_template_temperature_too(
    rules_api: FakeMessagesAPI, fixtures_dir: Path, tmp_path: Path, model: str
) -> None:
    prompts = template_folder(tmp_path, "reduce.j2", "temperature=0", "Merge:\n{{ partials }}")
    path = str(fixtures_dir / "sample-en.pdf")
    code, _, err = invoke(rules_api, "report", path, "--prompts", str(prompts), "--model", model)
    assert code == 1
    assert f"temperature=0 is rejected by {model}" in err
    assert messages(rules_api) == []


def test_a_retired_model_fails_after_one_models_api_call_saying_so(
    rules_api: FakeMessagesAPI, fixtures_dir: Path
) -> None:
    code, out, err = invoke(
        rules_api, "report", str(fixtures_dir / "sample-en.pdf"), "--model", "claude-sonnet-4-5"
    )
    assert code == 1 and out == ""
    assert "claude-sonnet-4-5 was retired on 2026-11-30" in err
    assert "--model claude-sonnet-5-5" in err and len(err.strip().splitlines()) == 1
    assert messages(rules_api) == [] and rules_api.model_lookups == ["claude-sonnet-4-5"]


def test_a_retired_or_unknown_fallback_model_fails_before_any_request_naming_its_option(
    rules_api: FakeMessagesAPI, fixtures_dir: Path
) -> None:
    path = str(fixtures_dir / "sample-en.pdf")
    code, out, err = invoke(rules_api, "report", path, "--fallback-model", "claude-sonnet-4-5")
    assert code == 1 and out == ""
    assert "claude-sonnet-4-5 was retired on 2026-11-30" in err
    assert "choose another --fallback-model, e.g. --fallback-model claude-sonnet-5-5" in err
    code, _, err = invoke(rules_api, "report", path, "--fallback-model", "claude-nope-9")
    assert code == 1
    assert err.strip() == (
        "Error: model 'claude-nope-9' is not known to the Anthropic API (404 from the Models "
        "API: model: claude-nope-9): check --fallback-model"
    )
    assert messages(rules_api) == []


def test_a_one_letter_key_leaves_an_unknown_models_name_as_it_is(
    rules_api: FakeMessagesAPI, fixtures_dir: Path
) -> None:
    path = str(fixtures_dir / "sample.txt")
    code, out, err = invoke(rules_api, "report", path, "--model", "claude-nonexistent", key="x")
    assert code == 1 and out == ""
    assert err.strip() == (
        "Error: model 'claude-nonexistent' is not known to the Anthropic API (404 from the Models "
        "API: model: claude-nonexistent): check --model"
    )


def test_a_rejected_key_is_not_shown(make_fake_api: MakeFakeApi, fixtures_dir: Path) -> None:
    server = make_fake_api(api_key="the-key-the-server-expects-0123456789")
    key = "sk-ant-api03-" + "Zq7" * 30
    code, out, err = invoke(server, "report", str(fixtures_dir / "sample.txt"), key=key)
    assert code == 1 and out == ""
    assert err.strip() == (
        "Error: the Anthropic API rejected the API key (401): check ANTHROPIC_API_KEY"
    )
    assert key[:20] not in err


def test_a_deprecated_model_gets_a_notice_with_its_retirement_date(
    rules_api: FakeMessagesAPI, fixtures_dir: Path
) -> None:
    code, _, err = invoke(
        rules_api, "report", str(fixtures_dir / "sample-en.pdf"), "--model", "claude-opus-4-5"
    )
    assert code == 0, err
    assert "claude-opus-4-5 is deprecated and retires on 2027-01-22" in err


def test_the_models_api_answer_is_kept_a_day(
    rules_api: FakeMessagesAPI, fixtures_dir: Path
) -> None:
    path = str(fixtures_dir / "sample-en.pdf")
    assert invoke(rules_api, "report", path, "--no-cache")[0] == 0
    counted = len(rules_api.token_counts)
    assert rules_api.model_lookups == ["claude-sonnet-5-5"] and 1 <= counted <= 3
    assert invoke(rules_api, "report", path, "--no-cache")[0] == 0
    assert rules_api.model_lookups == ["claude-sonnet-5-5"], "the stored answer is used"
    assert len(rules_api.token_counts) == counted, "the calibration is stored too"


def test_a_model_only_the_models_api_knows_gets_its_real_window(
    make_fake_api: MakeFakeApi, fixtures_dir: Path
) -> None:
    nova = FakeModel("claude-nova-6", "Claude Nova 6", "opus", context_window=300_000)
    server = make_fake_api(model_rules=True, models=[nova], responder=halving_responder)
    path = str(fixtures_dir / "sample-en.pdf")

    code, out, err = invoke(server, "plan", path, "--model", "claude-nova-6", "--exact")
    assert code == 0, err
    assert "300,000-token context window" in out
    code, out, err = invoke(server, "report", path, "--model", "claude-nova-6", "--format", "json")
    assert code == 0, err
    assert "not in docanalyze's model table" not in err
    assert all(request.status == 200 for request in messages(server))


def refusing_responder(request: RecordedRequest) -> str | ScriptedReply:
    if FORBIDDEN in request.prompt and is_map(request):
        return ScriptedReply("I can't help with that.", stop_reason="refusal", stop_details=REFUSAL)
    return halving_responder(request)


def write_document_with_a_refused_page(path: Path) -> None:
    pages = [
        f"FACT-{n:04d} is on page {n}. " + "The board met and agreed. " * 40 for n in range(1, 9)
    ]
    pages[4] = f"FACT-0005 is on page 5. {FORBIDDEN} " + "The board met and agreed. " * 40
    path.write_text("\f".join(pages), encoding="utf-8")


def test_a_refused_chunk_gives_an_incomplete_report_and_the_next_run_asks_again(
    make_fake_api: MakeFakeApi, tmp_path: Path
) -> None:
    server = make_fake_api(model_rules=True, responder=refusing_responder)
    document = tmp_path / "minutes.txt"
    write_document_with_a_refused_page(document)
    args = ("report", str(document), "--chunk-size", "1200")

    code, out, err = invoke(server, *args)
    assert code == 3, "an incomplete report exits 3"
    assert "INCOMPLETE" in out and "page 5" in out and "cyber" in out
    assert "refused" in err and "page 5" in err and "cyber" in err
    refused_prompts = [r.prompt for r in messages(server) if FORBIDDEN in r.prompt]
    assert len(refused_prompts) == 1
    answered = {r.prompt for r in messages(server) if FORBIDDEN not in r.prompt}

    server.clear_requests()
    code, out, _ = invoke(server, *args, "--format", "json")
    assert code == 3
    result = json.loads(out)
    assert result["complete"] is False and result["exit_code"] == 3
    assert [
        (part["stage"], part["first_page"], part["category"]) for part in result["refused"]
    ] == [("map", 5, "cyber")]
    again = messages(server)
    assert [r.prompt for r in again] == refused_prompts, "only the refused chunk is asked again"
    assert not answered & {r.prompt for r in again}


def test_a_refused_chunk_is_asked_of_the_fallback_model(
    make_fake_api: MakeFakeApi, tmp_path: Path
) -> None:
    def responder(request: RecordedRequest) -> str | ScriptedReply:
        if request.model == "claude-sonnet-5-5":
            return refusing_responder(request)
        return halving_responder(request)

    server = make_fake_api(model_rules=True, responder=responder)
    document = tmp_path / "minutes.txt"
    write_document_with_a_refused_page(document)
    code, out, err = invoke(
        server, "report", str(document), "--chunk-size", "1200", "--fallback-model",
        "claude-opus-5-5",
    )  # fmt: skip
    assert code == 0, err
    assert "FACT-0005" in out and "INCOMPLETE" not in out
    assert "refused a map request (category cyber" in err and "asking claude-opus-5-5" in err
    fallback = [r for r in messages(server) if r.model == "claude-opus-5-5"]
    assert len(fallback) == 1 and FORBIDDEN in fallback[0].prompt
    assert "thinking" not in fallback[0].body  # Opus 5.5 cannot turn thinking off
    assert fallback[0].body["output_config"] == {"effort": "low"}


def test_a_reply_cut_while_thinking_is_asked_again_with_more_room_never_in_halves(
    rules_api: FakeMessagesAPI, tmp_path: Path
) -> None:
    write_long_document(tmp_path / "notes.txt", pages=12, page_chars=2500)
    code, out, err = invoke(
        rules_api, "report", str(tmp_path / "notes.txt"), "--thinking", "api", "--format", "json"
    )
    assert code == 0, err
    maps = [r for r in messages(rules_api) if is_map(r)]
    by_prompt: dict[str, list[int]] = {}
    for request in maps:
        by_prompt.setdefault(request.prompt, []).append(request.max_tokens or 0)
    assert len(by_prompt) == len(json.loads(out)["chunks"]), "no chunk was split in halves"
    retried = [budgets for budgets in by_prompt.values() if len(budgets) > 1]
    assert retried, "at the API's default effort, thinking fills a 2,048-token map budget"
    assert all(budgets[1] > budgets[0] == 2048 for budgets in retried)
    assert "was still thinking" in err


def spend_limit(exchange: Exchange) -> None:
    raise ApiError(
        400,
        "You have reached your specified API usage limits. You will regain access on 2027-01-01.",
    )


def test_a_400_passes_on_the_apis_own_message(
    make_fake_api: MakeFakeApi, fixtures_dir: Path
) -> None:
    class SpendLimit:
        def admit(self, exchange: Exchange) -> None:
            spend_limit(exchange)

    server = make_fake_api(model_rules=True, policies=[SpendLimit()])
    code, out, err = invoke(server, "report", str(fixtures_dir / "sample-en.pdf"))
    assert code == 1 and out == ""
    assert "You have reached your specified API usage limits" in err
    assert "Claude Console" in err and "check --model" not in err


def test_plan_estimates_the_default_models_map_input_within_ten_percent(
    make_fake_api: MakeFakeApi, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_fake_api(model_rules=True)
    for name in ("sample-en.pdf", "sample-zh.pdf", "sample.txt"):
        path = str(fixtures_dir / name)
        plan = plan_run(path)  # no key: offline
        assert plan.chunk_count == 1  # one map request, sending every page as a citable block
        # the estimate of what is sent (prompt and pages), without the deliberate margin it
        # adds for each block's framing, which the fake server does not count
        estimated = plan.stages[0].input_tokens - plan.page_count * CITABLE_BLOCK_TOKENS
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        counted = plan_run(path, exact=True).stages[0].input_tokens  # pages counted too
        monkeypatch.delenv("ANTHROPIC_API_KEY")
        assert 0.9 * counted <= estimated <= 1.1 * counted, (name, estimated, counted)


def test_max_cost_holds_the_thinking_allowance(
    rules_api: FakeMessagesAPI, fixtures_dir: Path
) -> None:
    path = str(fixtures_dir / "sample-en.pdf")
    code, out, err = invoke(rules_api, "report", path, "--format", "json", "--no-cache")
    assert code == 0, err
    usage = json.loads(out)["usage_by_stage"]
    price_in, price_out = 2.0 / 1e6, 10.0 / 1e6  # claude-sonnet-5-5
    maps = usage["map"]["input_tokens"] * price_in + usage["map"]["output_tokens"] * price_out
    final_input = usage["final"]["input_tokens"] * 1.1 * price_in
    # Enough for the maps and a report of 4,096 tokens, not for its 2,048 tokens of thinking too.
    limit = maps + final_input + 4096 * price_out + 0.004
    rules_api.clear_requests()

    code, out, err = invoke(rules_api, "report", path, "--no-cache", "--max-cost", f"{limit:.4f}")

    assert code == 3, err
    assert "INCOMPLETE" in out and "--max-cost" in err
    assert all(is_map(request) for request in messages(rules_api)), "the report was not asked"


def test_runs_show_counts_thinking(rules_api: FakeMessagesAPI, fixtures_dir: Path) -> None:
    code, out, err = invoke(
        rules_api, "report", str(fixtures_dir / "sample-en.pdf"), "--format", "json"
    )
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, shown, _ = invoke(rules_api, "runs", "show", run_id, "--format", "json")
    assert code == 0
    data: dict[str, Any] = json.loads(shown)
    assert data["thinking_tokens"] > 0
    code, text, _ = invoke(rules_api, "runs", "show", run_id)
    assert "thinking" in text and "final" in text


def test_a_window_stop_is_a_cut_reply_and_a_refusal_is_not_finished() -> None:
    from docanalyze.models.base import ModelReply

    window = ModelReply("partial", "model_context_window_exceeded", "m")
    refused = ModelReply("", "refusal", "m")
    assert window.truncated and not window.finished
    assert refused.refused and not refused.truncated and not refused.finished
    assert ModelReply("done", "end_turn", "m").finished


def test_a_refused_reply_is_never_stored(tmp_path: Path) -> None:
    import asyncio

    from docanalyze.models.base import ModelReply, ModelRequest
    from docanalyze.models.stored import StoredModel, call_key
    from docanalyze.store import RunStore
    from tests.fakes import RecordingModel

    class Refusing(RecordingModel):
        async def complete(self, request: ModelRequest, **_: Any) -> ModelReply:
            self.requests.append(request)
            return ModelReply("No.", "refusal", self.name)

    inner = Refusing(name="claude-sonnet-5-5")
    with RunStore(tmp_path / "store.sqlite3") as store:
        stored = StoredModel(inner, store)
        request = ModelRequest("Extract this.", 100, "map")
        for _ in range(2):
            assert asyncio.run(stored.complete(request)).refused
        assert len(inner.requests) == 2, "asked again: the refusal was not stored"
        assert store.get_call(call_key(inner.name, request)) is None


def test_calibration_fits_the_estimate_to_count_tokens(make_fake_api: MakeFakeApi) -> None:
    import asyncio

    from docanalyze.models.anthropic.model import AnthropicModel
    from docanalyze.text.tokens import estimate_for_tokenizer

    server = make_fake_api(model_rules=True)
    prompts = [
        ("The supplier shall deliver the pumps by 1 March. " * 40 + str(n)) for n in range(3)
    ]

    async def calibrated() -> tuple[float, list[int]]:
        model = AnthropicModel("claude-sonnet-5-5", api_key="test-key", base_url=server.base_url)
        try:
            await model.calibrate(None, prompts)
            return model.calibration.fit_factor, [model.estimate_tokens(p) for p in prompts]
        finally:
            await model.aclose()

    fit, estimates = asyncio.run(calibrated())
    counts = [request.input_tokens for request in server.token_counts]
    assert len(counts) == 3
    offline = estimate_for_tokenizer(prompts[0], 1.3)
    assert fit != pytest.approx(1.0) and fit * offline >= counts[0] - 8
    for estimate, counted in zip(estimates, counts):
        assert counted - 8 <= estimate <= counted * 1.05  # 8: the message framing it counts


def test_a_rerun_after_thinking_cuts_asks_nothing_again(
    rules_api: FakeMessagesAPI, tmp_path: Path
) -> None:
    write_long_document(tmp_path / "notes.txt", pages=12, page_chars=2500)
    args = ("report", str(tmp_path / "notes.txt"), "--thinking", "api")
    code, first, err = invoke(rules_api, *args)
    assert code == 0, err
    assert "was still thinking" in err
    asked = len(messages(rules_api))

    code, again, err = invoke(rules_api, *args)

    assert code == 0, err
    assert len(messages(rules_api)) == asked, "every reply, the cut ones too, came from the store"
    assert again == first


def test_a_short_report_cut_while_thinking_gets_the_room_of_the_apis_default_effort(
    rules_api: FakeMessagesAPI, tmp_path: Path
) -> None:
    # A small text budget, a long prompt: at the API's default effort (high) the report thinks
    # about ten times its text budget. Growing from twice the little room the cut reply had
    # (300, 1,324, 2,948, ...) pays for re-ask after re-ask (and ran out of them in a report in
    # sections of a 1,000,000-character document); the re-ask starts from high's allowance.
    write_long_document(tmp_path / "notes.txt", pages=40, page_chars=2500)
    code, _, err = invoke(
        rules_api, "report", str(tmp_path / "notes.txt"), "--thinking", "api",
        "--final", "single", "--max-tokens", "300",
    )  # fmt: skip
    assert code == 3, err  # the report is still cut at 300 tokens: incomplete
    finals = [
        request for request in messages(rules_api) if request.prompt == final_prompt(rules_api)
    ]
    assert [request.max_tokens for request in finals] == [300, 300 + 4096]
    assert "a final reply was cut while claude-sonnet-5-5 was still thinking" in err


def final_prompt(server: FakeMessagesAPI) -> str:
    return messages(server)[-1].prompt
