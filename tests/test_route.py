"""The router of ``docanalyze report``: each kind of input goes to its run, conflicts are usage
errors before any work, and the command itself only parses options and prints."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from docanalyze.cli.report_command import report
from docanalyze.errors import InputError, UsageError
from docanalyze.options import Options
from docanalyze.run.route import DEFAULT_CORPUS_OUTPUT, ReportRoute, route_report
from tests.fakes import RecordingModel
from tests.test_cli import invoke, use_model

__all__ = ["use_model"]  # a fixture, imported for the tests below


@pytest.fixture
def given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names for the inputs of a route: two files, a folder of two files, a glob, an
    existing file to write to, a folder to write to."""
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.txt"):
        (docs / name).write_text(f"{name} says FACT-0001.\n", encoding="utf-8")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "only.txt").write_text("FACT-0002.\n", encoding="utf-8")
    (tmp_path / "taken.md").write_text("mine\n", encoding="utf-8")
    return {
        "A": str(docs / "a.txt"),
        "B": str(docs / "b.txt"),
        "DOCS": str(docs),
        "ONE": str(tmp_path / "one"),
        "ONLY": str(tmp_path / "one" / "only.txt"),
        "GLOB": str(docs / "*.txt"),
        "FILE": str(tmp_path / "taken.md"),
        "DIR": str(tmp_path / "out"),
    }


def route(given: dict[str, str], *paths: str, **options: Any) -> ReportRoute:
    settings = {"max_cost": options.pop("max_cost", None), "batch": options.pop("batch", False)}
    if "output" in options:
        options["output"] = Path(given.get(options["output"], options["output"]))
    names = tuple(given.get(path, path) for path in paths)
    return route_report(names, Options(**settings), **options)


@pytest.mark.parametrize(
    ("paths", "options", "mode", "documents"),
    [
        (["A"], {}, "single", ["A"]),
        (["-"], {}, "single", ["-"]),
        (["A", "B"], {}, "several", ["A", "B"]),
        (["-", "A"], {"output": "DIR"}, "several", ["-", "A"]),
        (["A", "B"], {"combine": True}, "combine", ["A", "B"]),
        (["DOCS"], {"combine": True}, "combine", ["A", "B"]),
        (["A"], {"dry_run": True}, "dry-run", ["A"]),
        (["ONE"], {"dry_run": True}, "dry-run", ["ONLY"]),
    ],
)
def test_each_kind_of_input_goes_to_its_run(
    given: dict[str, str],
    paths: list[str],
    options: dict[str, Any],
    mode: str,
    documents: list[str],
) -> None:
    made = route(given, *paths, **options)
    assert made.mode == mode
    assert list(made.paths) == [given.get(document, document) for document in documents]
    assert not made.files and not made.on_ray


@pytest.mark.parametrize(
    ("paths", "options", "output", "default"),
    [
        (["DOCS"], {}, DEFAULT_CORPUS_OUTPUT, True),
        (["GLOB"], {"output": "DIR"}, "DIR", False),
        (["A", "B"], {"output": "DIR"}, "DIR", False),
        (
            ["DOCS"],
            {"on_ray": True, "ray_address": "ray://head:10001"},
            DEFAULT_CORPUS_OUTPUT,
            True,
        ),
    ],
)
def test_folders_globs_and_files_into_a_folder_go_to_the_corpus_runner(
    given: dict[str, str], paths: list[str], options: dict[str, Any], output: Any, default: bool
) -> None:
    made = route(given, *paths, **options)
    assert made.mode == "folder"
    assert [file.path for file in made.files] == [given["A"], given["B"]]
    assert made.output == Path(given.get(str(output), str(output)))
    assert made.default_output is default
    assert made.on_ray is bool(options.get("on_ray"))
    assert made.ray_address == options.get("ray_address")


CONFLICTS = [
    (["-", "-"], {}, '"-" (stdin) can be given only once'),
    (["A", "B"], {"stream": True}, "--stream writes one report: add --combine"),
    (["DOCS"], {"stream": True}, "--stream writes one report: this run writes one per document"),
    (["-", "DOCS"], {}, '"-" (stdin) cannot be given with a folder or glob'),
    (["A"], {"on_ray": True}, "--ray runs folders and globs"),
    (["A"], {"ray_address": "ray://head:10001"}, "--ray-address names the cluster of --ray"),
    (["DOCS"], {"ray_address": "foo"}, "--ray-address names the cluster of --ray: add --ray"),
    (["A"], {"stream": True, "output_format": "html"}, "stdout: drop --format html"),
    (["A"], {"stream": True, "output": "DIR"}, "--stream writes Markdown to stdout: drop -o"),
    (["A"], {"dry_run": True, "output_format": "html"}, "as text: drop --format html"),
    (["A", "B"], {"dry_run": True, "combine": True}, "--dry-run shows the prompts of one document"),
    (["A"], {"dry_run": True, "output_format": "json"}, "--dry-run prints the prompts as text"),
    (["A", "B"], {"output": "FILE"}, "-o names a folder for a report each"),
    (["A"], {"stream": True, "output_format": "json"}, "--stream writes Markdown to stdout"),
    (["A", "B"], {"combine": True, "max_cost": 1.0}, "--max-cost does not work with --combine"),
    (["DOCS"], {"on_ray": True, "batch": True}, "--batch cannot be combined with --ray"),
]


@pytest.mark.parametrize(("paths", "options", "message"), CONFLICTS)
def test_conflicts_are_usage_errors(
    given: dict[str, str], paths: list[str], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        route(given, *paths, **options)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("command_line", "message"),
    [
        ({"--batch-poll"}, "--batch-poll sets how often --batch checks"),
        ({"--no-cache", "--refresh"}, "--no-cache neither reads nor stores"),
    ],
)
def test_an_option_given_without_its_partner_or_against_another_is_a_usage_error(
    given: dict[str, str], command_line: set[str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        route(given, "A", command_line=command_line)
    assert route(given, "A", batch=True, command_line={"--batch-poll", "--batch"})


def test_a_folder_or_glob_without_documents_is_an_input_error(given: dict[str, str]) -> None:
    with pytest.raises(InputError, match="matches no file"):
        route(given, given["DOCS"] + "/*.pdf")


@pytest.mark.parametrize(
    ("options", "terminal", "streams"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"output_format": "json"}, True, False),
        ({"output": "DIR"}, True, False),
        ({"stream": True}, False, True),
        ({"stream": False}, True, False),
    ],
)
def test_one_report_streams_when_asked_or_to_a_terminal(
    given: dict[str, str], options: dict[str, Any], terminal: bool, streams: bool
) -> None:
    made = route(given, "A", stdout_is_terminal=terminal, **options)
    assert made.options.stream is streams


@pytest.mark.parametrize(("paths", "options", "message"), CONFLICTS)
def test_the_command_stops_at_a_conflict_before_any_work(
    given: dict[str, str],
    paths: list[str],
    options: dict[str, Any],
    message: str,
    use_model: Callable[[RecordingModel], RecordingModel],
) -> None:
    model = use_model(RecordingModel(name="claude-sonnet-5-5"))
    args = ["report", *(given.get(path, path) for path in paths)]
    flags = {
        "stream": "--stream",
        "on_ray": "--ray",
        "dry_run": "--dry-run",
        "combine": "--combine",
        "batch": "--batch",
    }
    for name, value in options.items():
        if value is True:
            args.append(flags[name])
        else:
            option = {"output_format": "--format", "max_cost": "--max-cost"}.get(name, "")
            args += [option or f"--{name.replace('_', '-')}", str(given.get(str(value), value))]
    code, out, err = invoke(*args)
    assert code == 2 and out == "" and message in err, err
    assert model.requests == []
    assert not Path(given["DIR"]).exists() and not DEFAULT_CORPUS_OUTPUT.exists()


def test_the_command_only_parses_options_and_prints() -> None:
    source = inspect.getsource(report.callback)  # type: ignore[arg-type]
    body = source[source.index("def report(") :]
    assert len(body.splitlines()) <= 40
