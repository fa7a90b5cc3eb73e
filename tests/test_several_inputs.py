"""Several PATHs: a report each (stdout or -o DIR), --combine, failures that spare the others,
and one shared model for all documents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import docanalyze
import docanalyze.run.pipeline
from docanalyze.cli import cli
from docanalyze.run.several import cite_document
from fakeserver import FakeMessagesAPI
from fakeserver.recording import RecordedRequest
from tests.fakes import citing, given_points, is_map

TOPICS = {
    "alpha": "The alpha pump failed twice in March. Repairs of the alpha pump cost 4,000 euros.",
    "beta": "The beta turbine ran for 900 hours. The beta turbine needs a new bearing by June.",
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_documents(directory: Path, paragraphs: int = 1) -> list[Path]:
    paths = []
    for name, sentence in TOPICS.items():
        path = directory / f"{name}.txt"
        path.write_text("\n\n".join([sentence] * paragraphs) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def broken_pdf(directory: Path) -> Path:
    path = directory / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog")
    return path


def test_each_document_gets_its_report_on_stdout_in_order(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    code, out, err = invoke("report", str(alpha), str(beta), "-q")
    assert code == 0, err
    first, second = out.split("\n---\n\n")
    assert first == docanalyze.analyze(str(alpha)).to_markdown()
    assert second == docanalyze.analyze(str(beta)).to_markdown()


def test_json_of_several_documents_is_a_reports_list(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    code, out, _ = invoke("report", str(alpha), str(beta), "--format", "json", "-q")
    assert code == 0
    data = json.loads(out)
    assert [report["source"] for report in data["reports"]] == [str(alpha), str(beta)]
    assert data["failed"] == []


@pytest.mark.parametrize(
    ("output_format", "suffix"), [("md", ".md"), ("json", ".json"), ("html", ".html")]
)
def test_output_dir_holds_one_file_per_document(
    tmp_path: Path, output_format: str, suffix: str
) -> None:
    alpha, beta = write_documents(tmp_path)
    target = tmp_path / "out"
    code, out, err = invoke(
        "report", str(alpha), str(beta), "--format", output_format, "-o", str(target), "-q"
    )
    assert code == 0, err
    assert out == ""
    names = sorted(path.name for path in target.iterdir())
    assert names == [f"alpha{suffix}", f"beta{suffix}", "index.jsonl"]
    assert "pump" in (target / f"alpha{suffix}").read_text(encoding="utf-8")
    assert "turbine" in (target / f"beta{suffix}").read_text(encoding="utf-8")
    index = [json.loads(line) for line in (target / "index.jsonl").read_text().splitlines()]
    assert [(entry["file"], entry["status"]) for entry in index] == [
        (str(alpha), "complete"),
        (str(beta), "complete"),
    ]


def test_files_into_a_folder_resume_like_a_folder_run(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    target = tmp_path / "out"
    assert invoke("report", str(alpha), str(beta), "-o", str(target))[0] == 0
    before = (target / "alpha.md").stat().st_mtime_ns
    code, _, err = invoke("report", str(alpha), str(beta), "-o", str(target))
    assert code == 0, err
    assert "2 reports (2 from an earlier run), 0 failed" in err
    assert (target / "alpha.md").stat().st_mtime_ns == before  # not written again


def test_stdin_with_files_into_a_folder_is_written_at_the_end(tmp_path: Path) -> None:
    alpha, _ = write_documents(tmp_path)
    target = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["report", "-", str(alpha), "-o", str(target), "-q"], input=TOPICS["beta"]
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in target.iterdir()) == ["alpha.md", "stdin.md"]
    assert "turbine" in (target / "stdin.md").read_text(encoding="utf-8")


def test_several_documents_into_a_file_say_to_give_a_folder(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    existing = tmp_path / "report.md"
    existing.write_text("mine\n", encoding="utf-8")
    code, _, err = invoke("report", str(alpha), str(beta), "-o", str(existing))
    assert code == 2 and "-o names a folder" in err and "--combine" in err
    code, _, err = invoke("report", str(tmp_path / "*.txt"), "-o", str(existing))
    assert code == 1 and "is a file: the reports of several documents need a folder" in err
    assert existing.read_text(encoding="utf-8") == "mine\n"


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    target = tmp_path / "out"
    code, _, err = invoke(
        "report", str(alpha), str(broken_pdf(tmp_path)), str(beta), "-o", str(target)
    )
    assert code == 1
    assert sorted(path.name for path in target.iterdir()) == ["alpha.md", "beta.md", "index.jsonl"]
    failures = [line for line in err.splitlines() if "broken.pdf" in line]
    assert len(failures) == 1 and "is not a readable PDF" in failures[0]
    assert "2 reports, 1 failed" in err


def test_combine_writes_one_report_whose_citations_name_the_documents(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    code, out, err = invoke("report", str(alpha), str(beta), "--combine", "--format", "json", "-q")
    assert code == 0, err
    report = json.loads(out)
    assert "(alpha.txt, p. 1)" in report["report"] and "(beta.txt, p. 1)" in report["report"]
    assert "(p. 1)" not in report["report"]
    assert [chunk["source"] for chunk in report["chunks"]] == [str(alpha), str(beta)]
    assert report["page_count"] == 2


def test_combine_skips_a_bad_file_and_exits_1(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    code, out, err = invoke("report", str(alpha), str(broken_pdf(tmp_path)), str(beta), "--combine")
    assert code == 1
    assert "(alpha.txt, p. 1)" in out and "(beta.txt, p. 1)" in out
    assert "broken.pdf is not a readable PDF" in err


def test_stdin_only_once_and_no_stream_of_several(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    assert invoke("report", "-", "-")[0] == 2
    assert invoke("report", str(alpha), str(beta), "--stream")[0] == 2


def test_citations_name_the_document() -> None:
    text = "- Rent is due (p. 3).\n- Deposit (pp. 4–5)\n- 租金（p. 7）"
    assert cite_document(text, "a.pdf") == (
        "- Rent is due (a.pdf, p. 3).\n- Deposit (a.pdf, pp. 4–5)\n- 租金(a.pdf, p. 7)"
    )


# --- one model for all documents, through the real SDK and the fake server ---------------------

_SOURCE = re.compile(r'long document, "([^"]+)"')


def corpus_responder(request: RecordedRequest) -> str:
    """Map: one cited point naming the document; reduce and final: the points they were given."""
    prompt = request.prompt
    if is_map(request):
        source = Path(_SOURCE.search(prompt).group(1)).stem  # type: ignore[union-attr]
        return f"- A key point of {source} (p. 1)"
    return "\n".join(given_points(request))


def test_several_documents_share_one_model(
    tmp_path: Path,
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_fake_api(responder=citing(corpus_responder), latency=0.05)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key")
    built: list[Any] = []
    real_create_model = docanalyze.run.pipeline.create_model

    def counting_create_model(*args: Any, **kwargs: Any) -> Any:
        model, notices = real_create_model(*args, **kwargs)
        built.append(model)
        return model, notices

    monkeypatch.setattr(docanalyze.run.pipeline, "create_model", counting_create_model)
    alpha, beta = write_documents(tmp_path, paragraphs=12)
    code, out, err = invoke(
        "report", str(alpha), str(beta), "--chunk-size", "300", "--format", "json", "-q"
    )
    assert code == 0, err
    assert len(built) == 1, "one model served both documents"
    reports = json.loads(out)["reports"]
    assert all(len(report["chunks"]) > 2 for report in reports)
    maps = [_SOURCE.search(r.prompt).group(1) for r in api.requests if is_map(r)]  # type: ignore[union-attr]
    assert sorted(set(maps)) == [str(alpha), str(beta)]
    most_chunks = max(len(report["chunks"]) for report in reports)
    assert api.stats().max_in_flight > most_chunks, "requests of both documents were in flight"


def test_combine_through_claude_cites_each_document(
    tmp_path: Path,
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_fake_api(responder=citing(corpus_responder))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key")
    alpha, beta = write_documents(tmp_path)
    code, out, err = invoke("report", str(alpha), str(beta), "--combine", "--no-stream", "-q")
    assert code == 0, err
    assert "A key point of alpha (alpha.txt, p. 1)" in out
    assert "A key point of beta (beta.txt, p. 1)" in out
    assert out.rstrip().endswith(
        "Citations: 2 verified, 0 corrected to their true page, 0 unsupported."
    )
    sources = {_SOURCE.search(r.prompt).group(1) for r in api.requests}  # type: ignore[union-attr]
    assert {str(alpha), str(beta)} <= sources


def test_python_api_analyze_many(tmp_path: Path) -> None:
    alpha, beta = write_documents(tmp_path)
    result = docanalyze.Pipeline().analyze_many([alpha, broken_pdf(tmp_path), beta])
    assert [report.source for report in result.reports] == [str(alpha), str(beta)]
    assert not result.ok and "broken.pdf" in result.failures[0].message
    combined = docanalyze.Pipeline().analyze_many([alpha, beta], combine=True)
    assert len(combined.reports) == 1 and combined.ok


def test_a_combined_run_stopped_by_ctrl_c_is_recorded_as_interrupted(tmp_path: Path) -> None:
    import asyncio

    from docanalyze.models.base import ModelReply, ModelRequest
    from docanalyze.store import RunStore
    from tests.fakes import RecordingModel

    class Interrupted(RecordingModel):
        async def complete(self, request: ModelRequest, **_: Any) -> ModelReply:
            raise asyncio.CancelledError

    alpha, beta = write_documents(tmp_path, paragraphs=4)
    pipeline = docanalyze.Pipeline(client=Interrupted(name="claude-sonnet-5-5"))
    with pytest.raises(asyncio.CancelledError):
        pipeline.analyze_many([str(alpha), str(beta)], combine=True)
    with RunStore() as store:
        assert store.list_runs(1)[0].status == "interrupted"
