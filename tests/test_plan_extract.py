"""``plan --schema`` and ``extract --dry-run``: an extraction's plan, checked against a run on
the fake server, and its first request shown with its schema, nothing sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.errors import SchemaError
from docanalyze.planning.dry_run import preview_extraction
from docanalyze.planning.extraction import RECORDS_OUTPUT_SHARE, plan_extraction
from docanalyze.records.schema import RecordSchema
from fakeserver import FakeMessagesAPI, RecordedRequest
from tests.planted_records import OBLIGATION_SCHEMA, planted_document

MakeFakeApi = Callable[..., FakeMessagesAPI]
TOLERANCE = 0.15
BAD_SCHEMA: dict[str, Any] = {
    **OBLIGATION_SCHEMA,
    "properties": {**OBLIGATION_SCHEMA["properties"], "amount": {"type": "integer", "minimum": 0}},
}


@pytest.fixture(scope="module")
def document_text() -> str:
    """A small planted document: 100 pages, a few records (fast to build)."""
    return planted_document(unique=12, in_overlap=0, repeats=2, variants=2).text


@pytest.fixture
def files(tmp_path: Path, document_text: str) -> tuple[Path, Path, Path]:
    """The document, its schema and a schema with a keyword the API does not support."""
    document = tmp_path / "planted.txt"
    document.write_text(document_text, encoding="utf-8")
    schema, bad = tmp_path / "obligation.json", tmp_path / "bad.json"
    schema.write_text(json.dumps(OBLIGATION_SCHEMA), encoding="utf-8")
    bad.write_text(json.dumps(BAD_SCHEMA), encoding="utf-8")
    return document, schema, bad


def use_fake_api(monkeypatch: pytest.MonkeyPatch, server: FakeMessagesAPI) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)


def is_chunk_request(request: RecordedRequest) -> bool:
    """A map request of an extraction: its schema asks for a chunk's ``records``."""
    schema = request.body.get("output_config", {}).get("format", {}).get("schema", {})
    return "records" in schema.get("properties", {})


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


# --- plan against a run ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [{}, {"context_window": 6000, "max_tokens": 1000}],
    ids=["a request per chunk", "chunks in halves in a small window"],
)
def test_planned_map_requests_and_input_tokens_match_a_run(
    make_fake_api: MakeFakeApi,
    monkeypatch: pytest.MonkeyPatch,
    document_text: str,
    settings: dict[str, Any],
) -> None:
    plan = plan_extraction(document_text, OBLIGATION_SCHEMA, key=["id"], **settings)
    window = settings.get("context_window", 1_000_000)
    server = make_fake_api(model_rules=True, context_window=window)
    use_fake_api(monkeypatch, server)

    result = docanalyze.extract(document_text, OBLIGATION_SCHEMA, key=["id"], **settings)

    assert result.complete
    sent = [request for request in server.requests if is_chunk_request(request)]
    (planned,) = plan.stages
    assert planned.stage == "map" and plan.chunk_count == result.chunk_count
    assert len(planned.requests) == len(sent)
    if settings:
        assert len(sent) > plan.chunk_count  # the halves, as the run sent them
    # The fake server counts the format prompt the API adds for output_config.format (the
    # schema's JSON stands for it, as in the plan).
    counted = sum(request.input_tokens for request in sent)
    assert counted <= planned.input_tokens <= counted * (1 + TOLERANCE)


def test_the_plan_says_what_it_assumes_and_prices_batch(document_text: str) -> None:
    plan = plan_extraction(document_text, OBLIGATION_SCHEMA, key=["id"])
    batch = plan_extraction(document_text, OBLIGATION_SCHEMA, key=["id"], batch=True)
    assumptions = "\n".join(plan.assumptions)
    assert f"{RECORDS_OUTPUT_SHARE:.0%} of its text tokens" in assumptions
    assert (
        "output_config.format" in assumptions and "resolve requests are not counted" in assumptions
    )
    assert "reduce" not in assumptions.split("thinking:")[1].split("\n")[0]
    assert plan.reduce_levels == 0 and [stage.stage for stage in plan.stages] == ["map"]
    assert plan.cost is not None and batch.cost == pytest.approx(plan.cost / 2)
    assert plan.to_dict()["extraction"] == {
        "schema": "record schema",
        "title": "Obligation",
        "key": ["id"],
    }


def test_exact_counts_every_chunk_prompt_with_its_schema(
    make_fake_api: MakeFakeApi, monkeypatch: pytest.MonkeyPatch, document_text: str
) -> None:
    server = make_fake_api(model_rules=True)
    use_fake_api(monkeypatch, server)

    plan = plan_extraction(document_text, OBLIGATION_SCHEMA, exact=True)

    assert server.requests == []
    counts = server.token_counts
    assert len(counts) == len(plan.stages[0].requests) == plan.chunk_count
    sent_schema = RecordSchema.of(OBLIGATION_SCHEMA).request_schema()
    assert all(
        count.body["output_config"] == {"format": {"type": "json_schema", "schema": sent_schema}}
        for count in counts
    )
    assert plan.stages[0].counted and plan.exact
    assert plan.stages[0].input_tokens == sum(count.input_tokens for count in counts)


# --- the commands ------------------------------------------------------------------------------


def test_plan_with_a_schema_prints_text_and_json(files: tuple[Path, Path, Path]) -> None:
    document, schema, _ = files
    code, out, err = invoke("plan", str(document), "--schema", str(schema), "--key", "id")
    assert code == 0 and err == ""
    plan = plan_extraction(str(document), schema, key=["id"])
    assert f"{plan.chunk_count} chunks, {plan.requests} requests, records of Obligation" in out
    assert "merged by --key id" in out and "resolve requests are not counted" in out
    assert f"{plan.input_tokens:,}" in out and "Estimated cost: $" in out

    code, out, _ = invoke(
        "plan", str(document), "--schema", str(schema), "--key", "id", "--format", "json"
    )
    result = json.loads(out)
    assert code == 0 and result["requests"] == plan.requests
    assert result["input_tokens"] == plan.input_tokens
    assert result["extraction"] == {"schema": str(schema), "title": "Obligation", "key": ["id"]}


def test_plan_key_needs_a_schema_and_names_an_unknown_field(
    files: tuple[Path, Path, Path],
) -> None:
    document, schema, _ = files
    code, _, err = invoke("plan", str(document), "--key", "id")
    assert code == 2 and "give --schema too" in err
    code, _, err = invoke("plan", str(document), "--schema", str(schema), "--key", "owner")
    assert code == 1 and "owner" in err


def test_a_folder_plan_with_a_schema_plans_each_documents_extraction(
    files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    document, schema, bad = files
    folder = tmp_path / "contracts"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(document.read_text(encoding="utf-8"), encoding="utf-8")
    one = plan_extraction(document, OBLIGATION_SCHEMA, key=["id"])
    code, out, err = invoke(
        "plan", str(folder), "--schema", str(schema), "--key", "id", "--format", "json"
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["documents"] == 2 and plan["requests"] == 2 * one.requests
    assert plan["input_tokens"] == pytest.approx(2 * one.input_tokens, rel=0.01)  # its name aside
    assert any("resolve requests are not counted" in line for line in plan["assumptions"])
    code, _, err = invoke("plan", str(folder), "--schema", str(bad))
    assert code == 1 and '"minimum"' in err


def test_dry_run_shows_the_prompt_and_its_schema_and_sends_nothing(
    make_fake_api: MakeFakeApi, files: tuple[Path, Path, Path]
) -> None:
    server = make_fake_api(model_rules=True)
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}
    document, schema, _ = files
    code, out, err = invoke(
        "extract", str(document), "--schema", str(schema), "--key", "id", "--dry-run", env=env
    )
    assert code == 0, err
    assert server.requests == [] and server.token_counts == []
    dry_run = preview_extraction(str(document), schema, key=["id"])
    (preview,) = dry_run.previews
    assert preview.title.startswith(f"extract: chunk 1 of {dry_run.chunk_count} (pages 1-")
    assert preview.title in out
    assert "extract.j2" in out and "max_tokens   2,048" in out
    assert "output_config.format.schema" in out
    sent = json.dumps(RecordSchema.of(OBLIGATION_SCHEMA).request_schema(), indent=2)
    assert sent in out and preview.prompt in out
    assert '"quote"' in out and "[Page 1]" in preview.prompt


def test_dry_run_needs_no_key_and_shows_every_half_of_a_chunk_too_large(
    files: tuple[Path, Path, Path],
) -> None:
    document, schema, _ = files
    dry_run = preview_extraction(str(document), schema, context_window=6000, max_tokens=1000)
    titles = [preview.title for preview in dry_run.previews]
    assert len(titles) >= 2 and titles[0].startswith(
        f"extract: chunk 1 of {dry_run.chunk_count}, part 1 of"
    )
    assert all(preview.fits and preview.output_schema for preview in dry_run.previews)


def test_an_unsupported_keyword_fails_plan_and_dry_run_naming_it(
    make_fake_api: MakeFakeApi, files: tuple[Path, Path, Path]
) -> None:
    server = make_fake_api(model_rules=True)
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}
    document, _, bad = files
    for command in (["plan", str(document)], ["extract", str(document), "--dry-run"]):
        code, out, err = invoke(*command, "--schema", str(bad), env=env)
        assert code == 1 and out == ""
        assert '"minimum" at /properties/amount' in err and err.count("\n") == 1
    assert server.requests == [] and server.token_counts == []
    with pytest.raises(SchemaError, match="minimum"):
        plan_extraction(str(document), BAD_SCHEMA)
    with pytest.raises(SchemaError, match="minimum"):
        preview_extraction(str(document), BAD_SCHEMA)


def test_dry_run_of_a_folder_shows_its_first_documents_request(
    tmp_path: Path, document_text: str
) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(document_text, encoding="utf-8")
    schema = tmp_path / "obligation.json"
    schema.write_text(json.dumps(OBLIGATION_SCHEMA), encoding="utf-8")
    code, out, err = invoke("extract", str(folder), "--schema", str(schema), "--dry-run")
    assert code == 0, err
    assert '"records"' in out and "a.txt" in out
    assert "1 more document not shown" in err, err
