"""A Chinese PDF end to end with the default templates: offline, and through the fake server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.document import PAGE_MARKER_RE
from docanalyze.ingest.chunking import split_document
from docanalyze.ingest.sources import resolve_document
from docanalyze.models.extractive.textunits import split_citation, split_marked_text
from fakeserver import FakeMessagesAPI, RecordedRequest
from tests.fakes import citing, given_points, is_map, is_reduce, part_text

CHUNK_SIZE = 200
CHINESE_NAME = "Chinese (简体中文)"
HAN = re.compile("[\u4e00-\u9fff]")


def sample_zh(fixtures_dir: Path) -> str:
    return str(fixtures_dir / "sample-zh.pdf")


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def cited_pages(report: str) -> set[int]:
    """The pages cited at the end of the report's bullets (parsed as textunits reads them)."""
    pages: set[int] = set()
    for line in report.splitlines():
        if line.startswith("- "):
            text, cited = split_citation(line[2:])
            assert cited, f"bullet without a citation: {line}"
            assert HAN.search(text), f"bullet not in Chinese: {line}"
            pages |= cited
    return pages


def test_chunks_of_the_chinese_pdf_end_at_sentence_ends(fixtures_dir: Path) -> None:
    document = resolve_document(sample_zh(fixtures_dir))
    chunks = split_document(document, chunk_size=CHUNK_SIZE, chunk_overlap=0)
    assert len(chunks) >= 4
    for chunk in chunks:
        assert document.text[chunk.start : chunk.end].rstrip()[-1] in "。！？；", chunk


def test_offline_report_is_in_chinese_with_page_citations(fixtures_dir: Path) -> None:
    code, out, err = invoke(
        sample_zh(fixtures_dir), "--chunk-size", str(CHUNK_SIZE), "--format", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["chunk_count"] >= 4
    report = result["report"]
    assert report.startswith("# 报告：")
    assert "离线抽取式分析器" in report and "Made offline" not in report
    overview, key_points = report.split("\n\n## 要点\n\n")
    assert "\n\n## 概述\n\n" in overview
    assert "Overview" not in report and "Key points" not in report
    assert cited_pages(key_points) == {1, 2, 3, 4, 5}
    for chunk in result["chunks"]:
        assert all(line.rstrip().endswith(")") for line in chunk["text"].splitlines())


def test_offline_chinese_question_is_answered_in_chinese(fixtures_dir: Path) -> None:
    code, out, err = invoke(
        sample_zh(fixtures_dir),
        "--chunk-size",
        str(CHUNK_SIZE),
        "--question",
        "公司计划在哪里设立欧洲服务中心？",
    )
    assert code == 0, err
    answer = out.split("## 回答\n\n")[1].split("\n\n")[0]
    assert "德国" in answer and "(p. 5)" in answer


def chinese_responder(request: RecordedRequest) -> str:
    """A Claude stand-in that answers in Chinese: each map quotes its part's sentences with their
    pages, each merge keeps every bullet, the final report has Chinese headings."""
    text = part_text(request)
    if text is not None:
        sentences = split_marked_text(text)
        return "\n".join(f"- {s.text}（要点）(p. {min(s.pages)})" for s in sentences if s.pages)
    bullets = [line for line in given_points(request) if split_citation(line)[1]]
    if is_reduce(request):
        return "\n".join(bullets)
    return (
        "# 报告\n\n## 概述\n\n华晨智能科技二〇二三年业绩增长 (p. 1)。\n\n## 主要发现\n\n"
        + "\n".join(bullets)
    )


def test_claude_is_asked_for_chinese_and_the_report_keeps_page_citations(
    make_fake_api: Callable[..., FakeMessagesAPI], fixtures_dir: Path
) -> None:
    server = make_fake_api(responder=citing(chinese_responder))
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}
    code, out, err = invoke(sample_zh(fixtures_dir), "--chunk-size", str(CHUNK_SIZE), env=env)
    assert code == 0, err
    prompts = [request.prompt for request in server.requests]
    maps = [request for request in server.requests if is_map(request)]
    assert len(maps) >= 4
    assert all(f"Write in {CHINESE_NAME}" in request.prompt for request in maps)
    assert f"Write the whole report in {CHINESE_NAME}, headings included" in prompts[-1]
    parts = "\n".join(part_text(request) or "" for request in maps)
    assert {int(n) for n in PAGE_MARKER_RE.findall(parts)} == {1, 2, 3, 4, 5}
    assert "董事会建议向全体股东每十股派发现金红利三元" in parts
    assert out.startswith("# 报告")
    assert cited_pages(out) == {1, 2, 3, 4, 5}
    assert out.rstrip().endswith(", 0 unsupported.") and "⚠" not in out
