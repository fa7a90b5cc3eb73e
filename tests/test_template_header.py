"""The ``docanalyze:`` template header: parsing, validation, budgets, and what reaches the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.errors import BudgetError, TemplateError
from docanalyze.models.extractive.model import ExtractiveModel
from docanalyze.options import Options
from docanalyze.prompting.budgets import plan_budgets
from docanalyze.prompting.header import (
    TemplateSettings,
    apply_template_budgets,
    parse_template_header,
)
from docanalyze.prompting.templates import PromptSet
from fakeserver import FakeMessagesAPI
from tests.fakes import is_map

MAP_BODY = "Part {{ index }} of {{ total }}:\n{{ text }}\nList the key points (p. N)."


def write_prompts(folder: Path, **templates: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in templates.items():
        (folder / f"{name}.j2").write_text(text, encoding="utf-8")
    return folder


def test_a_one_line_header_sets_model_temperature_and_max_tokens() -> None:
    source = "{#- docanalyze: model=claude-haiku-4-5, temperature=0.2, max_tokens=1500 -#}\nHi"
    settings = parse_template_header(source, "map.j2")
    assert settings == TemplateSettings("claude-haiku-4-5", 0.2, 1500)
    assert settings.describe() == "model=claude-haiku-4-5, temperature=0.2, max_tokens=1500"


def test_a_header_may_span_lines_quote_values_and_set_a_subset() -> None:
    source = '\n{# docanalyze:\n   model = "claude-haiku-4-5"\n   temperature = 1\n#}\nHi'
    assert parse_template_header(source, "map.j2") == TemplateSettings("claude-haiku-4-5", 1.0)


def test_no_header_and_an_ordinary_leading_comment_set_nothing() -> None:
    assert parse_template_header("Hello {{ text }}", "map.j2") == TemplateSettings()
    default_map = (Path(__file__).parent.parent / "prompts" / "map.j2").read_text("utf-8")
    assert parse_template_header(default_map, "map.j2") == TemplateSettings()
    assert TemplateSettings().describe() == ""


def test_an_unknown_key_names_the_template_line_key_and_allowed_keys() -> None:
    source = "{#- docanalyze:\n  model=claude-haiku-4-5\n  top_p=0.9\n-#}\nHi"
    with pytest.raises(TemplateError) as caught:
        parse_template_header(source, "/elsewhere/my-prompts/map.j2")
    assert str(caught.value) == (
        "template /elsewhere/my-prompts/map.j2, line 3: unknown setting 'top_p' in the "
        "docanalyze: header; allowed: model, temperature, max_tokens, thinking, effort"
    )


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("temperature=1.5", "temperature must be a number from 0 to 1"),
        ("temperature=-0.1", "temperature must be a number from 0 to 1"),
        ("temperature=warm", "temperature must be a number from 0 to 1"),
        ("temperature=nan", "temperature must be a number from 0 to 1"),
        ("max_tokens=0", "max_tokens must be a whole number of at least 1"),
        ("max_tokens=1.5", "max_tokens must be a whole number of at least 1"),
        ("max_tokens=-3", "max_tokens must be a whole number of at least 1"),
        ('model=""', "the model must be a model name"),
        ("model=claude haiku", "the model must be a model name"),
        ("model", "'model' in the docanalyze: header is not key=value"),
    ],
)
def test_bad_values_are_template_errors(setting: str, expected: str) -> None:
    with pytest.raises(TemplateError, match="template map.j2, line 1: ") as caught:
        parse_template_header(f"{{#- docanalyze: {setting} -#}}Hi", "map.j2")
    assert expected in str(caught.value)


def test_a_key_set_twice_is_an_error() -> None:
    with pytest.raises(TemplateError, match="line 1: max_tokens is set twice"):
        parse_template_header("{# docanalyze: max_tokens=10, max_tokens=20 #}", "map.j2")


def test_a_header_that_does_not_open_the_template_is_an_error() -> None:
    with pytest.raises(TemplateError, match="line 3: the docanalyze: header must be the first"):
        parse_template_header("Hello\n\n{# docanalyze: model=x #}\n", "map.j2")


def test_the_header_never_reaches_the_prompt_and_errors_come_at_load(tmp_path: Path) -> None:
    header = "{#- docanalyze: model=claude-haiku-4-5, temperature=0 -#}\n"
    folder = write_prompts(tmp_path / "ok", map=header + MAP_BODY)
    prompts = PromptSet.load(folder)
    rendered = prompts.render("map", {"text": "TEXT", "index": 1, "total": 2})
    assert rendered == "Part 1 of 2:\nTEXT\nList the key points (p. N)."
    assert prompts.settings("map") == TemplateSettings("claude-haiku-4-5", 0.0)
    assert prompts.settings("reduce") == TemplateSettings()
    assert prompts.source("map").startswith(header)

    bad = write_prompts(tmp_path / "bad", final="{# docanalyze: seed=4 #}\nReport")
    with pytest.raises(TemplateError, match=r"final\.j2, line 1: unknown setting 'seed'"):
        PromptSet.load(bad)


def test_a_header_max_tokens_replaces_only_its_stage_budget(tmp_path: Path) -> None:
    folder = write_prompts(
        tmp_path / "p", reduce="{# docanalyze: max_tokens=777 #}\n{{ partials }}"
    )
    model = ExtractiveModel(context_window=200_000)
    planned = plan_budgets(Options(), model)
    budgets = apply_template_budgets(planned, PromptSet.load(folder), model)
    assert budgets.reduce_max_tokens == 777 != planned.reduce_max_tokens
    assert budgets.map_max_tokens == planned.map_max_tokens
    assert budgets.final_max_tokens == planned.final_max_tokens


@pytest.mark.parametrize(
    ("max_tokens", "expected"),
    [(70_000, "is more than extractive can write (64000)"), (6000, "leaves no room")],
)
def test_a_header_max_tokens_that_cannot_fit_is_a_budget_error_naming_the_template(
    tmp_path: Path, max_tokens: int, expected: str
) -> None:
    folder = write_prompts(
        tmp_path / "p", map=f"{{# docanalyze: max_tokens={max_tokens} #}}{MAP_BODY}"
    )
    model = ExtractiveModel(context_window=10_000)
    with pytest.raises(BudgetError, match=r"template .*map\.j2: max_tokens=") as caught:
        apply_template_budgets(plan_budgets(Options(), model), PromptSet.load(folder), model)
    assert expected in str(caught.value)


def run_report(server: FakeMessagesAPI, *args: str) -> dict[str, object]:
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}
    result = CliRunner().invoke(cli, ["report", *args, "--format", "json", "-q"], env=env)
    assert result.exit_code == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def test_a_map_header_reaches_the_http_body_of_map_requests_only(
    fake_api: FakeMessagesAPI, tmp_path: Path, fixtures_dir: Path
) -> None:
    header = "{#- docanalyze: model=claude-haiku-4-5, temperature=0.2, max_tokens=1500 -#}\n"
    folder = write_prompts(
        tmp_path / "p", map=header + "<document_part>\n{{ text }}\n</document_part>"
    )
    args = (str(fixtures_dir / "sample-en.pdf"), "--prompts", str(folder), "--chunk-size", "1500")

    result = run_report(fake_api, *args)

    maps = [request for request in fake_api.requests if is_map(request)]
    map_bodies = [request.body for request in maps]
    others = [request.body for request in fake_api.requests if request.body not in map_bodies]
    assert len(map_bodies) == result["chunk_count"] and others
    for body in map_bodies:
        assert (body["model"], body["temperature"], body["max_tokens"]) == (
            "claude-haiku-4-5",
            0.2,
            1500,
        )
    assert all("docanalyze:" not in request.prompt for request in maps)
    for body in others:
        assert body["model"] == "claude-sonnet-5-5" and "temperature" not in body
        assert body["max_tokens"] != 1500
    assert result["stage_models"]["map"] == ["claude-haiku-4-5"]  # type: ignore[index]
    assert set(result["usage_by_model"]) == {"claude-haiku-4-5", "claude-sonnet-5-5"}  # type: ignore[arg-type]

    # The header is part of what decides a reply: the same run is answered from the store,
    # another temperature asks again.
    fake_api.clear_requests()
    run_report(fake_api, *args)
    assert fake_api.requests == []
    (folder / "map.j2").write_text(
        header.replace("0.2", "0.7") + "<document_part>\n{{ text }}\n</document_part>", "utf-8"
    )
    run_report(fake_api, *args)
    assert {request.body.get("temperature") for request in fake_api.requests} == {0.7}
