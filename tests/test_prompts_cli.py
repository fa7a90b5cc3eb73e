"""``docanalyze prompts list/show/init``, and a run with the templates ``init`` wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.prompting.templates import TEMPLATE_NAMES, default_prompts_dir
from fakeserver import FakeMessagesAPI
from tests.fakes import is_map


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def default_text(name: str) -> str:
    return (default_prompts_dir() / f"{name}.j2").read_text(encoding="utf-8")


def test_list_shows_every_template_from_the_defaults() -> None:
    code, out, err = invoke("prompts", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["map.j2", "default"],
        ["reduce.j2", "default"],
        ["final.j2", "default"],
        ["section.j2", "default"],
        ["overview.j2", "default"],
        ["extract.j2", "default"],
        ["resolve.j2", "default"],
    ]
    assert str(default_prompts_dir().resolve() / "map.j2") in lines[0]


def test_list_with_an_override_says_where_each_comes_from_and_its_header(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "reduce.j2").write_text(
        "{# docanalyze: model=claude-haiku-4-5, max_tokens=800 #}\n{{ partials }}", "utf-8"
    )
    code, out, err = invoke("prompts", "list", "--prompts", str(folder))
    assert code == 0, err
    by_name = {line.split()[0]: line for line in out.splitlines()}
    assert f"--prompts {folder}" in by_name["reduce.j2"]
    assert by_name["reduce.j2"].endswith("[model=claude-haiku-4-5, max_tokens=800]")
    assert " default " in by_name["map.j2"] and " default " in by_name["final.j2"]


@pytest.mark.parametrize("name", ["map", "reduce.j2", "final"])
def test_show_prints_the_default_source(name: str) -> None:
    code, out, err = invoke("prompts", "show", name)
    assert code == 0, err
    assert out == default_text(name.removesuffix(".j2"))


def test_show_with_prompts_prints_the_effective_template(tmp_path: Path) -> None:
    (tmp_path / "map.j2").write_text("{# docanalyze: temperature=0 #}\nMine: {{ text }}\n", "utf-8")
    code, out, _ = invoke("prompts", "show", "map.j2", "--prompts", str(tmp_path))
    assert code == 0 and out == "{# docanalyze: temperature=0 #}\nMine: {{ text }}\n"
    code, out, _ = invoke("prompts", "show", "final", "--prompts", str(tmp_path))
    assert code == 0 and out == default_text("final")


def test_show_an_unknown_name_is_a_usage_error() -> None:
    code, out, err = invoke("prompts", "show", "summary")
    assert code == 2 and out == ""
    assert "'summary' is not a template: use one of map, reduce, final" in err


def test_show_with_a_missing_folder_is_one_error_line(tmp_path: Path) -> None:
    code, _, err = invoke("prompts", "show", "map", "--prompts", str(tmp_path / "nope"))
    assert code == 1
    assert err.count("Error:") == 1 and "no such folder" in err


def test_init_copies_the_defaults_into_a_new_folder_and_says_how_to_use_them(
    tmp_path: Path,
) -> None:
    target = tmp_path / "a" / "b"
    code, out, err = invoke("prompts", "init", str(target))
    assert code == 0, err
    for name in TEMPLATE_NAMES:
        assert (target / f"{name}.j2").read_text("utf-8") == default_text(name)
        assert f"wrote {target / f'{name}.j2'}" in out
    assert f"docanalyze report FILE --prompts {target}" in out


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "map.j2").write_text("my edits", "utf-8")
    code, out, err = invoke("prompts", "init", str(tmp_path))
    assert code == 1 and out == ""
    assert err.count("Error:") == 1 and "map.j2 already exists" in err and "--force" in err
    assert (tmp_path / "map.j2").read_text("utf-8") == "my edits"
    assert not (tmp_path / "reduce.j2").exists()  # nothing was written

    code, out, err = invoke("prompts", "init", str(tmp_path), "--force")
    assert code == 0, err
    assert (tmp_path / "map.j2").read_text("utf-8") == default_text("map")


def test_init_can_copy_a_subset(tmp_path: Path) -> None:
    code, _, err = invoke("prompts", "init", str(tmp_path), "final.j2")
    assert code == 0, err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["final.j2"]


def test_init_then_report_with_the_edited_templates(
    fake_api: FakeMessagesAPI, tmp_path: Path, fixtures_dir: Path
) -> None:
    folder = tmp_path / "my-prompts"
    assert invoke("prompts", "init", str(folder))[0] == 0
    with (folder / "map.j2").open("a", encoding="utf-8") as file:
        file.write("\nAlso flag anything about {{ audience }}.")

    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake_api.base_url}
    args = ("report", str(fixtures_dir / "sample.txt"), "--prompts", str(folder), "-q")
    code, out, err = invoke(*args, "--var", "audience=tenants", env=env)

    assert code == 0, err
    map_prompts = [r.prompt for r in fake_api.requests if is_map(r)]
    assert map_prompts and all(p.endswith("Also flag anything about tenants.") for p in map_prompts)
    assert out.strip()


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["init"]])
def test_every_prompts_command_has_examples(command: list[str]) -> None:
    code, out, _ = invoke("prompts", *command, "--help")
    assert code == 0 and "Examples:" in out


def test_the_prompts_help_names_every_template() -> None:
    show = CliRunner().invoke(cli, ["prompts", "show", "--help"]).output
    init = CliRunner().invoke(cli, ["prompts", "init", "--help"]).output
    assert all(name in show for name in TEMPLATE_NAMES), show
    assert "all seven templates" in init and len(TEMPLATE_NAMES) == 7, init
