"""Unsupported claims: ``--unsupported mark|drop`` reaches the run, the run says on stderr how
many claims no page supports were marked or left out, and JSON lists every citation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docanalyze.citations.verify import CheckedCitation
from docanalyze.cli import cli
from docanalyze.models.base import Usage
from docanalyze.report.citation_notice import unsupported_notice
from docanalyze.report.result import Report
from docanalyze.run.pipeline import Pipeline

VERIFIED = CheckedCitation("Rent is due monthly.", (2,), "rent is due monthly", "verified", (2,))
CORRECTED = CheckedCitation("The deposit is two months.", (3,), "two months", "corrected", (5,))
UNSUPPORTED = CheckedCitation("Pets are allowed.", (), "pets welcome", "unsupported", (4,))


def checked_report(citations: list[CheckedCitation]) -> Report:
    return Report(
        source="lease.pdf",
        text="# Lease\n\n- Rent is due monthly (p. 2).\n",
        backend="anthropic",
        model="claude-sonnet-5-5",
        page_count=5,
        chunks=[],
        usage=Usage(requests=1),
        reduce_levels=0,
        citations=citations,
    )


def test_the_notice_counts_the_claims_marked_or_left_out() -> None:
    marked = unsupported_notice([VERIFIED, UNSUPPORTED, UNSUPPORTED, UNSUPPORTED], "mark")
    assert marked == (
        "3 claims no page supports are marked ⚠ in the report (--unsupported drop leaves them out)"
    )
    assert unsupported_notice([UNSUPPORTED], "mark") == (
        "1 claim no page supports is marked ⚠ in the report (--unsupported drop leaves them out)"
    )
    assert unsupported_notice([UNSUPPORTED] * 3, "drop") == (
        "3 unsupported claims were left out of the report"
    )
    assert unsupported_notice([UNSUPPORTED], "drop") == (
        "1 unsupported claim was left out of the report"
    )


def test_a_report_without_unsupported_claims_has_no_notice() -> None:
    assert unsupported_notice([VERIFIED, CORRECTED], "mark") is None
    assert unsupported_notice([], "drop") is None


@pytest.fixture
def run_options(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs of ``report`` return :func:`checked_report` with one unsupported claim; the list
    gets each run's ``Options.unsupported``."""
    seen: list[str] = []

    def analyze(self: Pipeline, source: Any) -> Report:
        seen.append(self.options.unsupported)
        return checked_report([VERIFIED, CORRECTED, UNSUPPORTED])

    monkeypatch.setattr(Pipeline, "analyze", analyze)
    return seen


@pytest.mark.parametrize(
    ("args", "mode", "notice"),
    [
        ([], "mark", "1 claim no page supports is marked ⚠ in the report"),
        (["--unsupported", "mark"], "mark", "1 claim no page supports is marked ⚠ in the report"),
        (["--unsupported", "drop"], "drop", "1 unsupported claim was left out of the report"),
    ],
)
def test_unsupported_reaches_the_run_and_the_run_says_so_on_stderr(
    tmp_path: Path, run_options: list[str], args: list[str], mode: str, notice: str
) -> None:
    document = tmp_path / "lease.txt"
    document.write_text("Rent is due monthly.", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", str(document), *args])
    assert result.exit_code == 0, result.output
    assert run_options == [mode]
    *_, said, last = result.stderr.strip().splitlines()
    assert said.startswith(f"docanalyze: {notice}")
    assert last.startswith("docanalyze: ") and "rate-limited" in last, "the usage line is last"
    assert notice not in result.stdout


def test_a_report_whose_claims_are_all_supported_says_nothing_about_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Pipeline, "analyze", lambda self, source: checked_report([VERIFIED]))
    document = tmp_path / "lease.txt"
    document.write_text("Rent is due monthly.", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", str(document), "--unsupported", "mark"])
    assert result.exit_code == 0 and "supports" not in result.stderr


def test_an_unknown_unsupported_mode_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "x.txt", "--unsupported", "hide"])
    assert result.exit_code == 2 and "'mark'" in result.stderr and "'drop'" in result.stderr


def test_json_lists_every_citation_as_claim_pages_quote_status() -> None:
    data = json.loads(checked_report([VERIFIED, CORRECTED, UNSUPPORTED]).to_json())
    assert data["citations"] == [
        {
            "claim": "Rent is due monthly.",
            "pages": [2],
            "quote": "rent is due monthly",
            "status": "verified",
        },
        {
            "claim": "The deposit is two months.",
            "pages": [3],
            "quote": "two months",
            "status": "corrected",
        },
        {
            "claim": "Pets are allowed.",
            "pages": [],
            "quote": "pets welcome",
            "status": "unsupported",
        },
    ]
