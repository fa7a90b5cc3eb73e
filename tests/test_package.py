"""The package as users get it: public names, light import, templates inside the wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import docanalyze
from tests.conftest import PROJECT_ROOT

PUBLIC_NAMES = [
    "analyze",
    "analyze_async",
    "extract",
    "extract_async",
    "ExtractResult",
    "Record",
    "RecordTable",
    "RecordSchema",
    "SchemaError",
    "Pipeline",
    "Options",
    "Report",
    "ChunkResult",
    "Usage",
    "Model",
    "ModelRequest",
    "ModelReply",
    "ModelFeatures",
    "SeveralResult",
    "DocumentFailure",
    "plan_run",
    "RunPlan",
    "plan_corpus",
    "CorpusPlan",
    "preview_prompts",
    "DryRun",
    "plan_extraction",
    "preview_extraction",
    "analyze_corpus",
    "CorpusSummary",
    "Event",
    "Notice",
    "StageStarted",
    "StepFinished",
    "RequestReasked",
    "RequestRetried",
    "Waiting",
    "ReportText",
    "DocanalyzeError",
    "InputError",
    "TemplateError",
    "ConfigError",
    "ModelError",
    "BudgetError",
    "StoreError",
    "IncompleteRun",
    "CostLimitReached",
    "RefusedRun",
    "FailedRun",
    "UsageError",
]


def test_public_names_are_exactly_these() -> None:
    assert sorted(docanalyze.__all__) == sorted(PUBLIC_NAMES)
    for name in docanalyze.__all__:
        assert getattr(docanalyze, name).__doc__, f"{name} has no docstring"


def test_each_public_name_is_written_once() -> None:
    stub = (PROJECT_ROOT / "docanalyze" / "__init__.pyi").read_text(encoding="utf-8")
    module = (PROJECT_ROOT / "docanalyze" / "__init__.py").read_text(encoding="utf-8")
    for name in PUBLIC_NAMES:
        assert stub.count(f"    {name} as {name},") == 1, name
        assert not re.search(rf"\b{name}\b", module.split('"""', 2)[2]), name


def test_the_readme_lists_every_public_name() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("Everything `import docanalyze` exports:", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(\w+)`", section))
    assert set(docanalyze.__all__) <= listed, set(docanalyze.__all__) - listed


def test_importing_the_library_loads_neither_click_nor_rich() -> None:
    code = "import sys, docanalyze; print(sorted(m for m in ('click', 'rich') if m in sys.modules))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_the_wheel_ships_the_default_templates_and_the_html_page(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(PROJECT_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("docanalyze-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "docanalyze/prompts/map.j2",
        "docanalyze/prompts/reduce.j2",
        "docanalyze/prompts/final.j2",
        "docanalyze/report/templates/report.html.j2",
    } <= names
    assert not [name for name in names if "fakeserver" in name], "the fake server is test tooling"


def test_the_command_freezes_its_startup_heap_with_the_sdk_when_a_key_is_set() -> None:
    code = (
        "import gc, os, sys\n"
        "from docanalyze.cli.app import freeze_startup_heap\n"
        "assert 'anthropic' not in sys.modules and gc.get_freeze_count() == 0\n"
        "freeze_startup_heap()\n"
        "print('anthropic' in sys.modules, gc.get_freeze_count() > 50_000)\n"
    )
    env = {**os.environ, "ANTHROPIC_API_KEY": "fake-test-key"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "True"]


def _module_imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports: every import statement counts, at module level,
    under ``TYPE_CHECKING`` and inside functions alike (an import deferred to a function or hidden
    from the interpreter is still a dependency, and a cycle through it still a tangle)."""
    import ast

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # ``from .x import y``, relative to this module's package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # ``from package import module`` imports the module, as ``import package.module``
            # does; ``from module import name`` imports the module.
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {module for module in found if module in modules and module != name}


def package_import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the ``docanalyze`` package under ``root`` (packages by their
    ``__init__``) and the package modules it imports."""
    paths = {
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (root / "docanalyze").rglob("*.py")
    }
    return {name: _module_imports(path, name, set(paths)) for name, path in paths.items()}


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (``[a, b, a]``), or None when its imports flow one way."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done:
            return None
        visiting.append(name)
        for imported in sorted(graph[name]):
            cycle = visit(imported)
            if cycle is not None:
                return cycle
        visiting.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = visit(name)
        if cycle is not None:
            return cycle
    return None


def test_the_import_graph_counts_every_import(tmp_path: Path) -> None:
    package = tmp_path / "docanalyze"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from docanalyze.sub import deep\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "deep.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from docanalyze.low import Thing\n"
        "def later():\n    from . import sibling\n"
    )
    (package / "sub" / "sibling.py").write_text("import docanalyze.low\n")
    (package / "low.py").write_text("def f():\n    from docanalyze.sub.deep import later\n")
    graph = package_import_graph(tmp_path)
    assert graph["docanalyze"] == {"docanalyze.sub.deep"}
    assert graph["docanalyze.sub.deep"] == {"docanalyze.low", "docanalyze.sub.sibling"}
    assert graph["docanalyze.low"] == {"docanalyze.sub.deep"}
    assert import_cycle(graph) == ["docanalyze.sub.deep", "docanalyze.low", "docanalyze.sub.deep"]


def test_the_layout_has_few_top_modules_small_modules_and_no_import_cycle() -> None:
    package = PROJECT_ROOT / "docanalyze"
    assert len(list(package.glob("*.py"))) <= 12
    too_long = {
        path.name for path in package.rglob("*.py") if len(path.read_text().splitlines()) > 400
    }
    assert not too_long
    for folder in package.rglob("__init__.py"):
        assert ast_docstring(folder), f"{folder} says nothing of its job"
    cycle = import_cycle(package_import_graph(PROJECT_ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def ast_docstring(path: Path) -> str | None:
    import ast

    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--help"], True),
        (["plan", "{document}"], True),
        (["report", "{document}", "-q"], False),
        (["report", "{document}", "--backend", "extractive", "-q"], True),
        (["report", "{document}", "--dry-run"], True),
    ],
)
def test_commands_that_send_nothing_never_import_the_sdk(
    args: list[str], key: bool, tmp_path: Path
) -> None:
    document = tmp_path / "notes.txt"
    document.write_text("FACT-0001 is on page one.\fFACT-0002 is on page two.", encoding="utf-8")
    argv = ["docanalyze", *(arg.format(document=document) for arg in args)]
    code = (
        "import sys\n"
        "from docanalyze.cli import main\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "print('anthropic' in sys.modules, file=sys.stderr)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "ANTHROPIC_API_KEY"}
    if key:
        env["ANTHROPIC_API_KEY"] = "fake-test-key"
    env["DOCANALYZE_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stderr.split()[-1] == "False"
