"""The output formats are registered once (docanalyze/report/formats.py), and the CLI's
``--format``, ``-o DIR``, ``--stream`` and the corpus runner all read that registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.corpus.runner import analyze_corpus
from docanalyze.errors import ConfigError
from docanalyze.report.formats import (
    FORMATS,
    OutputFormat,
    format_names,
    output_format,
    register_format,
    report_format_names,
)
from docanalyze.report.result import Report
from docanalyze.run.pipeline import Pipeline

NOTE = "The pump at station 4 was inspected in March. FACT-{n} is recorded here.\n"


def plain_text(report: Report) -> str:
    return f"TXT {report.source}\n{report.text.strip()}\n"


@pytest.fixture
def txt_format() -> Iterator[OutputFormat]:
    """A ``txt`` format registered for one test."""
    yield register_format(OutputFormat("txt", ".txt", plain_text))
    del FORMATS["txt"]


def write_notes(folder: Path, count: int = 2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"note{n}.md"
        path.write_text(NOTE.format(n=n), encoding="utf-8")
        paths.append(path)
    return paths


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_registry_holds_md_json_and_html_with_their_suffixes() -> None:
    assert format_names() == ("md", "json", "html", "jsonl", "csv")  # jsonl, csv: records only
    assert report_format_names() == ("md", "json", "html")
    assert {name: FORMATS[name].suffix for name in report_format_names()} == {
        "md": ".md",
        "json": ".json",
        "html": ".html",
    }
    assert [name for name in format_names() if output_format(name).streams] == ["md"]


def test_each_format_renders_as_the_report_methods_do(tmp_path: Path) -> None:
    (note,) = write_notes(tmp_path, 1)
    report = docanalyze.analyze(str(note))
    assert output_format("md").render(report) == report.to_markdown()
    assert output_format("json").render(report) == report.to_json()
    assert output_format("html").render(report) == report.to_html()


def test_an_unknown_format_is_a_config_error_naming_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'pdf'.*md, json, html"):
        output_format("pdf")
    write_notes(tmp_path / "docs")
    with pytest.raises(ConfigError, match="'pdf'.*md, json, html"):
        analyze_corpus(Pipeline(), [str(tmp_path / "docs")], tmp_path / "out", output_format="pdf")


def test_a_registered_format_is_a_choice_of_the_cli(
    tmp_path: Path, txt_format: OutputFormat
) -> None:
    (note,) = write_notes(tmp_path, 1)
    code, out, err = invoke("report", str(note), "--format", "txt", "-q")
    assert code == 0, err
    assert out == plain_text(docanalyze.analyze(str(note)))
    code, out, _ = invoke("report", "--help")
    assert "[md|json|html|txt]" in out


def test_a_registered_format_names_the_files_of_an_output_folder(
    tmp_path: Path, txt_format: OutputFormat
) -> None:
    first, second = write_notes(tmp_path / "docs")
    out = tmp_path / "out"
    code, _, err = invoke("report", str(first), str(second), "--format", "txt", "-o", str(out))
    assert code == 0, err
    assert (out / "note0.txt").read_text(encoding="utf-8").startswith(f"TXT {first}\n")
    assert (out / "note1.txt").is_file()


def test_the_corpus_runner_writes_a_registered_format_with_its_suffix(
    tmp_path: Path, txt_format: OutputFormat
) -> None:
    docs = tmp_path / "docs"
    first, _ = write_notes(docs)
    summary = analyze_corpus(Pipeline(), [str(docs)], tmp_path / "out", output_format="txt")
    assert summary.complete == 2
    entries = [json.loads(line) for line in summary.index_path.read_text().splitlines()]
    assert sorted(entry["report"] for entry in entries) == ["note0.txt", "note1.txt"]
    text = (tmp_path / "out" / "note0.txt").read_text(encoding="utf-8")
    assert text == plain_text(docanalyze.analyze(str(first)))


def test_several_reports_of_a_format_without_its_own_joining_follow_each_other(
    tmp_path: Path, txt_format: OutputFormat
) -> None:
    first, second = write_notes(tmp_path)
    code, out, err = invoke("report", str(first), str(second), "--format", "txt", "-q")
    assert code == 0, err
    assert out == plain_text(docanalyze.analyze(str(first))) + plain_text(
        docanalyze.analyze(str(second))
    )


def test_stream_asks_the_format_whether_it_can_stream(tmp_path: Path) -> None:
    (note,) = write_notes(tmp_path, 1)
    register_format(OutputFormat("live", ".md", Report.to_markdown, streams=True))
    try:
        code, out, err = invoke("report", str(note), "--format", "live", "--stream", "-q")
    finally:
        del FORMATS["live"]
    assert code == 0, err
    assert out == docanalyze.analyze(str(note)).to_markdown()
    code, _, err = invoke("report", str(note), "--format", "json", "--stream", "-q")
    assert code == 2
    assert "--stream writes Markdown to stdout" in err
