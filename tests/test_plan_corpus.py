"""``docanalyze plan`` for several files, a folder or a glob: rows, totals, time, and a real run."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.corpus.runner import analyze_corpus
from docanalyze.cost import input_tokens_with_cache
from docanalyze.options import Options
from docanalyze.planning.corpus import CALIBRATION_DOCUMENTS, CorpusPlan, plan_corpus
from docanalyze.planning.pace import Pace, PlannedRequest, corpus_time
from docanalyze.planning.plan import plan_run
from docanalyze.run.pipeline import Pipeline
from fakeserver import FakeMessagesAPI
from fixtures.texts import SAMPLE_EN, page_text
from tests.test_plan import sized_responder, use_fake_api

MakeFakeApi = Callable[..., FakeMessagesAPI]
TOLERANCE = 0.10


def write_corpus(folder: Path, count: int) -> list[Path]:
    """``count`` small text files of one to three pages (one chunk each at the defaults)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        pages = [page_text(SAMPLE_EN[(number + n) % len(SAMPLE_EN)]) for n in range(number % 3 + 1)]
        path = folder / f"doc-{number:03d}.txt"
        path.write_text("\f".join(pages), encoding="utf-8")
        paths.append(path)
    return paths


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_adds_up(plan: CorpusPlan, paths: list[Path]) -> None:
    """One row per file, each the file's own plan, and totals that add the rows."""
    singles = [plan_run(str(path)) for path in paths]
    assert [row.source for row in plan.plans] == [str(path) for path in paths]
    for row, single in zip(plan.plans, singles):
        assert (row.requests, row.input_tokens, row.output_tokens, row.page_count) == (
            single.requests,
            single.input_tokens,
            single.output_tokens,
            single.page_count,
        )
    assert plan.requests == sum(single.requests for single in singles)
    assert plan.input_tokens == sum(single.input_tokens for single in singles)
    assert plan.output_tokens == sum(single.output_tokens for single in singles)
    assert plan.page_count == sum(single.page_count for single in singles)
    assert plan.standard_cost == pytest.approx(sum(single.cost or 0 for single in singles))
    assert plan.batch_cost == pytest.approx(plan.standard_cost / 2)


def test_a_folder_several_files_and_a_glob_plan_every_document(tmp_path: Path) -> None:
    paths = write_corpus(tmp_path / "docs", 5)
    (tmp_path / "docs" / "notes.csv").write_text("not a document", encoding="utf-8")

    assert_adds_up(plan_corpus([str(tmp_path / "docs")]), paths)
    assert_adds_up(plan_corpus([str(paths[0]), str(paths[3])]), [paths[0], paths[3]])
    assert_adds_up(plan_corpus([str(tmp_path / "docs" / "doc-00[12].txt")]), paths[1:3])


def test_a_file_that_cannot_be_read_is_a_failure_and_the_others_are_planned(
    tmp_path: Path,
) -> None:
    paths = write_corpus(tmp_path / "docs", 2)
    (tmp_path / "docs" / "empty.txt").write_text("", encoding="utf-8")

    plan = plan_corpus([str(tmp_path / "docs")])

    assert [row.source for row in plan.plans] == [str(path) for path in paths]
    assert [failure.source for failure in plan.failures] == [str(tmp_path / "docs" / "empty.txt")]
    code, out, _ = invoke("plan", str(tmp_path / "docs"))
    assert code == 1 and "1 document cannot be planned" in out and "empty.txt is empty" in out


def test_the_time_shares_the_limits_between_documents() -> None:
    pace = Pace(concurrency=10, first_token_seconds=1.0, output_tokens_per_second=1e9)
    one_document = [[PlannedRequest(1000, 10)], [PlannedRequest(500, 10)]]  # map, final
    assert corpus_time(pace, [one_document]).seconds == pytest.approx(2.0)
    many = corpus_time(pace, [one_document] * 100)  # 8 slots for 1 s, then 192 requests in 10
    assert (many.seconds, many.bound) == (pytest.approx(1 + 19.2), "--concurrency 10")
    capped = corpus_time(replace(pace, concurrency=1000, rpm=60), [one_document] * 100)
    # a bucket starts full: 60 requests at once, the other 140 at one a second
    assert capped.bound == "--rpm 60" and capped.seconds == pytest.approx(140 + 1.0, abs=0.1)


def test_the_command_plans_a_folder_with_a_row_per_document_in_json(tmp_path: Path) -> None:
    paths = write_corpus(tmp_path / "docs", 3)

    code, out, err = invoke("plan", str(tmp_path / "docs"), "--rpm", "4000")
    assert code == 0 and err == ""
    plan = plan_corpus([str(tmp_path / "docs")], rpm=4000)
    assert f"3 documents, {plan.page_count} pages, 3 chunks, {plan.requests} requests" in out
    assert "with --batch" in out and "Estimated time:" in out and "bound by" in out

    code, out, _ = invoke("plan", *map(str, paths), "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["documents"] == 3
    assert [row["source"] for row in result["per_document"]] == [str(path) for path in paths]
    assert result["requests"] == sum(row["requests"] for row in result["per_document"])
    assert result["cost"]["batch"] == pytest.approx(result["cost"]["standard"] / 2, abs=1e-6)


def test_one_file_keeps_the_one_document_plan(tmp_path: Path) -> None:
    (path,) = write_corpus(tmp_path, 1)
    code, out, _ = invoke("plan", str(path), "--format", "json")
    assert code == 0 and "stages" in json.loads(out)


def test_the_plan_matches_a_real_run_of_the_folder_on_the_fake_server(
    make_fake_api: MakeFakeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "docs", 40)
    settings = {"thinking": "off"}  # thinking is the model's to choose; the rest is planned
    plan = plan_corpus([str(tmp_path / "docs")], **settings)
    server = make_fake_api(responder=sized_responder, model_rules=True)
    use_fake_api(monkeypatch, server)

    summary = analyze_corpus(
        Pipeline(Options(backend="anthropic", **settings)),
        [str(tmp_path / "docs")],
        tmp_path / "out",
    )

    assert summary.complete == plan.documents == 40
    assert plan.requests == summary.usage.requests
    actual_input = input_tokens_with_cache(summary.usage)
    assert plan.input_tokens == pytest.approx(actual_input, rel=TOLERANCE)
    assert plan.output_tokens == pytest.approx(summary.usage.output_tokens, rel=TOLERANCE)


def test_dry_run_on_a_folder_shows_the_first_document_and_how_many_follow(
    tmp_path: Path,
) -> None:
    paths = write_corpus(tmp_path / "docs", 4)

    code, out, err = invoke("report", str(tmp_path / "docs"), "--dry-run")

    assert code == 0
    assert out.startswith(f"docanalyze dry run: {paths[0]},") and str(paths[1]) not in out
    assert "and 3 more documents follow" in err
    code, out, err = invoke("report", str(paths[2]), str(paths[3]), "--dry-run")
    assert code == 0 and f"dry run: {paths[2]}," in out and "and 1 more document follows" in err


def test_exact_counts_the_first_documents_and_calibrates_the_others(
    make_fake_api: MakeFakeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths = write_corpus(tmp_path / "docs", CALIBRATION_DOCUMENTS + 2)
    estimated = plan_corpus([str(tmp_path / "docs")])
    server = make_fake_api(model_rules=True)
    use_fake_api(monkeypatch, server)

    plan = plan_corpus([str(tmp_path / "docs")], exact=True)

    assert server.requests == []  # no message request
    counted = [request.input_tokens for request in server.token_counts]
    assert len(counted) == CALIBRATION_DOCUMENTS  # one map prompt a document
    ratio = sum(counted) / sum(p.stages[0].input_tokens for p in estimated.plans[:3])
    assert plan.calibration == pytest.approx(ratio) and ratio < 1
    assert [p.stages[0].input_tokens for p in plan.plans[:3]] == counted
    for calibrated, guess in zip(plan.plans[3:], estimated.plans[3:]):
        assert calibrated.stages[0].input_tokens == math.ceil(guess.stages[0].input_tokens * ratio)
    assert len(plan.plans) == len(paths) and "calibration" in plan.to_dict()
