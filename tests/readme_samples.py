"""The README's sample outputs, made by running the commands they show on the bundled fixtures.

A sample is a ``text`` block whose first line is ``$ docanalyze ...``: the rest of the block is
what that command prints (offline, without an API key). ``tests/test_readme.py`` checks every
sample against a run; ``python -m tests.readme_samples`` rewrites them in README.md.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from pathlib import Path

from click.testing import CliRunner

from docanalyze.cli import cli

PROJECT_ROOT = Path(__file__).resolve().parent.parent
README_PATH = PROJECT_ROOT / "README.md"
SAMPLE = re.compile(r"^```text\n\$ (docanalyze [^\n]*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
"""A sample block: the command after ``$ ``, then its output."""


def samples(readme: str) -> list[tuple[str, str]]:
    """Each sample of ``readme``: its command and the output the README shows."""
    return [(match.group(1), match.group(2)) for match in SAMPLE.finditer(readme)]


def command_output(command: str) -> str:
    """What ``command`` prints on stdout, run from the project root without an API key."""
    arguments = shlex.split(command)[1:]
    with tempfile.TemporaryDirectory() as home:
        env = {"ANTHROPIC_API_KEY": None, "ANTHROPIC_BASE_URL": None, "DOCANALYZE_HOME": home}
        start = Path.cwd()
        os.chdir(PROJECT_ROOT)
        try:
            result = CliRunner().invoke(cli, arguments, env=env)
        finally:
            os.chdir(start)
    if result.exit_code != 0:
        raise RuntimeError(f"{command} exited {result.exit_code}: {result.stderr}")
    return result.stdout


def regenerated(readme: str) -> str:
    """``readme`` with every sample's output replaced by a fresh run of its command."""

    def rerun(match: re.Match[str]) -> str:
        return f"```text\n$ {match.group(1)}\n{command_output(match.group(1))}```"

    return SAMPLE.sub(rerun, readme)


def main() -> None:
    """Rewrite README.md's samples; say which changed."""
    readme = README_PATH.read_text(encoding="utf-8")
    updated = regenerated(readme)
    changed = [
        command for (command, old), (_, new) in zip(samples(readme), samples(updated)) if old != new
    ]
    README_PATH.write_text(updated, encoding="utf-8")
    for command in changed:
        print(f"updated the output of: {command}")
    print(f"{len(samples(updated))} samples, {len(changed)} updated")


if __name__ == "__main__":
    main()
