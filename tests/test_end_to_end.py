"""The Claude path end to end: the CLI and the API, through the real SDK, over real HTTP,
against the project's fake Messages API server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from fakeserver import FakeMessagesAPI, RecordedRequest

FACT_WITH_DETAIL = re.compile(r"(FACT-\d+)((?: detail)*)")


REPORT_BUDGET = 2000


def halving_responder(request: RecordedRequest) -> str:
    """A stand-in for Claude: keeps every FACT of the prompt, with detail that halves per merge.

    A fact straight from the document (no detail yet) gets 40 words of detail, as an extraction
    would; every later merge halves the detail, so the material shrinks while no fact is lost.
    The final report (the one request that thinks, by default) lists the facts alone.
    """
    if request.body.get("thinking", {}).get("type") == "adaptive":  # only the report thinks
        return " ".join(dict.fromkeys(re.findall(r"FACT-\d+", request.prompt)))
    lines = []
    seen: set[str] = set()
    for fact, detail in FACT_WITH_DETAIL.findall(request.prompt):
        if fact in seen:
            continue
        seen.add(fact)
        words = detail.count("detail")
        lines.append(f"- {fact}{' detail' * (40 if words == 0 else words // 2)}")
    return "\n".join(lines) or "- nothing"


def write_long_document(path: Path, pages: int, page_chars: int) -> set[str]:
    sentence = "The board reviewed operations, budgets and staffing across all regions. "
    filler = (sentence * (page_chars // len(sentence) + 1))[:page_chars]
    texts = [f"FACT-{n:04d} was recorded on page {n}. {filler}" for n in range(1, pages + 1)]
    path.write_text("\f".join(texts), encoding="utf-8")
    return {f"FACT-{n:04d}" for n in range(1, pages + 1)}


def run_cli(server: FakeMessagesAPI, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}
    result = runner.invoke(cli, ["report", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_small_window_forces_two_reduce_levels_and_keeps_every_chunk(
    make_fake_api, tmp_path: Path
) -> None:
    server = make_fake_api(context_window=8000, responder=halving_responder)
    facts = write_long_document(tmp_path / "long.txt", pages=120, page_chars=2500)

    code, out, err = run_cli(
        server,
        str(tmp_path / "long.txt"),
        "--context-window",
        "8000",
        "--max-tokens",
        str(REPORT_BUDGET),
        "--chunk-size",
        "5000",
        "--format",
        "json",
    )

    assert code == 0, err
    result = json.loads(out)
    assert result["reduce_levels"] >= 2
    assert set(re.findall(r"FACT-\d+", result["report"])) == facts
    assert result["chunk_count"] == len(result["chunks"])
    requests = server.requests
    assert all(request.status == 200 for request in requests)
    assert all(request.input_tokens + (request.max_tokens or 0) <= 8000 for request in requests)
    assert result["usage"]["requests"] == len(requests)
    assert "requests" in err and "input tokens" in err


def test_one_million_characters_through_the_cli(make_fake_api, tmp_path: Path) -> None:
    server = make_fake_api(context_window=60_000, responder=halving_responder)
    facts = write_long_document(tmp_path / "big.txt", pages=400, page_chars=2500)
    assert (tmp_path / "big.txt").stat().st_size >= 1_000_000

    code, out, err = run_cli(
        server,
        str(tmp_path / "big.txt"),
        "--context-window",
        "60000",
        "--max-tokens",
        str(REPORT_BUDGET),
    )

    assert code == 0, err
    assert set(re.findall(r"FACT-\d+", out)) == facts
    assert all(request.status == 200 for request in server.requests)
    map_prompts = [r.prompt for r in server.requests if "detail" not in r.prompt]
    assert len(map_prompts) >= 100


def test_the_python_api_reports_usage_and_model(make_fake_api, monkeypatch) -> None:
    server = make_fake_api(responder=halving_responder)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    report = docanalyze.analyze("Intro. FACT-0001 is here.\fAnd FACT-0002 on page two.")
    assert report.backend == "anthropic"
    assert report.model == docanalyze.Options().model
    assert {"FACT-0001", "FACT-0002"} <= set(re.findall(r"FACT-\d+", report.text))
    assert report.usage.requests == len(server.requests) == 2
    assert report.usage.input_tokens == sum(r.input_tokens for r in server.requests)


def test_a_rejected_key_is_one_line_with_advice(make_fake_api, tmp_path: Path) -> None:
    server = make_fake_api(api_key="the-right-key")
    (tmp_path / "a.txt").write_text("Some text to analyze.", encoding="utf-8")
    code, out, err = run_cli(server, str(tmp_path / "a.txt"))
    assert code == 1
    assert out == ""
    assert "ANTHROPIC_API_KEY" in err and "test-key" not in err
    assert len(err.strip().splitlines()) == 1
    assert len(server.requests) == 1


def test_the_bundled_pdf_with_claude(make_fake_api, fixtures_dir: Path) -> None:
    server = make_fake_api()
    code, out, err = run_cli(server, str(fixtures_dir / "sample-en.pdf"), "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["page_count"] > 1
    assert all(chunk["first_page"] >= 1 for chunk in result["chunks"])
    final_prompt = server.requests[-1].prompt
    assert "(p." in final_prompt or "[Page" in final_prompt
