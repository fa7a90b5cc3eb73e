"""Exit codes: 2 for every usage error, before any work; 3 for every incomplete report, which is
still written, on the command line, in a corpus index line and in the Python API's result."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

import docanalyze
from docanalyze.errors import EXIT_INCOMPLETE, EXIT_USAGE, IncompleteRun, UsageError
from docanalyze.models.base import ModelReply, ModelRequest
from docanalyze.store import RunStore
from fakeserver import FailMatching, FakeMessagesAPI, RecordedRequest
from tests import test_cli
from tests.fakes import FACT, RecordingModel, facts_responder

invoke = test_cli.invoke
use_model = test_cli.use_model  # a fixture: the CLI's pipeline runs with the model given

FILLER = "The committee reviewed the accounts, the staffing and the schedule in detail. " * 30


def write_document(folder: Path, pages: int = 60) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "long.txt"
    texts = [f"FACT-{n:04d} was recorded on page {n}. {FILLER}" for n in range(1, pages + 1)]
    path.write_text("\f".join(texts), encoding="utf-8")
    return path


@dataclass
class IncompleteModel(RecordingModel):
    """A model whose run ends with an incomplete report of one ``kind``: ``cut`` (every part of
    the report runs past its budget), ``refused`` (a map request is refused) or ``cost`` (the
    run is given a ``--max-cost`` it cannot finish within)."""

    kind: str = "cut"
    name: str = "claude-sonnet-5-5"

    async def complete(self, request: ModelRequest) -> ModelReply:
        reply = await super().complete(request)
        if self.kind == "refused" and request.stage == "map" and "FACT-0005" in request.prompt:
            return ModelReply("", "refusal", self.name, reply.usage)
        return reply


def long_finals(request: ModelRequest) -> str:
    digression = "\nA long digression on the schedule." * 3000 if request.stage == "final" else ""
    return facts_responder(request) + digression


KINDS: dict[str, tuple[Callable[[], IncompleteModel | None], dict[str, Any], list[str]]] = {
    "cut": (lambda: IncompleteModel(kind="cut", responder=long_finals), {}, []),
    "refused": (lambda: IncompleteModel(kind="refused"), {}, []),
    "cost": (lambda: IncompleteModel(kind="cost"), {"max_cost": 0.05}, ["--max-cost", "0.05"]),
    # the fake Messages API answers 500 to every request with page 5: the chunk fails for good
    "failed chunk": (lambda: None, {"max_attempts": 2}, []),
}


def facts_only(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(FACT.findall(request.prompt))) or "nothing"


def fail_page_5(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> FailMatching:
    """Point the Claude backend at a fake Messages API that fails every request holding page 5
    (retried twice at most, from the CLI too): that chunk's map request fails for good."""
    failing = FailMatching("FACT-0005")
    server = make_fake_api(responder=facts_only, policies=[failing])
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    create_model = docanalyze.run.pipeline.create_model

    def with_few_attempts(options: docanalyze.Options, **kwargs: Any) -> Any:
        return create_model(replace(options, max_attempts=2), **kwargs)

    monkeypatch.setattr(docanalyze.run.pipeline, "create_model", with_few_attempts)
    return failing


@pytest.fixture
def use_kind(
    use_model: Callable[[RecordingModel], RecordingModel],
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], None]:
    """``use_kind(kind)`` makes the CLI's runs end with an incomplete report of that kind."""

    def install(kind: str) -> None:
        model = KINDS[kind][0]()
        if model is None:
            fail_page_5(make_fake_api, monkeypatch)
        else:
            use_model(model)

    return install


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_incomplete_report_is_written_and_exits_3_on_the_cli(
    kind: str, use_kind: Callable[[str], None], tmp_path: Path
) -> None:
    _, _, args = KINDS[kind]
    use_kind(kind)
    document = write_document(tmp_path / "docs")
    code, out, _ = invoke("report", str(document), "--chunk-size", "3000", *args, "-q")
    assert code == EXIT_INCOMPLETE == 3
    assert "incomplete" in out.lower() and "FACT-0001" in out, "the report is written"
    code, out, _ = invoke(
        "report", str(document), "--chunk-size", "3000", *args, "-q", "--format", "json"
    )
    assert code == 3 and json.loads(out)["complete"] is False
    assert json.loads(out)["exit_code"] == 3


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_incomplete_report_is_an_incomplete_corpus_row_and_exits_3(
    kind: str, use_kind: Callable[[str], None], tmp_path: Path
) -> None:
    _, _, args = KINDS[kind]
    use_kind(kind)
    write_document(tmp_path / "docs")
    out = tmp_path / "out"
    code, _, err = invoke(
        "report", str(tmp_path / "docs"), "-o", str(out), "--chunk-size", "3000", *args, "-q"
    )
    assert code == 3, err
    [row] = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert (row["status"], row["exit_code"]) == ("incomplete", 3)
    assert row["error"] and (out / row["report"]).is_file()
    assert "1 incomplete, 0 failed" in err


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_incomplete_report_says_so_in_the_api(
    kind: str,
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    make_model, options, _ = KINDS[kind]
    model = make_model()
    if model is None:
        fail_page_5(make_fake_api, monkeypatch)
    pipeline = docanalyze.Pipeline(client=model, chunk_size=3000, **options)
    try:
        report = pipeline.analyze(write_document(tmp_path))
    except IncompleteRun as stop:
        report = stop.report
    assert report.complete is False and report.exit_code == 3
    assert report.to_dict()["exit_code"] == 3


def test_a_complete_report_exits_0_everywhere(
    use_model: Callable[[RecordingModel], RecordingModel], tmp_path: Path
) -> None:
    use_model(IncompleteModel(kind="none"))
    document = write_document(tmp_path / "docs")
    assert invoke("report", str(document), "--chunk-size", "3000", "-q")[0] == 0
    report = docanalyze.Pipeline(client=IncompleteModel(kind="none"), chunk_size=3000).analyze(
        document
    )
    assert report.complete and report.exit_code == 0


@pytest.mark.parametrize("combine", [False, True], ids=["each", "combined"])
def test_several_documents_with_an_incomplete_report_exit_3(
    combine: bool, use_model: Callable[[RecordingModel], RecordingModel], tmp_path: Path
) -> None:
    use_model(IncompleteModel(kind="cut", responder=long_finals))
    first = write_document(tmp_path / "a")
    second = write_document(tmp_path / "b", pages=3)
    args = ["report", str(first), str(second), "--chunk-size", "3000", "-q"]
    code, out, _ = invoke(*args, *(["--combine"] if combine else []))
    assert code == 3 and "This report is incomplete" in out


USAGE_ERRORS = [
    (["DOCS", "--ray", "--batch"], "--batch cannot be combined with --ray"),
    (["DOC", "DOC", "--combine", "--max-cost", "1"], "--max-cost does not work with --combine"),
    (["DOC", "--chunk-size", "3000", "--chunk-overlap", "2000"], "--chunk-overlap must be"),
    (["DOC", "--max-cost", "0"], "--max-cost must be more than 0"),
    (["DOC", "--language", "xx"], "--language xx: unknown language"),
    (["DOCS", "--rpm", "0"], "--rpm must be at least 1"),
    (["DOCS", "--ray-address", "foo"], "--ray-address names the cluster of --ray"),
    (["DOCS", "--batch-poll", "5"], "--batch-poll sets how often --batch checks"),
    (["DOC", "--no-cache", "--refresh"], "--no-cache neither reads nor stores replies"),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_every_option_conflict_is_a_usage_error_before_any_work(
    args: list[str],
    message: str,
    use_model: Callable[[RecordingModel], RecordingModel],
    tmp_path: Path,
) -> None:
    model = use_model(IncompleteModel(kind="none"))
    document = write_document(tmp_path / "docs")
    paths = {"DOC": str(document), "DOCS": str(tmp_path / "docs")}
    out = tmp_path / "out"
    code, stdout, err = invoke("report", *(paths.get(a, a) for a in args), "-o", str(out))
    assert code == EXIT_USAGE == 2, err
    assert err.startswith(f"Error: {message}") and stdout == ""
    assert model.requests == [] and not out.exists(), "nothing was done"
    with RunStore() as store:
        assert store.list_runs() == [], "no run was started"


def test_the_api_raises_the_same_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--chunk-overlap") as caught:
        docanalyze.Options(chunk_size=3000, chunk_overlap=2000)
    assert isinstance(caught.value, docanalyze.ConfigError)
    assert isinstance(caught.value, docanalyze.DocanalyzeError)
    model = IncompleteModel(kind="none")
    pipeline = docanalyze.Pipeline(client=model, max_cost=1.0)
    document = str(write_document(tmp_path))
    with pytest.raises(docanalyze.UsageError, match="--combine"):
        pipeline.analyze_many([document, document], combine=True)
    assert model.requests == []


def test_a_refusal_in_a_combined_run_keeps_the_partial_report_and_exits_3(
    use_model: Callable[[RecordingModel], RecordingModel], tmp_path: Path
) -> None:
    use_model(IncompleteModel(kind="refused"))
    first = write_document(tmp_path / "a", pages=8)
    second = write_document(tmp_path / "b", pages=3)
    args = ["report", str(first), str(second), "--combine", "--chunk-size", "3000", "-q"]
    code, out, err = invoke(*args)
    assert code == EXIT_INCOMPLETE, err
    assert "Traceback" not in err and "the model refused a map request" in err
    assert out.startswith("# INCOMPLETE report") and "FACT-0001" in out

    pipeline = docanalyze.Pipeline(client=IncompleteModel(kind="refused"), chunk_size=3000)
    result = pipeline.analyze_many([first, second], combine=True)
    assert result.exit_code == EXIT_INCOMPLETE
    [report] = result.reports
    [failure] = result.failures
    assert isinstance(failure.error, docanalyze.RefusedRun) and failure.error.report is report
    assert not report.complete and report.refusals and report.missing_chunks
    assert {chunk.source for chunk in report.chunks} == {str(first), str(second)}
    with RunStore() as store:
        assert store.list_runs(1)[0].status == "refused"
