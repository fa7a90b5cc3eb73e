"""The README stays true: its newcomer commands run, its samples are what the commands print, and
its tables match the code (options, their defaults and choices; the prompt templates)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from docanalyze.cli import cli, report
from docanalyze.prompting.templates import TEMPLATE_NAMES
from tests.conftest import PROJECT_ROOT
from tests.readme_samples import command_output, samples

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def newcomer_commands() -> list[str]:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first_block, "the README opens with a shell block"
    return first_block.group(1).strip().splitlines()


def test_the_readme_opens_with_the_two_newcomer_commands() -> None:
    assert README.index("```sh") < README.index("\n## ")
    run_command, test_command = newcomer_commands()
    assert "pip install ." in run_command and "docanalyze report fixtures/" in run_command
    assert "pip install '.[test]'" in test_command and "pytest" in test_command


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip\" install --quiet '.[test]'" in ci or "pip install '.[test]'" in ci
    assert "-m pytest" in ci and "-m pytest" in newcomer_commands()[1]


def test_the_first_command_reports_on_a_bundled_fixture_without_a_key() -> None:
    report_part = newcomer_commands()[0].split("&&")[-1].strip()
    arguments = shlex.split(report_part)[1:]
    assert arguments[0] == "report"
    assert (PROJECT_ROOT / arguments[1]).is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    result = subprocess.run(
        [sys.executable, "-m", "docanalyze", *arguments],
        check=False,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Report: ") and "(p. " in result.stdout
    assert "ANTHROPIC_API_KEY is not set" in result.stderr


def test_every_report_option_is_documented() -> None:
    table = README[README.index("| option |") :]
    for parameter in report.params:
        for flag in getattr(parameter, "opts", []) + getattr(parameter, "secondary_opts", []):
            if flag.startswith("--"):
                assert re.search(rf"`[^`]*{re.escape(flag)}\b", table), (
                    f"{flag} is not in the README"
                )


def report_option_rows() -> list[tuple[list[str], str, str]]:
    """Each row of the README's ``report`` options table: its flags, default and meaning."""
    table = README[README.index("| option |") :].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        option, default, meaning = (cell.strip() for cell in line.strip().strip("|").split("|", 2))
        rows.append((re.findall(r"(?<![\w-])--?[a-z][a-z-]*", option), default, meaning))
    return rows


def report_options() -> dict[str, click.Option]:
    return {
        flag: parameter
        for parameter in report.params
        if isinstance(parameter, click.Option)
        for flag in parameter.opts + parameter.secondary_opts
    }


def test_every_option_row_names_a_real_option() -> None:
    options = report_options()
    for flags, _, _ in report_option_rows():
        assert flags and all(flag in options for flag in flags), f"{flags}: not options of report"


@pytest.mark.parametrize(
    "name",
    [
        parameter.name
        for parameter in report.params
        if isinstance(parameter, click.Option) and isinstance(parameter.type, click.Choice)
    ],
)
def test_the_options_table_lists_every_choice(name: str) -> None:
    option = next(parameter for parameter in report.params if parameter.name == name)
    row = next(row for row in report_option_rows() if option.opts[-1] in row[0])
    choices = getattr(option.type, "choices", ())
    missing = [choice for choice in choices if f"`{choice}`" not in row[1] + row[2]]
    assert not missing, f"{option.opts[-1]}: the README's row lacks {missing}"


def test_the_options_table_shows_each_default() -> None:
    options = report_options()
    for flags, default, _ in report_option_rows():
        option = options[flags[0]]
        value = option.default
        if option.is_flag or isinstance(value, bool) or not isinstance(value, (str, int, float)):
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        assert shown in default.replace("`", "").replace(",", ""), (
            f"{flags[0]}: the README's default is {default!r}, the code's {shown}"
        )


def test_every_sample_output_is_what_its_command_prints() -> None:
    shown = samples(README)
    assert shown, "the README shows at least one sample output"
    for command, output in shown:
        assert output == command_output(command), (
            f"the README's output of `{command}` is stale: run python -m tests.readme_samples"
        )


NUMBER_WORDS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


def test_the_readme_counts_the_prompt_templates_as_the_code_does() -> None:
    section = README[README.index("## Prompt templates") :]
    section = section[: section.index("\n## ", 1)]
    count = NUMBER_WORDS[len(TEMPLATE_NAMES)]
    assert f"through {count} [Jinja]" in section and f"(all {count}, or those named)" in section
    for name in TEMPLATE_NAMES:
        assert f"| `{name}.j2`" in section, f"{name}.j2 is not in the templates table"
    wrong = {word for number, word in NUMBER_WORDS.items() if number != len(TEMPLATE_NAMES)}
    assert not any(f"{word} templates" in section or f"all {word}" in section for word in wrong)


def test_the_readme_quotes_the_missing_prompts_folder_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["prompts", "list", "--prompts", "my-prompts"])
    message = result.stderr.strip().removeprefix("Error: ")
    assert message.startswith("--prompts my-prompts: no such folder") and message in README


def test_the_prompts_option_help_names_every_template() -> None:
    option = report_options()["--prompts"]
    assert option.help and all(f"{name}.j2" in option.help for name in TEMPLATE_NAMES)


def subcommands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    """Every command to run, by its path (``runs show``): groups only when they run alone."""
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if not isinstance(command, click.Group) or command.invoke_without_command:
            found[path] = command
        if isinstance(command, click.Group):
            found |= subcommands(command, f"{path} ")
    return found


def long_flags(command: click.Command) -> set[str]:
    """The long options of ``command``, those every command has left out."""
    flags = {
        flag
        for parameter in command.params
        if isinstance(parameter, click.Option)
        for flag in parameter.opts + parameter.secondary_opts
        if flag.startswith("--")
    }
    return flags - {"--debug", "--help"}


def readme_section(heading: str) -> str:
    """The README from ``heading`` to the next heading of its level or above."""
    start = README.index(f"\n{heading}")
    level = heading.split(" ", 1)[0]
    ends = [README.find(f"\n{'#' * n} ", start + 1) for n in range(1, len(level) + 1)]
    return README[start : min([end for end in ends if end > 0] or [len(README)])]


SECTIONS = {
    "extract": "## Records: `docanalyze extract`",
    "plan": "## Planning a run",
    "runs": "## Durable runs",
    "runs show": "## Durable runs",
    "cache stats": "## Durable runs",
    "cache clear": "## Durable runs",
    "prompts list": "### Seeing and copying the templates",
    "prompts show": "### Seeing and copying the templates",
    "prompts init": "### Seeing and copying the templates",
}
"""Where the README documents each command but ``report`` (its options table)."""
FLAG = r"(?<![\w-])--[a-z][a-z-]*"


def test_every_command_has_its_section() -> None:
    assert set(subcommands()) - {"report"} == set(SECTIONS)


@pytest.mark.parametrize("path", list(SECTIONS))
def test_each_option_of_a_command_is_in_its_section(path: str) -> None:
    section = readme_section(SECTIONS[path])
    assert f"docanalyze {path}" in section
    missing = [flag for flag in long_flags(subcommands()[path]) if flag not in section]
    assert not missing, f"docanalyze {path}: {missing} not in the README's {SECTIONS[path]!r}"


def code_lines() -> list[str]:
    """The lines of the README's code blocks."""
    lines, inside = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def test_every_command_line_of_the_readme_uses_options_its_command_has() -> None:
    commands = subcommands()
    for line in code_lines():
        called = re.match(r"(?:\$ )?docanalyze ((?:[a-z]+ ?)+)(.*)", line.strip())
        if called is None:
            continue
        words = called.group(1).split()
        paths = [" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in commands]
        assert paths, f"{line!r}: no such command"
        path = paths[0]
        used = re.findall(FLAG, line.split(" #", 1)[0].split(" | ", 1)[0])
        own = long_flags(commands[path]) | {"--debug", "--help"}
        assert set(used) <= own, f"{line!r}: {set(used) - own} are not options of {path}"


def test_the_plan_section_lists_the_report_options_plan_takes() -> None:
    section = readme_section(SECTIONS["plan"])
    listed = section[section.index("It takes the options of `report`") :].split("\n\n", 1)[0]
    shared = long_flags(subcommands()["plan"]) & set(report_options())
    assert set(re.findall(FLAG, listed)) == shared
