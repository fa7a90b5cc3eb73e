"""The prompt templates: defaults, overrides, user variables, errors and the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from docanalyze.document import Partial
from docanalyze.errors import ConfigError, TemplateError
from docanalyze.prompting.templates import (
    RESERVED_VARIABLES,
    TEMPLATE_NAMES,
    PromptSet,
    TemplateName,
    default_prompts_dir,
)
from docanalyze.records.schema import SchemaField
from docanalyze.run.sections import OutlineEntry

INJECTION = (
    "Clause {{ 7*7 }} and {% for x in y %}loop{% endfor %} and {# note #} <b>R&D</b> 'quoted' end"
)

PARTIALS = [
    Partial("- Rent is 1,200 EUR (p. 3)", 3, 4),
    Partial("- Term is three years (pp. 8–9)", 8, 9),
]


def context(name: TemplateName, **overrides: object) -> dict[str, object]:
    """A built-in context for ``name`` with distinctive values."""
    contexts: dict[TemplateName, dict[str, object]] = {
        "map": {
            "text": "[Page 12]\nThe rent is due monthly.",
            "index": 5,
            "total": 17,
            "first_page": 12,
            "last_page": 14,
            "source": "lease-2025.pdf",
            "page_count": 321,
        },
        "reduce": {
            "partials": PARTIALS,
            "level": 2,
            "group": 3,
            "groups": 7,
            "source": "lease-2025.pdf",
            "page_count": 321,
        },
        "final": {
            "partials": PARTIALS,
            "source": "lease-2025.pdf",
            "page_count": 321,
            "chunk_count": 44,
            "offline": False,
        },
        "section": {
            "partials": PARTIALS,
            "section": 2,
            "sections": 3,
            "outline": [
                OutlineEntry(1, 1, 100),
                OutlineEntry(2, 101, 200, current=True),
                OutlineEntry(3, 201, 321),
            ],
            "max_tokens": 1000,
            "source": "lease-2025.pdf",
            "page_count": 321,
            "chunk_count": 44,
        },
        "extract": {
            "text": "[Page 12]\nThe tenant shall pay the rent monthly.",
            "index": 5,
            "total": 17,
            "first_page": 12,
            "last_page": 14,
            "source": "lease-2025.pdf",
            "page_count": 321,
            "schema": "{}",
            "schema_title": "Obligation",
            "fields": [SchemaField("party", "string", "Who must act.", True)],
            "key": ["party"],
        },
        "resolve": {
            "records": [
                {"fields": '{"party": "Tenant"}', "pages": (3,), "quote": "The tenant shall pay"},
                {"fields": '{"party": "the Tenant"}', "pages": (9,), "quote": "Tenant pays"},
            ],
            "key": ["party"],
            "schema": "{}",
            "schema_title": "Obligation",
            "fields": [SchemaField("party", "string", "Who must act.", True)],
            "source": "lease-2025.pdf",
            "page_count": 321,
        },
        "overview": {
            "digest": PARTIALS,
            "outline": [OutlineEntry(1, 1, 100), OutlineEntry(2, 101, 321)],
            "sections": 2,
            "max_tokens": 500,
            "source": "lease-2025.pdf",
            "page_count": 321,
            "chunk_count": 44,
        },
    }
    return {**contexts[name], **overrides}


def write_templates(directory: Path, **templates: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for filename, source in templates.items():
        (directory / filename.replace("_j2", ".j2")).write_text(source, encoding="utf-8")
    return directory


def test_default_dir_holds_the_templates_of_every_stage() -> None:
    directory = default_prompts_dir()
    assert sorted(path.name for path in directory.glob("*.j2")) == [
        "extract.j2",
        "final.j2",
        "map.j2",
        "overview.j2",
        "reduce.j2",
        "resolve.j2",
        "section.j2",
    ]
    prompts = PromptSet.load()
    for name in TEMPLATE_NAMES:
        assert Path(prompts.origin(name)) == directory / f"{name}.j2"


def test_default_map_renders_its_variables() -> None:
    prompt = PromptSet.load().render("map", context("map"))
    assert "<document_part>\n[Page 12]\nThe rent is due monthly.\n</document_part>" in prompt
    assert "part 5 of 17" in prompt
    assert "pages 12–14" in prompt
    assert '"lease-2025.pdf" (321 pages)' in prompt
    assert "(p. N)" in prompt and "(pp. N–M)" in prompt


def test_default_map_names_a_single_page() -> None:
    prompt = PromptSet.load().render("map", context("map", first_page=9, last_page=9))
    assert "page 9." in prompt
    assert "pages 9" not in prompt


def test_default_reduce_renders_its_variables() -> None:
    prompt = PromptSet.load().render("reduce", context("reduce"))
    assert '<partial_result pages="3–4">\n- Rent is 1,200 EUR (p. 3)\n</partial_result>' in prompt
    assert '<partial_result pages="8–9">\n- Term is three years (pp. 8–9)\n' in prompt
    assert prompt.index("Rent is 1,200") < prompt.index("Term is three years")
    assert "level 2, group 3 of 7" in prompt
    assert '"lease-2025.pdf" (321 pages)' in prompt


def test_default_reduce_renders_without_partials() -> None:
    prompt = PromptSet.load().render("reduce", context("reduce", partials=[]))
    assert "<partial_result" not in prompt
    assert "Merge these partial results" in prompt


def test_default_final_renders_its_variables() -> None:
    prompt = PromptSet.load().render("final", context("final"))
    assert "- Rent is 1,200 EUR (p. 3)" in prompt
    assert "- Term is three years (pp. 8–9)" in prompt
    assert "# Report: lease-2025.pdf" in prompt
    assert "321 pages, analyzed in 44 parts" in prompt
    assert "## Overview" in prompt


@pytest.mark.parametrize("name", ["map", "final", "section", "overview"])
def test_default_templates_count_one_page_and_one_part_in_the_singular(name: TemplateName) -> None:
    prompt = PromptSet.load().render(name, context(name, page_count=1, chunk_count=1, total=1))
    assert '"lease-2025.pdf" (1 page)' in prompt
    assert "1 pages" not in prompt and "1 parts" not in prompt


@pytest.mark.parametrize("name", ["final", "section", "overview"])
def test_default_templates_say_how_many_parts_there_were(name: TemplateName) -> None:
    prompt = PromptSet.load().render(name, context(name))
    assert '"lease-2025.pdf" (321 pages, analyzed in 44 parts)' in prompt


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_default_templates_follow_the_focus_variable(name: TemplateName) -> None:
    plain = PromptSet.load().render(name, context(name))
    focused = PromptSet.load(variables={"focus": "termination rights"}).render(name, context(name))
    assert "termination rights" not in plain
    assert "Pay particular attention to: termination rights" in focused


def test_override_dir_replaces_only_its_templates(tmp_path: Path) -> None:
    override = write_templates(tmp_path / "mine", map_j2="MINE {{ index }}/{{ total }}")
    prompts = PromptSet.load(override)
    assert prompts.render("map", context("map")) == "MINE 5/17"
    assert Path(prompts.origin("map")) == (override / "map.j2").resolve()
    assert Path(prompts.origin("reduce")) == default_prompts_dir() / "reduce.j2"
    assert "Merge these partial results" in prompts.render("reduce", context("reduce"))


def test_override_dir_ignores_unknown_templates(tmp_path: Path) -> None:
    override = write_templates(
        tmp_path / "mine", final_j2="FINAL {{ chunk_count }}", notes_j2="{{ broken"
    )
    assert PromptSet.load(override).render("final", context("final")) == "FINAL 44"


def test_missing_override_dir_says_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as raised:
        PromptSet.load(tmp_path / "absent")
    message = str(raised.value)
    assert str(tmp_path / "absent") in message
    assert "map.j2, reduce.j2, final.j2" in message


def test_override_dir_without_any_template_is_an_error(tmp_path: Path) -> None:
    override = write_templates(tmp_path / "mine", other_j2="hello")
    with pytest.raises(TemplateError, match=r"found none of map\.j2, reduce\.j2, final\.j2"):
        PromptSet.load(override)


def test_include_from_the_override_dir(tmp_path: Path) -> None:
    override = write_templates(
        tmp_path / "mine",
        map_j2='{% include "header.j2" %}|{{ text }}',
        header_j2="HEADER for {{ source }}",
    )
    assert PromptSet.load(override).render("map", context("map", text="T")) == (
        "HEADER for lease-2025.pdf|T"
    )


def test_override_can_include_the_default_it_replaces(tmp_path: Path) -> None:
    override = write_templates(
        tmp_path / "mine", map_j2='{% include "default/map.j2" %}\nAlso list every party.'
    )
    prompt = PromptSet.load(override).render("map", context("map"))
    assert "<document_part>" in prompt
    assert prompt.endswith("Also list every party.")


def test_user_variables_are_top_level_and_in_vars(tmp_path: Path) -> None:
    override = write_templates(
        tmp_path / "mine",
        map_j2="{{ audience }}|{{ vars.audience }}|{{ vars['tone'] }}|{{ vars | length }}",
    )
    prompts = PromptSet.load(override, {"audience": "lawyers", "tone": "formal"})
    assert prompts.render("map", context("map")) == "lawyers|lawyers|formal|2"
    assert prompts.variables == {"audience": "lawyers", "tone": "formal"}


def test_vars_is_empty_without_user_variables(tmp_path: Path) -> None:
    override = write_templates(tmp_path / "mine", final_j2="{{ vars | length }}")
    assert PromptSet.load(override).render("final", context("final")) == "0"


@pytest.mark.parametrize(
    "reserved", sorted({name for names in RESERVED_VARIABLES.values() for name in names})
)
def test_user_variable_may_not_reuse_a_built_in_name(reserved: str) -> None:
    with pytest.raises(ConfigError) as raised:
        PromptSet.load(variables={reserved: "x"})
    assert str(raised.value) == (
        f"--var {reserved}: '{reserved}' is a built-in template variable; choose another name"
    )


def test_user_variable_name_must_be_an_identifier() -> None:
    with pytest.raises(ConfigError, match=r"^--var my-key: a variable name must be"):
        PromptSet.load(variables={"my-key": "x"})


def test_undefined_variable_names_template_line_and_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_templates(tmp_path / "prompts", map_j2="Intro\n\n{{ text }}\n{{ chunk_text }}\n")
    prompts = PromptSet.load(Path("prompts"), {"audience": "lawyers"})
    with pytest.raises(TemplateError) as raised:
        prompts.render("map", context("map"))
    assert str(raised.value) == (
        "template prompts/map.j2, line 4: 'chunk_text' is undefined (available: text, index, "
        "total, first_page, last_page, source, page_count, question, language, language_name, "
        "citable, vars, audience)"
    )


def test_undefined_attribute_names_the_line(tmp_path: Path) -> None:
    override = write_templates(
        tmp_path / "mine", reduce_j2="{% for p in partials %}\n{{ p.txt }}\n{% endfor %}"
    )
    with pytest.raises(TemplateError) as raised:
        PromptSet.load(override).render("reduce", context("reduce"))
    message = str(raised.value)
    assert "reduce.j2, line 2:" in message
    assert "has no attribute 'txt'" in message
    assert (
        "(available: partials, level, group, groups, source, page_count, question, language, "
        "language_name, citable, vars)"
    ) in message


def test_error_in_an_included_template_names_that_file(tmp_path: Path) -> None:
    override = write_templates(
        tmp_path / "mine", map_j2='A\n{% include "part.j2" %}', part_j2="x\ny\n{{ missing }}"
    )
    with pytest.raises(TemplateError, match=r"part\.j2, line 3: 'missing' is undefined"):
        PromptSet.load(override).render("map", context("map"))


def test_missing_include_is_a_template_error(tmp_path: Path) -> None:
    override = write_templates(tmp_path / "mine", map_j2='A\n\n{% include "nope.j2" %}')
    with pytest.raises(TemplateError, match=r"map\.j2, line 3: 'nope\.j2' not found in "):
        PromptSet.load(override).render("map", context("map"))


def test_syntax_error_is_reported_at_load_with_its_line(tmp_path: Path) -> None:
    override = write_templates(tmp_path / "mine", final_j2="ok\n{% for p in partials %}\n{{ p")
    with pytest.raises(TemplateError) as raised:
        PromptSet.load(override)
    message = str(raised.value)
    assert "final.j2, line 3: syntax error:" in message
    assert message.startswith("template ")
    assert "\n" not in message


def test_runtime_failure_is_a_template_error(tmp_path: Path) -> None:
    override = write_templates(tmp_path / "mine", map_j2="\n{{ index / 0 }}")
    with pytest.raises(TemplateError, match=r"map\.j2, line 2: division by zero"):
        PromptSet.load(override).render("map", context("map"))


def test_document_text_is_never_rendered_as_a_template() -> None:
    prompt = PromptSet.load().render("map", context("map", text=f"[Page 12]\n{INJECTION}"))
    assert INJECTION in prompt
    assert "49" not in prompt


@pytest.mark.parametrize("name", ["reduce", "final"])
def test_partial_texts_are_never_rendered_as_templates(name: TemplateName) -> None:
    partials = [Partial(f"- {INJECTION} (p. 2)", 2, 2)]
    prompt = PromptSet.load().render(name, context(name, partials=partials))
    assert f"- {INJECTION} (p. 2)" in prompt
    assert "49" not in prompt


def test_user_variable_values_are_never_rendered_as_templates(tmp_path: Path) -> None:
    override = write_templates(tmp_path / "mine", map_j2="{{ note }}")
    prompts = PromptSet.load(override, {"note": INJECTION})
    assert prompts.render("map", context("map")) == INJECTION


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}",
        "{{ text.__class__.__base__.__subclasses__() }}",
        "{{ self._TemplateReference__context }}",
    ],
)
def test_sandbox_blocks_escape_attempts(tmp_path: Path, attack: str) -> None:
    override = write_templates(tmp_path / "mine", map_j2=f"line one\n{attack}")
    prompts = PromptSet.load(override)
    with pytest.raises(TemplateError, match=r"map\.j2, line 2: .*unsafe"):
        prompts.render("map", context("map"))


def test_default_dir_prefers_the_copy_inside_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docanalyze.prompting.templates as prompts_module

    package = tmp_path / "site-packages" / "docanalyze"
    (package / "prompts").mkdir(parents=True)
    (tmp_path / "site-packages" / "prompts").mkdir()
    monkeypatch.setattr(prompts_module, "__file__", str(package / "prompting" / "templates.py"))
    assert default_prompts_dir() == (package / "prompts").resolve()


def test_default_dir_falls_back_to_the_checkout_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docanalyze.prompting.templates as prompts_module

    package = tmp_path / "checkout" / "docanalyze"
    package.mkdir(parents=True)
    monkeypatch.setattr(prompts_module, "__file__", str(package / "prompting" / "templates.py"))
    with pytest.raises(TemplateError, match="default prompt templates are missing"):
        default_prompts_dir()
    (tmp_path / "checkout" / "prompts").mkdir()
    assert default_prompts_dir() == (tmp_path / "checkout" / "prompts").resolve()


README_EXAMPLE = """\
You are reviewing part {{ index }} of {{ total }} of "{{ source }}" for {{ audience }}.

<document_part>
{{ text }}
</document_part>

List every obligation, deadline and penalty in this part, one bullet each.
End every bullet with its page citation from the [Page N] markers: "(p. N)" or "(pp. N–M)".
{% if vars.tone is defined %}
Write in a {{ vars.tone }} tone.
{% endif %}
"""


@pytest.mark.parametrize("tone", [None, "plain"])
def test_readme_example_template(tmp_path: Path, tone: str | None) -> None:
    override = write_templates(tmp_path / "my-prompts", map_j2=README_EXAMPLE)
    variables = {"audience": "tenants", **({"tone": tone} if tone else {})}
    prompt = PromptSet.load(override, variables).render("map", context("map"))
    assert prompt.startswith('You are reviewing part 5 of 17 of "lease-2025.pdf" for tenants.\n\n')
    assert "<document_part>\n[Page 12]\nThe rent is due monthly.\n</document_part>" in prompt
    ending = '"(pp. N–M)".\nWrite in a plain tone.' if tone else '"(pp. N–M)".'
    assert prompt.rstrip().endswith(ending)


def test_an_edited_template_is_compiled_again_in_the_same_process(tmp_path: Path) -> None:
    template = tmp_path / "map.j2"
    template.write_text("first version: {{ text }}", encoding="utf-8")
    first = PromptSet.load(tmp_path).render("map", {"text": "T"})
    template.write_text("second version: {{ text }}", encoding="utf-8")
    second = PromptSet.load(tmp_path).render("map", {"text": "T"})
    assert (first, second) == ("first version: T", "second version: T")
