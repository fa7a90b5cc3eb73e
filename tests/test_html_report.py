"""``--format html``: a standalone, well-formed, escaped page; Markdown rendered on a terminal."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.models.base import Usage
from docanalyze.report.html import render_html
from docanalyze.report.markdown import markdown_to_html
from docanalyze.report.result import ChunkResult, Report

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


class TagChecker(HTMLParser):
    """Collects the text and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == [], (checker.errors, checker.stack)
    return checker


CITE_ELEMENT = re.compile(
    r'<span class="cite"[^>]*><(a|span)[^>]*>([^<]*)</\1>.*?</span></span></span>'
)


def without_cite_elements(page: str) -> str:
    """``page`` with each citation element (quote popover, page link) back to its pages."""
    return CITE_ELEMENT.sub(r"\2", page)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def hostile_report() -> Report:
    return Report(
        source="evil <b>name</b>.pdf",
        text="# Report\n\n- Alert: <script>alert('model')</script> (p. 1)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        backend="anthropic",
        model="claude-sonnet-5-5",
        page_count=2,
        chunks=[
            ChunkResult(0, 1, 1, "- <img src=x onerror=alert(1)> (p. 1)", "claude-sonnet-5-5"),
            ChunkResult(1, 2, 2, "- [link](javascript:alert(1)) (p. 2)", "claude-sonnet-5-5"),
        ],
        usage=Usage(requests=3, input_tokens=1200, output_tokens=300),
        reduce_levels=0,
        truncated=True,
        cost=0.0081,
        notices=["a <notice>"],
    )


def test_html_escapes_markup_from_documents_and_models() -> None:
    page = render_html([hostile_report()])
    checker = parse(page)
    assert "script" not in checker.tags and "img" not in checker.tags
    assert "&lt;script&gt;alert('model')&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="javascript' not in page
    assert "evil &lt;b&gt;name&lt;/b&gt;.pdf" in page and "a &lt;notice&gt;" in page


def test_html_shows_header_tables_and_every_chunk() -> None:
    page = render_html([hostile_report()])
    checker = parse(page)
    text = " ".join(checker.text)
    assert "table" in checker.tags and "th" in checker.tags
    assert checker.tags.count("details") >= 2 and "Chunk 1" in text and "Chunk 2" in text
    assert "p. 1" in text and "p. 2" in text
    assert "$0.0081" in text and "1,200 in" in text and "Truncated" in text
    assert "<link" not in page and "url(" not in page and "<script" not in page


def test_cli_html_of_the_pdf_holds_the_report_and_every_chunk(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    source = str(fixtures_dir / "sample-en.pdf")
    code, out, err = invoke("report", source, "--format", "html", "--chunk-size", "1500", "-q")
    assert code == 0, err
    checker = parse(out)
    report = docanalyze.analyze(source, chunk_size=1500)
    text = " ".join(checker.text)
    assert len(report.chunks) > 1
    for chunk in report.chunks:
        assert f"Chunk {chunk.index + 1}" in text
        assert chunk.text.splitlines()[0].lstrip("- ")[:40] in text
    assert "Offline" in text and "Overview" in text
    assert out.startswith("<!DOCTYPE html>") and "<script" not in out


NUMBERED_QUOTES = (
    "2) Sei X eine Menge und d eine Metrik auf X.",
    "1) X = R mit d(x, y) = |x - y| ist vollständig.",
)


def numbered_report(text: str, backend: str = "anthropic") -> Report:
    return Report(
        source="analysis.pdf",
        text=text,
        backend=backend,
        model="claude-sonnet-5-5" if backend == "anthropic" else "extractive",
        page_count=3,
        chunks=[ChunkResult(0, 1, 3, f"- {NUMBERED_QUOTES[0]} (p. 3)", "claude-sonnet-5-5")],
        usage=Usage(requests=2),
        reduce_levels=0,
    )


@pytest.mark.parametrize("quote", NUMBERED_QUOTES)
def test_html_shows_a_quote_that_begins_with_a_number_as_written(quote: str) -> None:
    text = f"# Report\n\n- {quote} (p. 3)\n- Another point. (p. 2)\n\n> {quote}\n"
    page = render_html([numbered_report(text)])
    checker = parse(page)
    assert "ol" not in checker.tags
    page = without_cite_elements(page)
    assert f"<li>{quote} (p. 3)</li>" in page and f"<p>{quote}</p>" in page


def test_html_keeps_a_numbered_list_the_model_wrote() -> None:
    page = render_html([numbered_report("# Report\n\n1. First step. (p. 1)\n2. Second. (p. 2)\n")])
    page = without_cite_elements(page)
    assert "<ol>\n<li>First step. (p. 1)</li>" in page


def test_a_numbered_line_in_a_code_block_is_left_alone() -> None:
    html = markdown_to_html("```\n- 2) Sei X\n```\n", quoted=True)
    assert html == "<pre><code>- 2) Sei X\n</code></pre>\n"


@pytest.mark.parametrize("quote", NUMBERED_QUOTES)
def test_html_of_an_offline_report_shows_every_numbered_quote_as_written(
    tmp_path: Path, quote: str
) -> None:
    document = tmp_path / "skript.txt"
    document.write_text(f"{quote} Das gilt auf jeder Seite.\n\n3) Jede Folge konvergiert.\n")
    code, out, _ = invoke("report", str(document), "--format", "html", "-q")
    assert code == 0
    assert "<ol" not in out
    opening = quote[: quote.index(" ", 5)]  # "2) Sei X", "1) X = R"
    assert f"<p>{opening} " in out and f"<li>{opening} " in out


def test_cli_html_escapes_script_in_a_document(tmp_path: Path) -> None:
    document = tmp_path / "page.txt"
    document.write_text(
        "The vendor shipped a login page containing <script>steal()</script> in March. "
        "The audit found the script in every build of the quarter.\n",
        encoding="utf-8",
    )
    code, out, _ = invoke("report", str(document), "--format", "html", "-q")
    assert code == 0
    assert "<script>" not in out and "&lt;script&gt;steal()&lt;/script&gt;" in out
    parse(out)


def test_markdown_is_rendered_on_a_terminal_and_raw_when_piped(
    fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = str(fixtures_dir / "sample.txt")
    expected = docanalyze.analyze(source).to_markdown()
    code, piped, _ = invoke("report", source, "-q")
    assert code == 0 and piped == expected
    monkeypatch.setattr("docanalyze.cli.report_command.stdout_is_terminal", lambda: True)
    code, rendered, _ = invoke("report", source, "-q", "--no-stream")
    assert code == 0
    assert "# Report:" not in rendered and "Report:" in rendered
    assert "## Overview" not in rendered and "Overview" in rendered
    code, streamed, _ = invoke("report", source, "-q")
    assert code == 0 and streamed == expected
