"""The command line, through click's runner: output streams, formats, errors and exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import docanalyze.run.pipeline
from docanalyze.cli import cli
from docanalyze.cost import PriceTable, input_tokens_with_cache
from docanalyze.models.anthropic.catalog import PRICES_CHECKED
from docanalyze.models.base import ModelRequest, Usage
from tests.fakes import RecordingModel, StreamingModel


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


def test_offline_json_labels_its_token_figures_as_an_estimate(fixtures_dir: Path) -> None:
    code, out, _ = invoke("report", str(fixtures_dir / "sample-en.pdf"), "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert result["usage"]["requests"] == 0 and result["usage"]["input_tokens"] > 0
    assert result["usage"]["estimated"] is True
    assert all(usage["estimated"] for usage in result["usage_by_stage"].values())


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (("--var", "focus=risks"), "it ignores --var;"),
        (("--prompts", "PROMPTS"), "it ignores --prompts (only"),
        (("--prompts", "PROMPTS", "--var", "focus=risks"), "it ignores --prompts and --var ("),
        (("--thinking", "on"), "it ignores --thinking;"),
        (
            ("--var", "a=b", "--batch", "--effort", "high", "--fallback-model", "claude-haiku-4-5"),
            "it ignores --var, --batch, --effort and --fallback-model;",
        ),
        (("--max-cost", "1"), "it ignores --max-cost;"),
    ],
)
def test_offline_run_says_once_which_options_it_ignores(
    fixtures_dir: Path, tmp_path: Path, given: tuple[str, ...], named: str
) -> None:
    (tmp_path / "map.j2").write_text("Extract the key points.\n\n{{ text }}\n", encoding="utf-8")
    arguments = [str(tmp_path) if argument == "PROMPTS" else argument for argument in given]
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"), *arguments)
    assert code == 0
    assert err.count("the offline extractive analyzer reads no prompt") == 1
    assert named in err


def test_offline_run_without_prompts_or_vars_has_no_such_notice(fixtures_dir: Path) -> None:
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"))
    assert code == 0 and "reads no prompt" not in err


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
        (lambda d: d, "holds no document"),  # a folder is a corpus run: of no document here
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


def test_invalid_option_values_are_one_line_usage_errors(fixtures_dir: Path) -> None:
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"), "--chunk-overlap", "9000")
    assert code == 2 and err.splitlines()[0].startswith("Error: --chunk-overlap")
    assert err.splitlines()[1:] == ["Try 'docanalyze report --help' for help."]


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
    commands = [
        [],
        ["report"],
        ["plan"],
        ["runs"],
        ["runs", "show"],
        ["cache"],
        ["cache", "stats"],
        ["cache", "clear"],
        ["prompts"],
        ["prompts", "list"],
        ["prompts", "show"],
        ["prompts", "init"],
    ]
    for args in ([*command, "--help"] for command in commands):
        code, out, _ = invoke(*args)
        assert code == 0 and "Examples:" in out


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- usage and cost on stderr, --max-cost, streaming (models faked behind create_model) ----------


@pytest.fixture
def use_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[RecordingModel], RecordingModel]:
    """``use_model(fake)`` makes the CLI's pipeline run with ``fake``, wired to its events."""

    def install(model: RecordingModel) -> RecordingModel:
        def create_model(options: object, **kwargs: Any) -> tuple[RecordingModel, list[str]]:
            model.on_event = kwargs.get("on_event")
            return model, []

        monkeypatch.setattr(docanalyze.run.pipeline, "create_model", create_model)
        return model

    return install


def long_text(tmp_path: Path, pages: int = 30) -> str:
    filler = "The committee reviewed the quarterly figures and noted steady progress. " * 20
    text = "\f".join(f"{filler}\nFACT-{n:04d} was recorded on page {n}.\n" for n in range(pages))
    path = tmp_path / "long.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


USAGE_LINE = re.compile(
    r"^docanalyze: (\d+) requests, ([\d,]+) input tokens \(([\d,]+) cache write, ([\d,]+) cache "
    r"read\), ([\d,]+) output tokens, \$([\d.]+) \(claude-sonnet-5-5\), "
    r"\$([\d.]+) saved by prompt caching, 2 retries, "
    r"1 rate-limited, [\d.]+ s$",
    re.MULTILINE,
)


def test_the_usage_line_has_tokens_cache_cost_model_and_retries(
    use_model: Callable[[RecordingModel], RecordingModel], fixtures_dir: Path
) -> None:
    model = use_model(
        RecordingModel(
            name="claude-sonnet-5-5",
            cache_write_tokens=1000,
            cache_read_tokens=20_000,
            retries_before_first_reply=(429, 529),
        )
    )
    code, _, err = invoke("report", str(fixtures_dir / "sample-en.pdf"), "--chunk-size", "1500")
    assert code == 0, err
    match = USAGE_LINE.search(err)
    assert match, err
    requests, input_tokens, write, read, output, usd, saved = match.groups()
    usage = sum((reply.usage for reply in model.replies), Usage())
    assert int(requests) == len(model.requests) > 2
    assert int(input_tokens.replace(",", "")) == input_tokens_with_cache(usage)
    assert int(write.replace(",", "")) == 1000 * len(model.requests)
    assert int(read.replace(",", "")) == 20_000 * len(model.requests)
    assert int(output.replace(",", "")) == usage.output_tokens
    assert float(usd) == pytest.approx(
        PriceTable.from_catalog().cost("claude-sonnet-5-5", usage), abs=0.005
    )
    prices = PriceTable.from_catalog().get("claude-sonnet-5-5")
    assert prices is not None
    plain = prices.input * (usage.cache_creation_input_tokens + usage.cache_read_input_tokens)
    paid = (
        prices.cache_write * usage.cache_creation_input_tokens
        + prices.cache_read * usage.cache_read_input_tokens  # per model: $0.10 on Sonnet 5.5
    )
    assert float(saved) == pytest.approx((plain - paid) / 1e6, abs=0.005)


def test_the_usage_line_leaves_out_cache_tokens_when_there_are_none(
    use_model: Callable[[RecordingModel], RecordingModel], fixtures_dir: Path
) -> None:
    use_model(RecordingModel(name="claude-haiku-4-5"))
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"))
    assert code == 0, err
    line = err.strip().splitlines()[-1]
    assert "cache" not in line and "(claude-haiku-4-5), 0 retries, 0 rate-limited" in line


def test_json_has_usage_by_model_and_stage_and_the_cost(
    use_model: Callable[[RecordingModel], RecordingModel], fixtures_dir: Path
) -> None:
    use_model(RecordingModel(name="claude-sonnet-5-5", retries_before_first_reply=(429,)))
    code, out, _ = invoke(
        "report", str(fixtures_dir / "sample-en.pdf"), "--format", "json", "--chunk-size", "1500"
    )
    assert code == 0
    result = json.loads(out)
    assert result["complete"] is True
    assert set(result["usage_by_stage"]) == {"map", "final"}
    assert list(result["usage_by_model"]) == ["claude-sonnet-5-5"]
    stage_requests = sum(usage["requests"] for usage in result["usage_by_stage"].values())
    assert stage_requests == result["usage"]["requests"]
    cost = result["cost"]
    assert cost["currency"] == "USD" and cost["prices_checked"] == PRICES_CHECKED
    assert cost["total"] > 0 and cost["by_model"] == {"claude-sonnet-5-5": cost["total"]}
    assert result["stage_models"] == {"map": ["claude-sonnet-5-5"], "final": ["claude-sonnet-5-5"]}
    assert (result["retries"], result["rate_limited"]) == (1, 1)


@pytest.mark.parametrize("output_format", ["md", "json"])
def test_max_cost_prints_the_partial_report_and_a_one_line_error(
    use_model: Callable[[RecordingModel], RecordingModel], tmp_path: Path, output_format: str
) -> None:
    model = use_model(RecordingModel(name="claude-sonnet-5-5", delay=0.01))
    args = ["--chunk-size", "3000", "--max-cost", "0.05", "--format", output_format]
    code, out, err = invoke("report", long_text(tmp_path), *args, "-q")
    assert code == 3, "an incomplete report exits 3"
    assert err.startswith("Error: stopped before exceeding --max-cost $0.05")
    assert len(err.strip().splitlines()) == 1 and "raise --max-cost" in err
    text = out if output_format == "md" else json.loads(out)["report"]
    assert text.startswith("# INCOMPLETE report: ")
    assert 0 < len(model.requests) < 30 and "## Missing chunks" in text
    if output_format == "json":
        assert json.loads(out)["complete"] is False


def test_max_cost_stop_still_shows_the_usage(
    use_model: Callable[[RecordingModel], RecordingModel], tmp_path: Path
) -> None:
    use_model(RecordingModel(name="claude-sonnet-5-5"))
    code, _, err = invoke(
        "report", long_text(tmp_path), "--chunk-size", "3000", "--max-cost", "0.05"
    )
    lines = err.strip().splitlines()
    assert code == 3 and lines[-1].startswith("Error: stopped before exceeding --max-cost")
    usage = lines[-2]
    assert usage.startswith("docanalyze: ") and "(claude-sonnet-5-5)" in usage
    assert any("stopping before exceeding --max-cost" in line for line in lines)


def test_max_cost_needs_a_known_price(
    use_model: Callable[[RecordingModel], RecordingModel], fixtures_dir: Path
) -> None:
    model = use_model(RecordingModel(name="my-local-model"))
    code, out, err = invoke("report", str(fixtures_dir / "sample.txt"), "--max-cost", "1")
    assert code == 1 and out == "" and model.requests == []
    assert "price of model my-local-model unknown" in err and "DOCANALYZE_PRICES" in err


def test_a_prices_file_gives_an_unknown_model_its_cost(
    use_model: Callable[[RecordingModel], RecordingModel],
    fixtures_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_model(RecordingModel(name="my-local-model"))
    prices = tmp_path / "prices.json"
    prices.write_text('{"my-local-model": {"input": 1, "output": 2}}', encoding="utf-8")
    monkeypatch.setenv("DOCANALYZE_PRICES", str(prices))
    code, _, err = invoke("report", str(fixtures_dir / "sample.txt"), "--max-cost", "1")
    assert code == 0, err
    assert "(my-local-model)" in err.strip().splitlines()[-1]


def finals_with_spaces(request: ModelRequest) -> str:
    facts = " ".join(re.findall(r"\w+", "\n".join(request.material))[:40])
    return f"\n  # Findings\n\n{facts}\n\n" if request.stage == "final" else facts


@pytest.mark.parametrize("max_tokens", ["4096", "20"], ids=["whole", "truncated"])
def test_streamed_stdout_equals_the_plain_output(
    use_model: Callable[[RecordingModel], RecordingModel], fixtures_dir: Path, max_tokens: str
) -> None:
    args = [
        "report",
        str(fixtures_dir / "sample.txt"),
        "--max-tokens",
        max_tokens,
        "-q",
        "--no-cache",
        "--thinking",
        "off",  # no thinking allowance on top of --max-tokens: the report is cut at 20 tokens
    ]
    use_model(StreamingModel(name="claude-sonnet-5-5", responder=finals_with_spaces))
    expected_code = 3 if max_tokens == "20" else 0  # a cut report is incomplete: exit 3
    code, plain, _ = invoke(*args, "--no-stream")
    assert code == expected_code
    streaming = use_model(StreamingModel(name="claude-sonnet-5-5", responder=finals_with_spaces))
    code, streamed, _ = invoke(*args, "--stream")
    assert code == expected_code
    assert [request.stage for request in streaming.streamed] == ["final"]
    assert streamed == plain
    assert ("incomplete" in plain) == (max_tokens == "20")


def test_the_offline_report_streams_the_same_too(fixtures_dir: Path) -> None:
    args = ["report", str(fixtures_dir / "sample.txt"), "-q"]
    assert invoke(*args, "--stream")[1] == invoke(*args)[1]


def test_stream_is_only_for_markdown_on_stdout(fixtures_dir: Path, tmp_path: Path) -> None:
    sample = str(fixtures_dir / "sample.txt")
    assert invoke("report", sample, "--stream", "--format", "json")[0] == 2
    assert invoke("report", sample, "--stream", "-o", str(tmp_path / "r.md"))[0] == 2


RUN_OPTION_MODULES = ("shared_options.py", "report_command.py", "plan_command.py")
"""The modules that declare options of a run (``runs --limit`` is the history's own)."""


def test_every_option_default_comes_from_options() -> None:
    import dataclasses

    from docanalyze.options import Options

    defaults = {
        field.name: field.default
        for field in dataclasses.fields(Options)
        if field.default is not dataclasses.MISSING
    }
    checked = 0
    for command in (cli.commands["report"], cli.commands["plan"]):
        for parameter in command.params:
            default = parameter.default
            if parameter.name in defaults and isinstance(default, (str, int, float)):
                assert default == defaults[parameter.name], parameter.name
                checked += 1
    assert checked >= 8
    package = Path(docanalyze.run.pipeline.__file__).parents[1] / "cli"
    copied = [
        f"{path.name}: {match.group()}"
        for path in (package / name for name in RUN_OPTION_MODULES)
        for match in re.finditer(r"default=(\d[\d_.]*|\"auto\")", path.read_text(encoding="utf-8"))
    ]
    assert not copied, f"CLI defaults copied instead of read from Options: {copied}"
