"""The ``docanalyze`` command line: the only part of docanalyze that loads click and rich.

It parses options, calls the Python API and formats output. stdout carries the result; stderr
carries progress, notices and the usage line.
"""

from docanalyze.cli import (
    extract_command as _extract_command,  # noqa: F401  (registers `extract`)
    history_commands as _history_commands,
    plan_command as _plan_command,  # noqa: F401  (registers `plan`)
    prompts_command as _prompts_command,
)
from docanalyze.cli.app import cli, main
from docanalyze.cli.report_command import report

del _history_commands
del _prompts_command

__all__ = ["cli", "main", "report"]
