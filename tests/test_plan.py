"""``docanalyze plan``: the plan of a run, checked against a real run on the fake server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.cost import PriceTable
from docanalyze.errors import ConfigError
from docanalyze.models.anthropic.catalog import model_info
from docanalyze.planning.pace import Pace, PlannedRequest
from docanalyze.planning.plan import MAP_OUTPUT_SHARE, REDUCE_OUTPUT_SHARE, RunPlan, plan_run
from docanalyze.prompting.templates import default_prompts_dir
from fakeserver import TODAYS_MODELS, FakeMessagesAPI, RecordedRequest, count_tokens
from fixtures.texts import SAMPLE_EN, page_text
from tests.fakes import citing, given_points, is_map as is_map_request, is_reduce, part_text

MakeFakeApi = Callable[..., FakeMessagesAPI]
TOLERANCE = 0.15
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
_PAGE = re.compile(r"\[Page (\d+)\]|\(p\. (\d+)\)")


def sized(request: RecordedRequest) -> str:
    """Replies of the size the plan assumes: a share of the request's material (its pages, or
    the points of its partial results), within the budget."""
    part = part_text(request)
    if part is not None:
        material, share = part, MAP_OUTPUT_SHARE
    elif is_reduce(request):
        material, share = "\n".join(given_points(request)), REDUCE_OUTPUT_SHARE
    else:
        return "# Report\n\n- The document was analyzed (p. 1)."
    first_citation = _PAGE.search(material)
    assert first_citation is not None
    page = next(number for number in first_citation.groups() if number)
    line = f"- A key point of this part, with its figures, names and dates (p. {page}).\n"
    # max_tokens counts the model's tokens; the base tokenizer counts fewer for the same text.
    ratio = TODAYS_MODELS[request.model].tokenizer_ratio
    budget = int(request.body["max_tokens"] / ratio) - count_tokens(line)  # no reply is cut
    lines = max(1, round(min(share * count_tokens(material), budget) / count_tokens(line)))
    return (line * lines).rstrip()


sized_responder = citing(sized)
"""Sized replies, each claim citing what it was sent on its page, as Claude's do."""


def is_map(request: RecordedRequest) -> bool:
    return request.path == "/v1/messages" and is_map_request(request)


def use_fake_api(monkeypatch: pytest.MonkeyPatch, server: FakeMessagesAPI) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)


def long_english(pages: int) -> str:
    return "\f".join(page_text(SAMPLE_EN[n % len(SAMPLE_EN)]) for n in range(pages))


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["plan", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


# --- the plan itself ---------------------------------------------------------------------------


def test_a_small_document_plans_one_map_request_per_chunk_and_no_reduce(
    fixtures_dir: Path,
) -> None:
    plan = plan_run(str(fixtures_dir / "sample-en.pdf"), chunk_size=1500)
    assert plan.page_count == 7 and plan.chunk_count > 1
    assert [stage.stage for stage in plan.stages] == ["map", "final"]
    assert len(plan.stages[0].requests) == plan.chunk_count
    assert plan.requests == plan.chunk_count + 1 and plan.reduce_levels == 0
    assert all(0 < request.output_tokens <= 2048 for request in plan.stages[0].requests)


def test_a_small_window_plans_reduce_levels_whose_prompts_fit() -> None:
    plan = plan_run(long_english(120), chunk_size=3000, context_window=8000, max_tokens=1000)
    reduces = [stage for stage in plan.stages if stage.stage == "reduce"]
    assert plan.reduce_levels == len(reduces) >= 1
    assert [stage.level for stage in reduces] == list(range(1, len(reduces) + 1))
    limit = plan.budgets.request_limit
    for stage in reduces:
        assert all(
            r.input_tokens + plan.budgets.reduce_max_tokens <= limit + 8 for r in stage.requests
        )
    assert len(reduces[-1].requests) < len(reduces[0].requests) or len(reduces) == 1


def test_cost_follows_the_price_table_and_an_unknown_price_is_said() -> None:
    text = long_english(10)
    plan = plan_run(text, model="claude-haiku-4-5")
    prices = PriceTable.default().get("claude-haiku-4-5")
    assert prices is not None and plan.cost is not None
    expected = (plan.input_tokens * prices.input + plan.output_tokens * prices.output) / 1e6
    assert plan.cost == pytest.approx(expected)
    unknown = plan_run(text, model="my-model", context_window=100_000)
    assert unknown.cost is None
    assert "my-model" in (unknown.unknown_price or "") and "DOCANALYZE_PRICES" in (
        unknown.unknown_price or ""
    )


def test_batch_is_planned_at_the_batch_price_and_says_so() -> None:
    text = long_english(10)
    standard = plan_run(text)
    batch = plan_run(text, batch=True)
    assert standard.cost is not None and batch.cost is not None
    assert batch.cost == pytest.approx(standard.cost * 0.5)
    assert (batch.input_tokens, batch.output_tokens) == (
        standard.input_tokens,
        standard.output_tokens,
    )
    assert batch.to_dict()["batch"] is True and standard.to_dict()["batch"] is False
    assert any("50% off with --batch" in line for line in batch.assumptions)
    assert not any("--batch" in line for line in standard.assumptions)


def test_the_plan_command_takes_batch(fixtures_dir: Path) -> None:
    sample = str(fixtures_dir / "sample-en.pdf")
    code, out, _ = invoke(sample, "--format", "json")
    batch_code, batch_out, _ = invoke(sample, "--batch", "--format", "json")
    assert code == batch_code == 0
    standard, batch = json.loads(out)["cost"]["total"], json.loads(batch_out)["cost"]["total"]
    assert batch == pytest.approx(standard / 2, abs=1e-6) and json.loads(batch_out)["batch"]


def test_a_template_header_budget_is_planned_as_the_run_uses_it(tmp_path: Path) -> None:
    default_map = (default_prompts_dir() / "map.j2").read_text(encoding="utf-8")
    (tmp_path / "map.j2").write_text(
        "{#- docanalyze: max_tokens=333 -#}\n" + default_map, encoding="utf-8"
    )
    plan = plan_run(long_english(10), prompts_dir=tmp_path)
    assert plan.budgets.map_max_tokens == 333
    assert all(request.output_tokens <= 333 for request in plan.stages[0].requests)


def test_an_unknown_model_without_a_window_is_noted() -> None:
    plan = plan_run("Some text to plan.\n" * 50, model="my-model")
    assert plan.model.context_window == 200_000
    assert any("--context-window" in notice for notice in plan.notices)


def test_time_is_bounded_by_concurrency_and_rate_caps() -> None:
    requests = [PlannedRequest(10_000, 500)] * 100
    one = Pace(concurrency=1).request_seconds(requests[0])
    assert one == pytest.approx(2 + 500 / 50)
    assert Pace(concurrency=100).stage_seconds(requests) == pytest.approx(one)
    assert Pace(concurrency=10).stage_seconds(requests) == pytest.approx(10 * one)
    assert Pace(concurrency=100, rpm=50).stage_seconds(requests) == pytest.approx(120)
    assert Pace(concurrency=100, input_tpm=100_000).stage_seconds(requests) == pytest.approx(600)
    assert Pace(concurrency=100, output_tpm=10_000).stage_seconds(requests) == pytest.approx(300)


# --- plan against reality ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sample-en.pdf", "sample-zh.pdf"])
def test_planned_map_requests_and_tokens_match_a_real_run(
    make_fake_api: MakeFakeApi,
    monkeypatch: pytest.MonkeyPatch,
    fixtures_dir: Path,
    name: str,
) -> None:
    path = str(fixtures_dir / name)
    plan = plan_run(path, chunk_size=600)
    server = make_fake_api(responder=sized_responder, model_rules=True)
    use_fake_api(monkeypatch, server)

    report = docanalyze.analyze(path, backend="anthropic", chunk_size=600)

    maps = [request for request in server.requests if is_map(request)]
    planned = plan.stages[0]
    assert planned.stage == "map" and len(planned.requests) == len(maps) == len(report.chunks)
    actual_input = sum(request.input_tokens for request in maps)
    assert actual_input <= planned.input_tokens <= actual_input * (1 + TOLERANCE)


def test_planned_reduce_levels_and_requests_match_a_run_with_replies_of_the_assumed_size(
    make_fake_api: MakeFakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = long_english(150)
    settings = {"chunk_size": 3000, "context_window": 8000, "max_tokens": 1000}
    plan = plan_run(text, **settings)
    server = make_fake_api(responder=sized_responder, context_window=8000, model_rules=True)
    use_fake_api(monkeypatch, server)

    report = docanalyze.analyze(text, backend="anthropic", **settings)

    assert plan.reduce_levels == report.reduce_levels >= 1
    assert plan.requests == report.usage.requests
    assert plan.input_tokens == pytest.approx(report.usage.input_tokens, rel=TOLERANCE)
    assert plan.output_tokens == pytest.approx(report.usage.output_tokens, rel=0.5)


# --- command line ------------------------------------------------------------------------------


def test_text_output_shows_counts_stages_cost_time_and_assumptions(fixtures_dir: Path) -> None:
    code, out, err = invoke(str(fixtures_dir / "sample-en.pdf"), "--chunk-size", "1500")
    assert code == 0 and err == ""
    plan = plan_run(str(fixtures_dir / "sample-en.pdf"), chunk_size=1500)
    assert f"7 pages, {plan.chunk_count} chunks, {plan.requests} requests, 0 reduce levels" in out
    assert re.search(
        rf"^map\s+{plan.chunk_count}\s+{plan.stages[0].input_tokens:,}\s", out, re.MULTILINE
    )
    assert re.search(rf"^total\s+{plan.requests}\s+{plan.input_tokens:,}\s", out, re.MULTILINE)
    assert "Estimated cost: $" in out and "claude-sonnet-5-5" in out
    assert "Estimated time: " in out
    assert "Assumptions:" in out and "30% of its part's text tokens" in out
    assert "50 output tokens a second" in out and "--concurrency 256" in out


def test_text_output_names_the_caps_and_an_unknown_price(fixtures_dir: Path) -> None:
    code, out, _ = invoke(
        str(fixtures_dir / "sample.txt"),
        *("--model", "my-model", "--context-window", "50000", "--rpm", "5"),
    )
    assert code == 0
    assert "Estimated cost: unknown: price of model my-model unknown" in out
    assert "--rpm 5" in out


def test_json_output_has_the_plan_fields(fixtures_dir: Path) -> None:
    path = str(fixtures_dir / "sample-zh.pdf")
    code, out, _ = invoke(path, "--format", "json", "--chunk-size", "400", "--input-tpm", "1000")
    assert code == 0
    result = json.loads(out)
    plan = plan_run(path, chunk_size=400, input_tpm=1000)
    assert result["pages"] == plan.page_count and result["chunks"] == plan.chunk_count > 1
    assert result["requests"] == plan.requests
    assert result["reduce_levels"] == 0
    assert [stage["stage"] for stage in result["stages"]] == ["map", "final"]
    assert result["stages"][0]["input_tokens"] == plan.stages[0].input_tokens
    assert result["input_tokens"] == sum(stage["input_tokens"] for stage in result["stages"])
    assert result["cost"]["total"] == pytest.approx(plan.cost, abs=1e-6)
    assert result["cost"]["prices_checked"] and result["cost"]["unknown_price"] is None
    assert result["limits"] == {
        "concurrency": 256,
        "rpm": None,
        "input_tpm": 1000,
        "output_tpm": None,
    }
    assert result["seconds"] >= 60 * result["input_tokens"] / 1000 - 1
    assert result["exact"] is False and len(result["assumptions"]) >= 4


def test_exact_counts_the_map_prompts_with_count_tokens_only(
    make_fake_api: MakeFakeApi, fixtures_dir: Path
) -> None:
    server = make_fake_api(model_rules=True)
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}
    path = str(fixtures_dir / "sample-en.pdf")
    code, out, err = invoke(path, "--exact", "--format", "json", "--chunk-size", "1500", env=env)
    assert code == 0, err
    result = json.loads(out)
    assert server.requests == []  # no message request
    paths = [request.path for request in server.token_counts]
    assert paths and set(paths) == {COUNT_TOKENS_PATH}
    assert len(paths) == result["stages"][0]["requests"]
    assert result["exact"] is True and result["stages"][0]["input_counted"] is True
    counted = sum(request.input_tokens for request in server.token_counts)
    assert result["stages"][0]["input_tokens"] == counted
    estimated = plan_run(path, chunk_size=1500).stages[0].input_tokens
    assert counted <= estimated <= counted * (1 + TOLERANCE)


def test_exact_without_a_key_is_one_line_and_exit_1(fixtures_dir: Path) -> None:
    code, out, err = invoke(str(fixtures_dir / "sample-en.pdf"), "--exact")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "set ANTHROPIC_API_KEY" in err


def test_exact_without_a_key_in_python_raises_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        plan_run("Some text.", exact=True)


def test_help_has_examples() -> None:
    code, out, _ = invoke("--help")
    assert code == 0 and "Examples:" in out and "--exact" in out


def test_plan_for_the_catalog_limits_of_the_model() -> None:
    plan: RunPlan = plan_run("A short text to plan.", model="claude-haiku-4-5")
    info = model_info("claude-haiku-4-5")
    assert info is not None
    assert plan.model.context_window == info.context_window
    assert plan.to_dict()["context_window"] == info.context_window


def test_the_plan_counts_the_question_as_the_run_sends_it() -> None:
    # Runs, plans and dry runs are prepared in one place, so the plan's prompts carry the
    # question and the report's language like the run's.
    question = "Which obligations does the supplier take on, and by which dates? " * 20
    plain = plan_run(long_english(6), chunk_size=600)
    asked = plan_run(long_english(6), chunk_size=600, question=question)
    [plain_map, asked_map] = [plan.stages[0] for plan in (plain, asked)]
    assert len(plain_map.requests) == len(asked_map.requests)
    added = asked_map.input_tokens - plain_map.input_tokens
    assert added >= len(asked_map.requests) * count_tokens(question) * 0.9


def test_a_plan_and_a_dry_run_render_without_a_model_that_answers() -> None:
    from docanalyze.models.base import Model
    from docanalyze.planning.model import PlannedModel

    assert not isinstance(PlannedModel.for_options(docanalyze.Options()), Model)
