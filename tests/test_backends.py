"""Backends come from one registry and declare what they can do; nothing outside
``docanalyze/models/`` asks a model or backend its name (issue 19)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.document import PAGE_MARKER_RE
from docanalyze.errors import ConfigError
from docanalyze.models import registry
from docanalyze.models.anthropic.capabilities import UNKNOWN_RULES, Capabilities
from docanalyze.models.base import Model, ModelFeatures, ModelReply, ModelRequest, Usage
from docanalyze.models.plugin import Backend, BackendSettings, BackendWiring
from docanalyze.store import RunStore

PACKAGE = Path(docanalyze.__file__).resolve().parent
ECHO_FEATURES = ModelFeatures(backend="echo")
"""A backend that can do nothing special: no streaming, caching, thinking or sampling."""


@dataclass
class EchoModel:
    """A tiny backend: each chunk becomes one cited bullet naming its first FACT token; the
    later stages pass the bullets on."""

    name: str = "echo-1"
    context_window: int = 100_000
    max_output_tokens: int = 8_000
    features: ModelFeatures = ECHO_FEATURES
    requests: list[ModelRequest] = field(default_factory=list)
    prepared: int = 0

    def rules_of(self, model: str) -> Capabilities:
        return UNKNOWN_RULES

    def estimate_tokens(self, text: str) -> int:
        return len(text) // 3 + 1

    async def prepare(self, store: RunStore | None, on_event: object) -> list[str]:
        self.prepared += 1
        return ["echo backend ready"]

    async def calibrate(self, store: RunStore | None, prompts: object, on_event: object) -> None:
        return None

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        if request.stage == "map":
            text = "\n".join(_bullet(material) for material in request.material)
        else:
            text = "\n".join(request.material)
        return ModelReply(text, "end_turn", self.name, Usage(requests=1, output_tokens=5))

    async def aclose(self) -> None:
        return None


def _bullet(material: str) -> str:
    fact = re.search(r"FACT-\d+", material)
    page = PAGE_MARKER_RE.search(material)
    return f"- echo {fact.group() if fact else 'nothing'} (p. {page.group(1) if page else '?'})"


@pytest.fixture
def echo_backend() -> Iterator[list[EchoModel]]:
    """The echo backend registered for one test; the models it built."""
    built: list[EchoModel] = []

    def create(settings: BackendSettings, wiring: BackendWiring) -> tuple[Model, list[str]]:
        model = EchoModel()
        built.append(model)
        return model, [f"echo answers for {settings.model}"]

    registry.register(Backend("echo", ECHO_FEATURES, create))
    try:
        yield built
    finally:
        registry.unregister("echo")


def _document(tmp_path: Path) -> Path:
    pages = [f"Page {n} says FACT-000{n} in a sentence of its own. " * 20 for n in (1, 2, 3)]
    path = tmp_path / "three.txt"
    path.write_text("\f".join(pages), encoding="utf-8")
    return path


def test_a_registered_backend_runs_a_report_through_the_api(
    echo_backend: list[EchoModel], tmp_path: Path
) -> None:
    report = docanalyze.analyze(_document(tmp_path), backend="echo", chunk_size=1200)
    [model] = echo_backend
    assert model.prepared == 1 and "echo backend ready" in report.notices
    assert "echo answers for" in " ".join(report.notices)
    for n in (1, 2, 3):
        assert f"- echo FACT-000{n} (p. {n})" in report.text
    assert report.backend == "echo" and report.model == "echo-1" and not report.offline
    # It declared no caching, thinking or sampling: no request asks for them.
    assert all(not r.cache_system and r.thinking is None for r in model.requests)
    assert {r.stage for r in model.requests} >= {"map", "final"}


def test_a_registered_backend_runs_a_report_from_the_command_line(
    echo_backend: list[EchoModel], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        ["report", str(_document(tmp_path)), "--backend", "echo", "--chunk-size", "1200"]
        + ["--format", "json", "-q"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "echo" and "- echo FACT-0002 (p. 2)" in data["report"]


def test_the_registry_names_the_backends_and_auto(echo_backend: list[EchoModel]) -> None:
    assert registry.backend_choices() == ("auto", "anthropic", "extractive", "echo")
    docanalyze.Options(backend="echo")
    registry.unregister("echo")
    with pytest.raises(ConfigError, match="--backend must be anthropic, extractive or auto"):
        docanalyze.Options(backend="echo")
    result = CliRunner().invoke(cli, ["report", "x.txt", "--backend", "echo"])
    assert result.exit_code == 2 and "'echo' is not one of" in result.output


def test_auto_picks_claude_with_a_key_and_the_extractive_analyzer_without() -> None:
    claude, none = registry.resolve_backend("auto", {"ANTHROPIC_API_KEY": "k"})
    offline, notices = registry.resolve_backend("auto", {})
    assert (claude.name, none) == ("anthropic", [])
    assert offline.name == "extractive" and notices == [registry.NO_KEY_NOTICE]
    assert offline.features.offline and not claude.features.offline
    assert claude.features.batches is False and claude.features.prompt_caching


_NAMES = r"""["'](?:extractive|anthropic|echo|claude-[\w.-]*)["']"""
_NAME_CHECKS = re.compile(
    rf"""(?:==|!=)\s*{_NAMES}"""  # x == "extractive"
    rf"""|{_NAMES}\s*(?:==|!=)"""  # "extractive" == x
    rf"""|\bin\s*[(\[{{][^\n]*{_NAMES}"""  # x in ("auto", "anthropic")
    r"""|\.backend\s*(?:==|!=|\bin\b|\bnot in\b)"""  # options.backend == ...
    r"""|\.name\s*(?:==|!=)\s*["']"""  # model.name == "..."
)


def name_checks(root: Path) -> list[str]:
    """Every comparison against a model or backend name in ``root``'s Python files, outside
    ``models/``, as ``path:line: code``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "models" in path.relative_to(root).parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _NAME_CHECKS.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_the_name_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ok.py").write_text('if name == "extractive":\n')
    (tmp_path / "bad.py").write_text(
        'a = model.name == "extractive"\nif options.backend == x:\n'
        "if 'claude-opus-5' != m:\nif b in ('auto', \"anthropic\"):\nc = x.name != 'y'\n"
        'ok = x.features.offline\nd = {"model": "claude-x"}\n'
    )
    assert [line.split(":")[1] for line in name_checks(tmp_path)] == ["1", "2", "3", "4", "5"]


def test_no_code_outside_the_model_layer_compares_a_model_or_backend_name() -> None:
    assert name_checks(PACKAGE) == []
