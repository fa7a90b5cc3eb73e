"""The template recipes in recipes/: they render under StrictUndefined with the variables that
exist, run offline, and through the fake server send their instructions with the document text."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.document import Partial
from docanalyze.models.extractive.textunits import (
    format_citation,
    split_citation,
    split_marked_text,
)
from docanalyze.prompting.templates import (
    RESERVED_VARIABLES,
    TEMPLATE_NAMES,
    PromptSet,
    TemplateName,
)
from docanalyze.records.schema import SchemaField
from docanalyze.run.sections import OutlineEntry
from fakeserver import FakeMessagesAPI, RecordedRequest
from tests.fakes import citing, is_map, part_text

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
RECIPE_NAMES = ["contract-obligations", "annual-report-risks", "chinese-summary"]

CONTRACT_PAGES = [
    (
        "SERVICE AGREEMENT between Harbour Tools Ltd (the Supplier) and Lindqvist Retail AB "
        "(the Customer).\n\nThe Supplier shall deliver 400 pallets of hand tools within 30 days "
        "of each purchase order."
    ),
    (
        "The Customer shall pay each invoice within 45 days of receipt.\n\nIf a delivery is late, "
        "the Supplier shall credit 2 percent of the order value for each week of delay."
    ),
    (
        "Either party may end this agreement with 90 days written notice.\n\nThe Customer shall "
        "keep the price list confidential until 31 December 2026."
    ),
]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def claude_env(server: FakeMessagesAPI) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    path = tmp_path / "contract.txt"
    path.write_text("\f".join(CONTRACT_PAGES), encoding="utf-8")
    return path


def recipe_dir(name: str) -> Path:
    return RECIPES / name


def full_context(name: TemplateName) -> dict[str, object]:
    """Every built-in variable of ``name``, with distinctive values."""
    partials = [Partial("- Party: the Customer | Action: pay (p. 2)", 2, 2)]
    values: dict[str, object] = {
        "text": "[Page 2]\nThe Customer shall pay each invoice.",
        "index": 1,
        "total": 3,
        "first_page": 2,
        "last_page": 2,
        "partials": partials,
        "level": 1,
        "group": 1,
        "groups": 1,
        "chunk_count": 3,
        "offline": False,
        "section": 1,
        "sections": 2,
        "outline": [OutlineEntry(1, 1, 2, current=True), OutlineEntry(2, 3, 3)],
        "digest": partials,
        "max_tokens": 1000,
        "source": "contract.txt",
        "page_count": 3,
        "question": None,
        "language": "zh",
        "language_name": "Chinese (简体中文)",
        "schema": "{}",
        "schema_title": "Obligation",
        "fields": [SchemaField("party", "string", "Who must act.", True)],
        "key": [],
        "records": [{"fields": '{"party": "the Customer"}', "pages": (2,), "quote": "shall pay"}],
    }
    return {key: value for key, value in values.items() if key in RESERVED_VARIABLES[name]}


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_recipe_templates_use_only_variables_that_exist(recipe: str) -> None:
    environment = jinja2.Environment()
    files = sorted(recipe_dir(recipe).glob("*.j2"))
    assert files
    for path in files:
        name: TemplateName = path.stem  # type: ignore[assignment]
        assert name in TEMPLATE_NAMES
        used = jinja2.meta.find_undeclared_variables(
            environment.parse(path.read_text(encoding="utf-8"))
        )
        assert used <= set(RESERVED_VARIABLES[name]), f"{path.name}: {used}"


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
@pytest.mark.parametrize("variables", [{}, {"party": "the Customer"}], ids=["plain", "with-var"])
def test_recipe_templates_render_under_strict_undefined(
    recipe: str, variables: dict[str, str]
) -> None:
    prompts = PromptSet.load(recipe_dir(recipe), variables)
    for name in TEMPLATE_NAMES:
        prompt = prompts.render(name, full_context(name))
        assert "contract.txt" in prompt
    if recipe == "contract-obligations":
        party_line = 'for the party "the Customer" only'
        assert (party_line in prompts.render("map", full_context("map"))) == bool(variables)


# --- contract obligations ------------------------------------------------------------------------


def obligation(sentence: str, page: int) -> str:
    party, _, action = sentence.partition(" shall ")
    deadline = re.search(r"within \d+ days[^.]*|until [^.]+", action)
    condition = re.match(r"If ([^,]+), ", party)
    return (
        f"- Party: {re.sub(r'^If [^,]+, ', '', party)} | Action: {action.rstrip('.')} | "
        f"Deadline: {deadline.group() if deadline else 'none stated'} | "
        f"Condition: {condition.group(1) if condition else 'none'} (p. {page})"
    )


def obligations_responder(request: RecordedRequest) -> str:
    """Claude stand-in for the recipe: one bullet per "shall" sentence; merges keep every bullet;
    the register is one table per party."""
    prompt = request.prompt
    text = part_text(request)
    if text is not None:
        found = [
            obligation(s.text, min(s.pages)) for s in split_marked_text(text) if " shall " in s.text
        ]
        return "\n".join(found) or "- No obligations in this part (p. 1)"
    bullets = [line for line in prompt.splitlines() if line.startswith("- Party: ")]
    bullets = [line for line in bullets if split_citation(line)[1]]
    if "<obligations" in prompt and "# Obligations:" not in prompt:
        return "\n".join(bullets)
    by_party: dict[str, list[str]] = {}
    for line in bullets:
        text, pages = split_citation(line[2:])
        fields = dict(part.split(": ", 1) for part in text.split(" | "))
        cells = [fields[key] for key in ("Action", "Deadline", "Condition")]
        row = f"| {' | '.join(cells)} | {format_citation(pages)} |"
        by_party.setdefault(fields["Party"], []).append(row)
    sections = [
        f"## {party}\n\n| Obligation | Deadline | Condition | Pages |\n| --- | --- | --- | --- |\n"
        + "\n".join(rows)
        for party, rows in by_party.items()
    ]
    return "# Obligations: contract.txt\n\n" + "\n\n".join(sections)


def test_contract_obligations_through_claude(
    make_fake_api: Callable[..., FakeMessagesAPI], contract: Path
) -> None:
    server = make_fake_api(responder=citing(obligations_responder))
    code, out, err = invoke(
        str(contract),
        "--prompts",
        str(recipe_dir("contract-obligations")),
        "--chunk-size",
        "200",
        env=claude_env(server),
    )
    assert code == 0, err
    prompts = [request.prompt for request in server.requests]
    map_prompts = [request.prompt for request in server.requests if is_map(request)]
    assert len(map_prompts) >= 3
    assert all("| Action: <what the party must or must not do> |" in p for p in map_prompts)
    assert "The Customer shall pay each invoice within 45 days" in "".join(map_prompts)
    assert "a table with the columns | Obligation | Deadline | Condition | Pages |" in prompts[-1]
    assert out.startswith("# Obligations: contract.txt")
    assert "## The Supplier\n" in out and "## The Customer\n" in out
    payment = "| pay each invoice within 45 days of receipt | within 45 days of receipt | none |"
    credit = "| credit 2 percent of the order value for each week of delay | none stated | "
    assert f"{payment} (p. 2) |" in out
    assert f"{credit}a delivery is late | (p. 2) |" in out
    assert "(p. 3) |" in out


def test_contract_obligations_offline(contract: Path) -> None:
    code, out, err = invoke(
        str(contract), "--prompts", str(recipe_dir("contract-obligations")), "--chunk-size", "200"
    )
    assert code == 0, err
    assert out.startswith("# Report: ")
    assert "The Customer shall pay each invoice within 45 days of receipt. (p. 2)" in out


# --- annual-report risks -------------------------------------------------------------------------


def risk_row(bullet: str) -> str:
    text, pages = split_citation(bullet[2:])
    fields = dict(part.split(": ", 1) for part in text.split(" | "))
    cells = [fields[key] for key in ("Risk", "Likelihood", "Impact", "Mitigation")]
    return f"| {' | '.join(cells)} | {format_citation(pages)} |"


def risks_responder(request: RecordedRequest) -> str:
    prompt = request.prompt
    text = part_text(request)
    if text is not None:
        sentences = split_marked_text(text)
        risks = [
            f"- Risk: {s.text} | Category: market | Likelihood: not stated | Impact: not stated | "
            f"Mitigation: none stated (p. {min(s.pages)})"
            for s in sentences
            if "risk" in s.text.lower()
        ]
        return "\n".join(risks) or f"- No risks in this part (p. {min(sentences[0].pages)})"
    risks = [line for line in prompt.splitlines() if line.startswith("- Risk: ")]
    if "<risks" in prompt and "# Risks:" in prompt:
        rows = [risk_row(line) for line in risks]
        header = "| Risk | Likelihood | Impact | Mitigation | Pages |"
        return f"# Risks: sample-en.pdf\n\n## Market\n\n{header}\n" + "\n".join(rows)
    return "\n".join(risks)


def test_annual_report_risks_through_claude(
    make_fake_api: Callable[..., FakeMessagesAPI], fixtures_dir: Path
) -> None:
    server = make_fake_api(responder=citing(risks_responder))
    code, out, err = invoke(
        str(fixtures_dir / "sample-en.pdf"),
        "--prompts",
        str(recipe_dir("annual-report-risks")),
        "--chunk-size",
        "1500",
        env=claude_env(server),
    )
    assert code == 0, err
    prompts = [request.prompt for request in server.requests]
    map_prompts = [request.prompt for request in server.requests if is_map(request)]
    assert len(map_prompts) >= 3
    assert all("Likelihood and impact only as the report states them" in p for p in map_prompts)
    assert "a shortage of qualified drivers" in "".join(map_prompts)
    assert "| Risk | Likelihood | Impact | Mitigation | Pages |" in prompts[-1]
    assert out.startswith("# Risks: sample-en.pdf")
    assert re.search(r"\| The main risks are a slowdown .* \| \(p\. 7\) \|", out)


def test_annual_report_risks_offline_with_a_question(fixtures_dir: Path) -> None:
    code, out, err = invoke(
        str(fixtures_dir / "sample-en.pdf"),
        "--prompts",
        str(recipe_dir("annual-report-risks")),
        "--question",
        "What are the main risks?",
    )
    assert code == 0, err
    answer = out.split("## Answer\n\n")[1].split("\n\n")[0]
    assert "The main risks are a slowdown in European industrial production" in answer
    assert "(p. 7)" in answer


# --- a Chinese summary of an English document ----------------------------------------------------


def summary_responder(request: RecordedRequest) -> str:
    if "# 摘要：" in request.prompt:
        overview = "北风物流（Northwind Logistics）二〇二三年收入为 EUR 412.6 million (p. 1)。"
        return f"# 摘要：sample-en.pdf\n\n## 概述\n\n{overview}"
    return "- Revenue reached EUR 412.6 million (p. 1)"


def test_chinese_summary_of_an_english_pdf_through_claude(
    make_fake_api: Callable[..., FakeMessagesAPI], fixtures_dir: Path
) -> None:
    server = make_fake_api(responder=citing(summary_responder))
    code, out, err = invoke(
        str(fixtures_dir / "sample-en.pdf"),
        "--prompts",
        str(recipe_dir("chinese-summary")),
        "--chunk-size",
        "1500",
        env=claude_env(server),
    )
    assert code == 0, err
    prompts = [request.prompt for request in server.requests]
    map_prompts = [request.prompt for request in server.requests if is_map(request)]
    assert map_prompts and "Northwind Logistics Ltd. is a freight" in "".join(map_prompts)
    assert "Write the summary in Simplified Chinese (简体中文)" in prompts[-1]
    assert "- Revenue reached EUR 412.6 million (p. 1)" in prompts[-1]
    assert out.startswith("# 摘要：sample-en.pdf") and "(p. 1)" in out


def test_chinese_summary_with_language_zh_asks_every_step_for_chinese(
    make_fake_api: Callable[..., FakeMessagesAPI], fixtures_dir: Path
) -> None:
    server = make_fake_api(responder=citing(summary_responder))
    code, _, err = invoke(
        str(fixtures_dir / "sample-en.pdf"),
        "--prompts",
        str(recipe_dir("chinese-summary")),
        "--language",
        "zh",
        env=claude_env(server),
    )
    assert code == 0, err
    map_prompts = [r.prompt for r in server.requests if is_map(r)]
    assert map_prompts and all("Write in Chinese (简体中文)" in p for p in map_prompts)


def test_chinese_summary_offline_has_chinese_headings(fixtures_dir: Path) -> None:
    code, out, err = invoke(
        str(fixtures_dir / "sample-en.pdf"),
        "--prompts",
        str(recipe_dir("chinese-summary")),
        "--language",
        "zh",
    )
    assert code == 0, err
    assert out.startswith("# 报告：") and "\n## 概述\n" in out and "\n## 要点\n" in out
    assert "(p. 1)" in out
