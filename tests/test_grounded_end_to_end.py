"""Issue 20's done-when, end to end: the CLI, the real SDK over HTTP, a fake server that follows
today's model rules and errs on demand (a wrong page in one bullet in ten, an invented fact in
one reply in ten), on a 400,000-character English PDF and a 300,000-character Chinese PDF with
planted facts. Every true fact reaches the report on its true page; every invention is absent or
marked unsupported, in the Markdown and in the JSON citations; the faultless model leaves nothing
unsupported; resume, a re-run from the store, --batch, a corpus and Ray keep the statuses.

The report keeps the default budget (``--max-tokens 4096``, written in sections): it lists every
planted fact, so the tests check the Markdown itself, not only the JSON points."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.ingest.sources import resolve_document
from fakeserver import CitationError, CitationErrors, FakeMessagesAPI
from tests.planted_pdfs import write_chinese_pdf, write_english_pdf
from tests.test_fake_server_citations import ask, create, search_result
from tests.test_grounded_pipeline import fact_pages

MakeFakeApi = Callable[..., FakeMessagesAPI]
ERRING = CitationErrors(wrong_page_every=10, invent_every=10, seed=20)
UNSUPPORTED_MARK = "⚠ unsupported"
FACT = re.compile(r"FACT-\d+")


class Planted:
    """A PDF and the true page of each fact planted in it."""

    def __init__(self, path: Path, pages: dict[str, int]) -> None:
        self.path = path
        self.pages = pages


@pytest.fixture(scope="module")
def english(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    path = tmp_path_factory.mktemp("planted") / "inspection.pdf"
    planted = Planted(path, write_english_pdf(path, facts=80, characters=400_000))
    assert len(resolve_document(str(path)).text) >= 400_000
    return planted


@pytest.fixture(scope="module")
def chinese(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    path = tmp_path_factory.mktemp("planted") / "检查报告.pdf"
    planted = Planted(path, write_chinese_pdf(path, facts=60, characters=300_000))
    assert len(resolve_document(str(path)).text) >= 300_000
    return planted


@pytest.fixture
def claude(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[FakeMessagesAPI], None]]:
    """``claude(server)`` points the SDK at ``server`` with a test key."""

    def point_at(server: FakeMessagesAPI) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)

    yield point_at


def report(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def json_report(*args: str) -> dict[str, Any]:
    code, out, err = report(*args, "--format", "json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def invented_facts(errors: list[CitationError]) -> set[str]:
    return {fact for error in errors if error.kind == "invented" for fact in error.facts}


def assert_grounded(result: dict[str, Any], planted: Planted, errors: list[CitationError]) -> None:
    """Every true fact on its true page only; every invention absent or marked unsupported, in
    the Markdown and in the JSON citations; no true fact unsupported."""
    text, citations = result["report"], result["citations"]
    invented = invented_facts(errors)
    found = fact_pages(text)
    assert {fact: found.get(fact) for fact in planted.pages} == {
        fact: {page} for fact, page in planted.pages.items()
    }
    for error in errors:  # each wrong page written is corrected: only the true page is left
        if error.kind == "wrong_page" and error.facts and error.facts[0] in planted.pages:
            assert error.page_written not in found[error.facts[0]]
    for line in text.splitlines():
        if set(FACT.findall(line)) & invented:
            assert UNSUPPORTED_MARK in line, line
    for citation in citations:
        facts = set(FACT.findall(citation["claim"]))
        if facts & invented:
            assert citation["status"] == "unsupported", citation
        elif facts:
            assert citation["status"] in ("verified", "corrected"), citation
            assert citation["quote"] and facts <= set(FACT.findall(citation["quote"]))
    reported = set(FACT.findall(text)) & invented
    unsupported = {
        f for c in citations if c["status"] == "unsupported" for f in FACT.findall(c["claim"])
    }
    assert reported <= unsupported
    assert set(FACT.findall(text)) <= set(planted.pages) | invented


def errors_about(server: FakeMessagesAPI, chinese: bool) -> list[CitationError]:
    """The errors the server made about the facts of one of the two documents (both number
    their facts from FACT-0001; inventions are numbered apart)."""
    return [
        error
        for error in server.citation_errors_made
        if error.kind == "invented" or ("审计" in error.text) == chinese
    ]


def statuses(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(citation["claim"], citation["status"]) for citation in result["citations"]]


# --- the fake model these runs need ----------------------------------------------------------


def test_the_fake_model_states_a_fact_once_though_a_point_holds_its_claim_and_quote(
    make_fake_api: MakeFakeApi,
) -> None:
    claim = "FACT-0007 the pump passed its test."
    point = search_result("docanalyze:point/1", "p. 7", [f"{claim}\n“{claim}”"])
    message = create(make_fake_api(), ask(point))

    assert [block.text for block in message.content if block.citations] == [f"- {claim} (p. 7)\n"]


def test_the_fake_model_quoting_a_merge_takes_each_page_from_the_bullet(
    make_fake_api: MakeFakeApi,
) -> None:
    partial = (
        '<partial_result>\n- "FACT-0001 the pump passed its test." (p. 3)\n'
        "- “审计人员确认FACT-0002号泵站通过了压力测试。” （p. 9）\n"
        '- "FACT-0001 the pump passed its test." (p. 3)\n</partial_result>'
    )
    api = make_fake_api(citation_errors=CitationErrors())
    reply = create(api, [{"role": "user", "content": f"Merge.\n{partial}"}]).content[0].text

    assert reply == (
        '- "FACT-0001 the pump passed its test." (p. 3)\n'
        '- "审计人员确认FACT-0002号泵站通过了压力测试。" (p. 9)\n'
    )


# --- the erring model, English and Chinese -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("language", ["english", "chinese"])
def test_the_erring_model_is_caught_on_a_long_pdf(
    language: str,
    request: pytest.FixtureRequest,
    make_fake_api: MakeFakeApi,
    claude: Callable[[FakeMessagesAPI], None],
) -> None:
    planted: Planted = request.getfixturevalue(language)
    server = make_fake_api(model_rules=True, citation_errors=ERRING)
    claude(server)

    result = json_report(str(planted.path))

    errors = server.citation_errors_made
    kinds = [error.kind for error in errors]
    assert kinds.count("wrong_page") >= 5 and kinds.count("invented") >= 3, kinds
    assert_grounded(result, planted, errors)
    counted = [status for _, status in statuses(result)]
    assert counted.count("corrected") >= 1 and counted.count("unsupported") >= 1
    assert (
        result["report"]
        .rstrip()
        .endswith(
            f"Citations: {counted.count('verified')} verified, {counted.count('corrected')} corrected "
            f"to their true page, {counted.count('unsupported')} unsupported (marked ⚠)."
        )
    )


@pytest.mark.slow
def test_unsupported_drop_leaves_every_invention_out_and_lists_it(
    chinese: Planted, make_fake_api: MakeFakeApi, claude: Callable[[FakeMessagesAPI], None]
) -> None:
    server = make_fake_api(model_rules=True, citation_errors=ERRING)
    claude(server)

    result = json_report(str(chinese.path), "--unsupported", "drop")

    invented = invented_facts(server.citation_errors_made)
    assert invented and not set(FACT.findall(result["report"])) & invented
    assert_grounded(result, chinese, server.citation_errors_made)
    listed = {
        fact
        for citation in result["citations"]
        if citation["status"] == "unsupported"
        for fact in FACT.findall(citation["claim"])
    }
    assert listed and listed <= invented
    assert result["report"].rstrip().endswith("unsupported (dropped).")


@pytest.mark.slow
def test_with_the_faultless_model_no_citation_is_unsupported(
    english: Planted, make_fake_api: MakeFakeApi, claude: Callable[[FakeMessagesAPI], None]
) -> None:
    server = make_fake_api(model_rules=True)
    claude(server)

    result = json_report(str(english.path))

    assert server.citation_errors_made == []
    assert_grounded(result, english, [])
    assert {status for _, status in statuses(result)} == {"verified"}
    assert UNSUPPORTED_MARK not in result["report"]


# --- resume, the store, --batch ------------------------------------------------------------------


@pytest.mark.slow
def test_a_re_run_from_the_store_verifies_the_same_way(
    english: Planted, make_fake_api: MakeFakeApi, claude: Callable[[FakeMessagesAPI], None]
) -> None:
    server = make_fake_api(model_rules=True, citation_errors=ERRING)
    claude(server)
    first = json_report(str(english.path))
    asked = len(server.requests)

    again = json_report(str(english.path))

    assert len(server.requests) == asked, "every reply came from the store"
    assert again["report"] == first["report"]
    assert statuses(again) == statuses(first)
    assert [c["quote"] for c in again["citations"]] == [c["quote"] for c in first["citations"]]
    assert_grounded(again, english, server.citation_errors_made)


@pytest.mark.slow
def test_a_run_stopped_by_max_cost_resumes_with_its_quotes_and_statuses(
    english: Planted, make_fake_api: MakeFakeApi, claude: Callable[[FakeMessagesAPI], None]
) -> None:
    server = make_fake_api(model_rules=True, citation_errors=ERRING)
    claude(server)
    code, _, err = report(str(english.path), "--max-cost", "0.15", "--format", "json")
    assert code == 3 and "stopped before exceeding --max-cost" in err, err
    paid = len(server.requests)

    resumed = json_report(str(english.path))

    maps = resumed["chunk_count"]
    assert paid < maps < len(server.requests) < paid + maps, "the paid replies were reused"
    assert resumed["cache"]["hits"] >= paid - 1
    assert_grounded(resumed, english, server.citation_errors_made)


@pytest.mark.slow
def test_batch_keeps_the_quotes_and_statuses(
    english: Planted, make_fake_api: MakeFakeApi, claude: Callable[[FakeMessagesAPI], None]
) -> None:
    server = make_fake_api(model_rules=True, citation_errors=ERRING, batch_latency=0.05)
    claude(server)

    result = json_report(str(english.path), "--batch", "--batch-poll", "0.05")

    assert result["batch"]
    assert all(r.custom_id for r in server.requests if r.path.endswith("/messages"))
    errors = server.citation_errors_made
    assert invented_facts(errors) and all(error.custom_id for error in errors)
    assert_grounded(result, english, errors)
    assert {status for _, status in statuses(result)} == {"verified", "corrected", "unsupported"}


# --- a corpus, one process and Ray ---------------------------------------------------------------


@pytest.mark.slow
def test_a_corpus_keeps_the_statuses_in_each_report_file(
    english: Planted,
    chinese: Planted,
    tmp_path: Path,
    make_fake_api: MakeFakeApi,
    claude: Callable[[FakeMessagesAPI], None],
) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    for planted in (english, chinese):
        (folder / planted.path.name).write_bytes(planted.path.read_bytes())
    server = make_fake_api(model_rules=True, citation_errors=ERRING)
    claude(server)

    code, _, err = report(str(folder), "-o", str(tmp_path / "out"), "--format", "json")

    assert code == 0, err
    for planted in (english, chinese):
        written = tmp_path / "out" / f"{planted.path.stem}.json"
        result = json.loads(written.read_text(encoding="utf-8"))
        assert_grounded(result, planted, errors_about(server, planted is chinese))
        assert "unsupported" in {status for _, status in statuses(result)}


@pytest.mark.slow
def test_a_corpus_on_ray_keeps_the_quotes_and_statuses(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_fake_api: MakeFakeApi,
    claude: Callable[[FakeMessagesAPI], None],
) -> None:
    ray = pytest.importorskip("ray")
    folder = tmp_path / "documents"
    folder.mkdir()
    small = [
        Planted(folder / "inspection.pdf", {}),
        Planted(folder / "检查报告.pdf", {}),
    ]
    small[0].pages = write_english_pdf(small[0].path, facts=10, characters=40_000)
    small[1].pages = write_chinese_pdf(small[1].path, facts=8, characters=30_000)
    often = CitationErrors(wrong_page_every=4, invent_every=3, seed=20)
    server = make_fake_api(model_rules=True, citation_errors=often)
    claude(server)  # Ray's workers take the environment of the process that starts it
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code, _, err = report(str(folder), "-o", str(tmp_path / "out"), "--ray", "--format", "json")
    finally:
        ray.shutdown()

    assert code == 0, err
    errors = server.citation_errors_made
    assert {error.kind for error in errors} == {"wrong_page", "invented"}
    for planted, chinese in zip(small, (False, True), strict=True):
        written = tmp_path / "out" / f"{planted.path.stem}.json"
        result = json.loads(written.read_text(encoding="utf-8"))
        assert_grounded(result, planted, errors_about(server, chinese))
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "index.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 2 and all(row["status"] == "complete" for row in rows)


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_streamed_report_is_the_checked_report(
    english: Planted, make_fake_api: MakeFakeApi, claude: Callable[[FakeMessagesAPI], None]
) -> None:
    server = make_fake_api(model_rules=True, citation_errors=ERRING)
    claude(server)
    code, streamed, err = report(str(english.path), "--stream")
    assert code == 0, err
    code, printed, _ = report(str(english.path), "--no-stream")  # from the store: the same run

    invented = invented_facts(server.citation_errors_made)
    unmarked = [
        line
        for line in streamed.splitlines()
        if set(FACT.findall(line)) & invented and UNSUPPORTED_MARK not in line
    ]
    assert unmarked == []
    assert "starts again" not in err
    assert streamed == printed
