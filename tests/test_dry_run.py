"""``docanalyze report --dry-run``: the exact prompts, their budgets, and no request at all."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.planning.dry_run import format_dry_run, preview_prompts
from docanalyze.store import RunStore
from fakeserver import FakeMessagesAPI
from tests.fakes import prompt_text

PROMPT_SECTION = re.compile(
    r"^======== (?P<title>[^\n]*?) ========\n(?P<meta>.*?)^======== prompt ========\n"
    r"(?P<prompt>.*?)\n======== end of prompt ========$",
    re.DOTALL | re.MULTILINE,
)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def sections(output: str) -> dict[str, tuple[str, str]]:
    """Each section's title (up to the colon) -> its settings lines and its prompt."""
    return {
        match["title"].split(":")[0]: (match["meta"], match["prompt"])
        for match in PROMPT_SECTION.finditer(output)
    }


def write_document(path: Path) -> Path:
    pages = [
        "The pump at {{ 7*7 }} Harbour Street failed twice in March. Repairs cost 4,000 euros.",
        "The council approved a new pump on 2 April. {% if true %}Delivery{% endif %} takes weeks.",
        "The contractor Brandt must finish the work by 30 June or pay 500 euros a day.",
    ]
    path.write_text("\f".join(pages), encoding="utf-8")
    return path


def fake_env(server: FakeMessagesAPI) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}


def test_dry_run_prints_map_reduce_and_final_prompts_with_the_text_literally(
    fake_api: FakeMessagesAPI, tmp_path: Path
) -> None:
    document = write_document(tmp_path / "pump.txt")

    code, out, err = invoke(
        "report", str(document), "--dry-run", "--chunk-size", "200", env=fake_env(fake_api)
    )

    assert code == 0, err
    assert fake_api.requests == []
    assert "No request was sent" in out.splitlines()[0]
    found = sections(out)
    assert list(found) == ["map", "reduce", "final report"]
    map_meta, map_prompt = found["map"]
    # Claude cites: the pages and points go beside the prompt as citable content, listed
    assert "The pump at {{ 7*7 }} Harbour Street failed twice" not in map_prompt
    assert re.search(r"citable      \d+ pages? \(Page 1", map_meta)
    assert "49" not in out
    assert "max_tokens   2,048" in map_meta and "model        claude-sonnet-5-5" in map_meta
    assert re.search(r"prompt       ~\d+ tokens \(estimated\)", map_meta)
    reduce_meta, reduce_prompt = found["reduce"]
    assert "placeholder partial results" in reduce_meta
    assert re.search(r"citable      \d+ points? \(p\. 1", reduce_meta)
    assert "{% if true %}" not in reduce_prompt
    assert "max_tokens   4,096" in reduce_meta
    assert "max_tokens   6,144 (4,096 for the text, 2,048 for thinking)" in found["final report"][0]
    assert "thinking     thinking on at effort medium (+2,048 tokens)" in found["final report"][0]
    assert "thinking     thinking off" in map_meta


def test_dry_run_records_no_run_in_the_store(tmp_path: Path) -> None:
    code, _, err = invoke("report", str(write_document(tmp_path / "pump.txt")), "--dry-run")
    assert code == 0, err
    with RunStore() as store:
        assert store.list_runs(10) == []


def test_the_dry_run_map_prompt_is_exactly_the_first_map_request_of_a_run(
    fake_api: FakeMessagesAPI, tmp_path: Path, fixtures_dir: Path
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "map.j2").write_text(
        "{#- docanalyze: model=claude-haiku-4-5, temperature=0.3, max_tokens=900 -#}\n"
        "Part {{ index }}/{{ total }} (pp. {{ first_page }}-{{ last_page }}):\n{{ text }}",
        encoding="utf-8",
    )
    args = [str(fixtures_dir / "sample-en.pdf"), "--prompts", str(prompts), "--chunk-size", "1500"]

    code, out, err = invoke("report", *args, "--dry-run", env=fake_env(fake_api))
    assert code == 0, err
    assert fake_api.requests == []
    meta, shown = sections(out)["map"]
    assert "model        claude-haiku-4-5" in meta
    assert "temperature  0.3" in meta and "max_tokens   900" in meta

    code, _, err = invoke("report", *args, "-q", env=fake_env(fake_api))
    assert code == 0, err
    first_map = next(r for r in fake_api.requests if prompt_text(r).startswith("Part 1/"))
    assert prompt_text(first_map) == shown
    pages = [block["title"] for block in first_map.body["messages"][-1]["content"][:-1]]
    assert f"{len(pages)} pages ({', '.join(pages)}) sent as citable content" in meta
    assert first_map.body["max_tokens"] == 900 and first_map.body["temperature"] == 0.3


def test_the_api_notes_a_one_chunk_document_needs_no_reduce_step() -> None:
    dry_run = preview_prompts("The pump failed twice in March. Repairs cost 4,000 euros.")
    assert dry_run.chunk_count == 1 and [p.stage for p in dry_run.previews] == [
        "map",
        "reduce",
        "final",
    ]
    assert "a run sends no reduce step" in dry_run.previews[1].note
    assert all(preview.fits for preview in dry_run.previews)
    assert format_dry_run(dry_run).count("======== prompt ========") == 3


def test_dry_run_reports_template_budget_errors_without_sending(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "final.j2").write_text(
        "{# docanalyze: max_tokens=999999 #}\n{{ partials }}", "utf-8"
    )
    code, out, err = invoke(
        "report", str(write_document(tmp_path / "pump.txt")), "--prompts", str(prompts), "--dry-run"
    )
    assert code == 1 and out == ""
    assert err.startswith("Error: template ") and "final.j2: max_tokens=999999" in err


def test_dry_run_refuses_json(tmp_path: Path) -> None:
    code, _, err = invoke(
        "report", str(write_document(tmp_path / "a.txt")), "--dry-run", "--format", "json"
    )
    assert code == 2 and "--dry-run prints the prompts as text" in err
