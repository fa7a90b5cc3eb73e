"""--question and --language: detection, templates, the offline analyzer, the API and the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.document import Partial
from docanalyze.errors import ConfigError
from docanalyze.models.extractive.model import extract_sentences, write_report
from docanalyze.models.extractive.relevance import question_terms, relevance_scores
from docanalyze.models.extractive.textunits import split_citation
from docanalyze.options import Options
from docanalyze.prompting.templates import TEMPLATE_NAMES, PromptSet, TemplateName
from docanalyze.records.schema import SchemaField
from docanalyze.run.sections import OutlineEntry
from docanalyze.text.language import LANGUAGE_NAMES, detect_language, language_for, resolve_language
from fakeserver import FakeMessagesAPI, RecordedRequest
from fakeserver.replies import Responder
from fixtures.texts import SAMPLE_EN, SAMPLE_ZH, Page, page_text
from tests.fakes import RecordingModel, citing, is_map

DIVIDEND_QUESTION = "What dividend does the board propose, and when is it paid?"
UNANSWERABLE = "What is the population of Mongolia?"


def fixture_text(pages: list[Page]) -> str:
    return "\n\n".join(page_text(page) for page in pages)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def claude_env(server: FakeMessagesAPI) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}


# --- language detection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (fixture_text(SAMPLE_EN), "en"),
        (fixture_text(SAMPLE_ZH), "zh"),
        ("本合同自双方签字之日起生效。租金每月五千元，GDP 与 CPI 数据见附件 A。", "zh"),
        ("東京都は日本の首都であり、人口は約千四百万人です。会議は三月に開かれました。", "ja"),
        ("カタカナとひらがなだけの文です。", "ja"),
        ("대한민국의 수도는 서울입니다. 회의는 삼월에 열렸습니다.", "ko"),
        ("Совет директоров утвердил годовой отчёт и дивиденды за 2023 год.", "ru"),
        ("Le conseil propose un dividende de 1,15 euro par action pour les actionnaires.", "fr"),
        (
            "Der Vorstand schlägt eine Dividende von 1,15 Euro je Aktie vor und die Zahlung ist",
            "de",
        ),
        ("El consejo propone un dividendo de 1,15 euros por acción para los accionistas.", "es"),
        ("The report mentions 华晨 once, but it is written in English from start to end.", "en"),
        ("", "en"),
        ("12345 -- 67.89", "en"),
    ],
    ids=[
        "sample-en",
        "sample-zh",
        "zh-with-latin-terms",
        "ja-kanji-and-kana",
        "ja-kana-only",
        "ko",
        "ru",
        "fr",
        "de",
        "es",
        "en-with-a-chinese-word",
        "empty",
        "no-letters",
    ],
)
def test_detect_language(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_detection_samples_long_documents_from_beginning_middle_and_end() -> None:
    english, chinese = "The board met again. " * 5000, "董事会再次开会。" * 5000
    assert detect_language(english + chinese) == "zh"  # the middle and end are Chinese
    assert detect_language(english * 3 + chinese[:20]) == "en"


@pytest.mark.parametrize(
    ("requested", "code"),
    [("zh", "zh"), ("ZH", "zh"), ("zh-CN", "zh"), ("zh_TW", "zh"), ("Chinese", "zh"), ("fr", "fr")],
)
def test_language_for_accepts_codes_regions_and_english_names(requested: str, code: str) -> None:
    language = language_for(requested)
    assert language.code == code and language.name == LANGUAGE_NAMES[code]


def test_chinese_name_shows_the_native_name() -> None:
    assert language_for("zh").name == "Chinese (简体中文)"
    assert language_for("en").name == "English"


def test_unknown_language_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"^--language klingon: unknown language; use one of en, zh"
    ):
        Options(language="klingon")


def test_resolve_language_prefers_the_request_over_detection() -> None:
    assert resolve_language(None, fixture_text(SAMPLE_ZH)).code == "zh"
    assert resolve_language("de", fixture_text(SAMPLE_ZH)).code == "de"


# --- templates -----------------------------------------------------------------------------------


def built_ins(name: TemplateName, **run: object) -> dict[str, object]:
    partials = [Partial("- Rent is 1,200 EUR (p. 3)", 3, 3)]
    contexts: dict[TemplateName, dict[str, object]] = {
        "map": {
            "text": "[Page 3]\nRent is 1,200 EUR.",
            "index": 1,
            "total": 2,
            "first_page": 3,
            "last_page": 3,
        },
        "reduce": {"partials": partials, "level": 1, "group": 1, "groups": 1},
        "final": {"partials": partials, "chunk_count": 2, "offline": False},
        "section": {
            "partials": partials,
            "section": 1,
            "sections": 2,
            "outline": [OutlineEntry(1, 1, 3, current=True), OutlineEntry(2, 4, 9)],
            "max_tokens": 1000,
            "chunk_count": 2,
        },
        "overview": {
            "digest": partials,
            "outline": [OutlineEntry(1, 1, 3), OutlineEntry(2, 4, 9)],
            "sections": 2,
            "max_tokens": 500,
            "chunk_count": 2,
        },
        "extract": {
            "text": "[Page 3]\nThe tenant pays rent of 1,200 EUR.",
            "index": 1,
            "total": 2,
            "first_page": 3,
            "last_page": 3,
            "schema": "{}",
            "schema_title": "Payment",
            "fields": [SchemaField("payer", "string", "Who pays.", True)],
            "key": [],
        },
        "resolve": {
            "records": [{"fields": '{"payer": "Tenant"}', "pages": (3,), "quote": "tenant pays"}],
            "key": ["payer"],
            "schema": "{}",
            "schema_title": "Payment",
            "fields": [SchemaField("payer", "string", "Who pays.", True)],
        },
    }
    return {"source": "lease.pdf", "page_count": 9, **contexts[name], **run}


@pytest.mark.parametrize("name", [name for name in TEMPLATE_NAMES if name != "resolve"])
def test_default_templates_switch_to_the_question(name: TemplateName) -> None:
    """Every template that reads the document switches (resolve.j2 merges records already
    chosen by the question)."""
    prompts = PromptSet.load()
    plain = prompts.render(name, built_ins(name, language="en", language_name="English"))
    asked = prompts.render(
        name,
        built_ins(name, question="Who pays the rent?", language="en", language_name="English"),
    )
    assert "Who pays the rent?" not in plain and "<question>" not in plain
    assert "<question>\nWho pays the rent?\n</question>" in asked
    assert "bear" in asked and "bear" not in plain


def test_question_map_asks_to_say_when_a_part_has_nothing_relevant() -> None:
    prompt = PromptSet.load().render("map", built_ins("map", question="Who pays?"))
    assert "If nothing in this part bears on the question" in prompt
    assert "no substantive content" not in prompt


def test_question_final_answers_and_says_when_the_document_does_not() -> None:
    prompt = PromptSet.load().render("final", built_ins("final", question="Who pays?"))
    assert '"## Answer"' in prompt and '"## Evidence"' in prompt
    assert "The document does not answer this question." in prompt
    assert '"## Overview"' not in prompt


def test_question_reduce_keeps_every_relevant_point() -> None:
    prompt = PromptSet.load().render("reduce", built_ins("reduce", question="Who pays?"))
    assert "Keep EVERY point relevant to the question, with its pages" in prompt


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_default_templates_write_in_the_language_name(name: TemplateName) -> None:
    context = built_ins(name, language="zh", language_name="Chinese (简体中文)")
    prompt = PromptSet.load().render(name, context)
    assert re.search(r"Write (the whole report |field values )?in Chinese \(简体中文\)", prompt)


@pytest.mark.parametrize("name", ["language", "language_name", "question"])
def test_var_may_not_shadow_the_run_variables(name: str) -> None:
    with pytest.raises(ConfigError, match=f"^--var {name}: '{name}' is a built-in"):
        PromptSet.load(variables={name: "fr"})


def test_var_language_is_rejected_by_the_cli_with_one_line(fixtures_dir: Path) -> None:
    code, out, err = invoke(str(fixtures_dir / "sample.txt"), "--var", "language=fr")
    assert code == 1 and out == ""
    assert "'language' is a built-in template variable" in err


# --- relevance and the offline analyzer ----------------------------------------------------------


def test_question_terms_leave_out_function_words_and_stem_plurals() -> None:
    assert question_terms("What are the risks of the deadlines?") == {"risk", "deadline"}
    assert question_terms("董事会建议的现金红利是多少？") >= {"董事", "红利"}
    assert not any("的" in term or "多少" in term for term in question_terms("红利是多少"))


def test_relevance_is_the_share_of_question_terms_a_text_holds() -> None:
    scores = relevance_scores(
        "board dividend", ["The board proposes a dividend.", "The board met.", "Rain."]
    )
    assert scores == [1.0, 0.5, 0.0]


def marked(pages: list[Page]) -> str:
    return "\n\n".join(
        f"[Page {number}]\n{page_text(page)}" for number, page in enumerate(pages, 1)
    )


def test_offline_map_keeps_only_the_relevant_sentences() -> None:
    mapped = extract_sentences((marked(SAMPLE_EN),), 2000, DIVIDEND_QUESTION)
    bullets = mapped.splitlines()
    assert bullets and all("dividend" in line.lower() for line in bullets)
    assert any(split_citation(line)[1] == {1} for line in bullets)
    assert len(bullets) < len(extract_sentences((marked(SAMPLE_EN),), 2000).splitlines())


def test_offline_map_of_a_part_with_nothing_relevant_is_empty() -> None:
    assert extract_sentences((marked(SAMPLE_EN),), 2000, UNANSWERABLE) == ""


def test_offline_final_answers_with_the_most_relevant_passage_first() -> None:
    material = (extract_sentences((marked(SAMPLE_EN),), 2000, DIVIDEND_QUESTION),)
    report = write_report(material, 1000, "en", DIVIDEND_QUESTION)
    question, answer, passages = re.split(r"\n\n## (?:Answer|Relevant passages)\n\n", report)
    assert question == f"## Question\n\n{DIVIDEND_QUESTION}"
    assert answer.startswith("The Board proposes a dividend of EUR 1.15") and "(p. 1)" in answer
    assert "14 May 2024" in passages


def test_offline_final_says_when_the_document_does_not_answer() -> None:
    report = write_report((), 1000, "en", UNANSWERABLE)
    assert report.endswith(
        "## Answer\n\nThe document does not appear to answer this question: "
        "no passage shares its key terms."
    )
    assert "没有回答" in write_report((), 1000, "zh", UNANSWERABLE)


def test_the_model_receives_the_question_and_language_with_every_request() -> None:
    model = RecordingModel(responder=lambda request: "- point (p. 1)")
    docanalyze.Pipeline(client=model, question=" Who? ", chunk_size=400).analyze(
        fixture_text(SAMPLE_ZH)
    )
    assert {"map", "final"} <= {request.stage for request in model.requests}
    assert all(request.question == "Who?" for request in model.requests)
    assert all(request.language == "zh" for request in model.requests)
    assert all("<question>\nWho?\n</question>" in request.prompt for request in model.requests)


# --- the CLI, offline and through the fake server ------------------------------------------------


def test_cli_question_offline_answers_with_a_citation(fixtures_dir: Path) -> None:
    code, out, err = invoke(
        str(fixtures_dir / "sample-en.pdf"), "--question", DIVIDEND_QUESTION, "--chunk-size", "1500"
    )
    assert code == 0, err
    assert out.startswith("# Report: ")
    assert "ranked by how much they share with the question" in out
    answer = out.split("## Answer\n\n")[1].split("\n\n")[0]
    assert "EUR 1.15" in answer and "(p. 1)" in answer


def test_cli_question_offline_says_the_document_does_not_answer(fixtures_dir: Path) -> None:
    code, out, _ = invoke(str(fixtures_dir / "sample-en.pdf"), "--question", UNANSWERABLE)
    assert code == 0
    assert "The document does not appear to answer this question" in out
    assert "## Relevant passages" not in out


def answering_responder(answer: str) -> Responder:
    """Claude stand-in: extractions cite page 1; the final report is ``answer``; each claim
    cites what it was sent on its page."""

    def respond(request: RecordedRequest) -> str:
        if is_map(request) or "merging partial results" in request.prompt:
            return "- The Board proposes a dividend of EUR 1.15 per share (p. 1)"
        return answer

    return citing(respond)


def test_cli_question_through_claude_sends_it_in_every_prompt(
    make_fake_api: Callable[..., FakeMessagesAPI], fixtures_dir: Path
) -> None:
    answer = "# Dividend\n\n## Answer\n\nEUR 1.15 per share, paid on 14 May 2024 (p. 1)."
    server = make_fake_api(responder=answering_responder(answer))
    code, out, err = invoke(
        str(fixtures_dir / "sample-en.pdf"),
        "--question",
        DIVIDEND_QUESTION,
        "--chunk-size",
        "1500",
        env=claude_env(server),
    )
    assert code == 0, err
    assert (
        out.strip()
        == f"{answer}\n\nCitations: 1 verified, 0 corrected to their true page, 0 unsupported."
    )
    # The shared instructions (with the question) may travel as a cached system prompt.
    prompts = [request.system + request.prompt for request in server.requests]
    assert len(prompts) >= 3
    assert all(f"<question>\n{DIVIDEND_QUESTION}\n</question>" in prompt for prompt in prompts)
    assert all("Write" in prompt and "English" in prompt for prompt in prompts)
    assert "Answer the question from these points" in prompts[-1]


def test_cli_language_overrides_the_detected_language(
    make_fake_api: Callable[..., FakeMessagesAPI], fixtures_dir: Path
) -> None:
    server = make_fake_api(responder=answering_responder("# Rapport\n\nDividende (p. 1)."))
    code, _, err = invoke(
        str(fixtures_dir / "sample-en.pdf"), "--language", "fr", env=claude_env(server)
    )
    assert code == 0, err
    assert server.requests
    assert all("French (français)" in request.prompt for request in server.requests)


def test_cli_unknown_language_is_a_one_line_usage_error(fixtures_dir: Path) -> None:
    code, out, err = invoke(str(fixtures_dir / "sample.txt"), "--language", "xx")
    assert code == 2 and out == ""
    assert err.startswith("Error: --language xx: unknown language")
    assert err.strip().splitlines()[1:] == ["Try 'docanalyze report --help' for help."]


def test_report_help_shows_question_and_language_examples() -> None:
    result = CliRunner().invoke(cli, ["report", "--help"])
    assert "--question" in result.stdout and "--language" in result.stdout
    assert '--question "When can the tenant terminate?"' in result.stdout
