"""The README stays true: its newcomer commands run, and it documents every option."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from docanalyze.cli import report
from tests.conftest import PROJECT_ROOT

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
