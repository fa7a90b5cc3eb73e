"""The command line, through click's runner: output streams, formats, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from docanalyze.cli import cli


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_report_without_a_key_is_offline_and_says_so(fixtures_dir: Path) -> None:
    code, out, err = invoke("report", str(fixtures_dir / "sample-en.pdf"))
    assert code == 0
    assert out.startswith("# Report: ")
    assert "(p. " in out and "offline" in out
    assert "ANTHROPIC_API_KEY is not set" in err
    assert "ANTHROPIC_API_KEY" not in out


def test_json_has_chunks_pages_usage_model_and_timings(fixtures_dir: Path) -> None:
    code, out, _ = invoke(
        "report", str(fixtures_dir / "sample-en.pdf"), "--format", "json", "--chunk-size", "1500"
    )
    assert code == 0
    result = json.loads(out)
    assert result["model"] == "extractive" and result["offline"] is True
    assert result["page_count"] == 7
    assert len(result["chunks"]) == result["chunk_count"] > 1
    assert result["chunks"][0]["first_page"] == 1 and result["chunks"][-1]["last_page"] == 7
    assert set(result["usage"]) >= {"requests", "input_tokens", "output_tokens"}
    assert set(result["timings"]) >= {"map", "reduce", "final", "total"}


def test_output_file_leaves_stdout_empty(fixtures_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    code, out, _ = invoke("report", str(fixtures_dir / "sample.txt"), "-o", str(target), "-q")
    assert code == 0 and out == ""
    assert target.read_text(encoding="utf-8").startswith("# Report: ")


def test_stdin_is_read_with_a_dash() -> None:
    code, out, _ = invoke(
        "report", "-", "-q", input="The pump failed twice in March. Repairs cost 4,000 euros."
    )
    assert code == 0
    assert "<stdin>" in out and "pump" in out


def test_quiet_silences_stderr(fixtures_dir: Path) -> None:
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"), "--quiet")
    assert code == 0 and err == ""


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.pdf", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "empty.txt", b""), "is empty"),
        (
            lambda d: _write(d / "image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8),
            "not a document",
        ),
        (
            lambda d: _write(d / "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog"),
            "not a readable PDF",
        ),
    ],
)
def test_bad_inputs_give_one_line_and_exit_1(tmp_path: Path, make, expected: str) -> None:
    code, out, err = invoke("report", str(make(tmp_path)))
    assert code == 1
    assert out == ""
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "missing.txt"), "--debug"])
    assert result.exit_code == 1
    assert result.exception is not None and "does not exist" in str(result.exception)


def test_usage_errors_exit_2() -> None:
    assert invoke("report")[0] == 2
    assert invoke("report", "x.txt", "--format", "pdf")[0] == 2
    assert invoke("report", "x.txt", "--var", "novalue")[0] == 2


def test_invalid_option_values_are_one_line_errors(fixtures_dir: Path) -> None:
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"), "--chunk-overlap", "9000")
    assert code == 1 and "--chunk-overlap" in err


def test_custom_prompts_and_variables_reach_the_template(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    (tmp_path / "map.j2").write_text("Audience: {{ audience }}\n{{ text }}", encoding="utf-8")
    code, _, err = invoke(
        "report",
        str(fixtures_dir / "sample.txt"),
        "--prompts",
        str(tmp_path),
        "--var",
        "audience=lawyers",
        "-q",
    )
    assert code == 0, err
    (tmp_path / "map.j2").write_text("{{ chunk_text }}", encoding="utf-8")
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"), "--prompts", str(tmp_path))
    assert code == 1
    assert "map.j2, line 1" in err and "'chunk_text' is undefined" in err and "text" in err


def test_every_help_has_examples() -> None:
    for args in (["--help"], ["report", "--help"]):
        code, out, _ = invoke(*args)
        assert code == 0 and "Examples:" in out


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
