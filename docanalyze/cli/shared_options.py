"""The options that decide what a run sends, shared by ``report`` and ``plan``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from docanalyze.cli.app import NOT_RESUMABLE_KEY
from docanalyze.models.anthropic.capabilities import EFFORT_LEVELS
from docanalyze.models.registry import backend_choices
from docanalyze.options import FINAL_CHOICES, THINKING_CHOICES, Options
from docanalyze.prompting.templates import TEMPLATE_NAMES

F = TypeVar("F", bound=Callable[..., Any])

_TEMPLATE_FILES = ", ".join(f"{name}.j2" for name in TEMPLATE_NAMES[:-1])
_PROMPTS_HELP = (
    f"Folder with any of {_TEMPLATE_FILES} and {TEMPLATE_NAMES[-1]}.j2 overriding the defaults."
)


def _parse_vars(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    variables: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        variables[key.strip()] = value
    return variables


class BackendChoice(click.Choice[str]):
    """``--backend``'s choices, read from :mod:`docanalyze.models.registry` whenever asked (a
    backend registered after the command was built counts)."""

    def __init__(self) -> None:
        super().__init__(backend_choices())

    @property
    def choices(self) -> tuple[str, ...]:
        return backend_choices()

    @choices.setter
    def choices(self, _value: object) -> None:
        """The registry decides (click sets its choices when it builds the type)."""


def _auto_choice(flag: str, choices: tuple[str, ...], help: str) -> Callable[[F], F]:
    """An option among ``choices`` (the first, ``auto``, by default)."""
    return click.option(
        flag, type=click.Choice(choices), default=choices[0], show_default=True, help=help
    )


_ANALYSIS_OPTIONS = (
    click.option("--model", default=Options.model, show_default=True, help="Claude model."),
    click.option(
        "--prompts",
        "prompts_dir",
        type=click.Path(path_type=Path),
        metavar="DIR",
        help=_PROMPTS_HELP,
    ),
    click.option(
        "--var",
        "variables",
        multiple=True,
        callback=_parse_vars,
        metavar="KEY=VALUE",
        help="A variable for the templates (repeatable).",
    ),
    click.option(
        "--chunk-size", default=Options.chunk_size, show_default=True, help="Characters per chunk."
    ),
    click.option(
        "--chunk-overlap", type=int, help="Characters of overlap [default: 5% of --chunk-size]."
    ),
    click.option("--context-window", type=int, help="Context window of a model not in the table."),
    click.option(
        "--concurrency",
        default=Options.concurrency,
        show_default=True,
        help="Ceiling of requests in flight; the client adapts below it.",
    ),
    click.option(
        "--documents-at-once",
        type=int,
        metavar="N",
        help="With several documents: at most N at once [default: as many as the rate limits "
        "have room for].",
    ),
    click.option("--rpm", type=int, help="Cap on requests per minute (besides the API's limits)."),
    click.option("--input-tpm", type=int, help="Cap on input tokens per minute."),
    click.option("--output-tpm", type=int, help="Cap on output tokens per minute."),
    click.option("--question", help="Answer this question from the document, with page citations."),
    click.option(
        "--language",
        metavar="CODE",
        help="Language of the report: en, zh, ja, fr... [default: the document's].",
    ),
    _auto_choice(
        "--thinking",
        THINKING_CHOICES,
        "Up-front thinking of every stage; auto: off for map and reduce, on for the report; "
        "api: send no thinking setting (the API's defaults).",
    ),
    click.option(
        "--effort",
        type=click.Choice(list(EFFORT_LEVELS)),
        help="Effort of every stage [default: the lowest for map and reduce where the model "
        "always thinks, medium for the report].",
    ),
    click.option("--password", help="Password of an encrypted PDF."),
    click.option(
        "--keep-boilerplate",
        is_flag=True,
        help="Keep running headers and footers, page numbers and table-of-contents dot "
        "leaders (taken out before chunking by default).",
    ),
)


_REPORT_OPTIONS = (
    click.option(
        "--max-tokens",
        default=Options.max_tokens,
        show_default=True,
        help="Token budget of the report.",
    ),
    _auto_choice(
        "--final",
        FINAL_CHOICES,
        "Write the report in sections at once (faster), in one request, or auto: sections "
        "for a long report, one request for a short one or a --question.",
    ),
)


def analysis_options(command: F) -> F:
    """Add the options that decide what a run sends (model, templates, chunks, budgets, limits)."""
    for option in reversed((*_ANALYSIS_OPTIONS[:5], *_REPORT_OPTIONS, *_ANALYSIS_OPTIONS[5:])):
        command = option(command)
    return command


def extraction_options(command: F) -> F:
    """Add the options that decide what an extraction sends: those of :func:`analysis_options`
    but the report's (``--max-tokens``, ``--final``)."""
    for option in reversed(_ANALYSIS_OPTIONS):
        command = option(command)
    return command


def format_option(*choices: str, help: str | None = None) -> Callable[[F], F]:
    """``--format`` with ``choices``, the first the default, into ``output_format``."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help,
    )


def split_fields(given: tuple[str, ...]) -> tuple[str, ...]:
    """``--key`` values as field names: each given once, or comma-separated."""
    return tuple(name.strip() for value in given for name in value.split(",") if name.strip())


def given_options(ctx: click.Context) -> frozenset[str]:
    """The options of ``ctx``'s command given on the command line, by their long name."""
    return frozenset(
        max(param.opts, key=len)
        for param in ctx.command.params
        if isinstance(param, click.Option)
        and param.name is not None
        and ctx.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE
    )


_STORED_REPLY_OPTIONS = (
    click.option(
        "--no-cache", is_flag=True, help="Neither use nor store replies in the run store."
    ),
    click.option(
        "--refresh",
        is_flag=True,
        help="Ask again for calls already stored, and store the new replies.",
    ),
    click.option(
        "--batch",
        is_flag=True,
        help="Send the requests through the Message Batches API: half the price, slower.",
    ),
    click.option(
        "--batch-poll",
        "batch_poll_seconds",
        type=click.FloatRange(min=0, min_open=True),
        default=Options.batch_poll_seconds,
        show_default=True,
        metavar="SECONDS",
        help="With --batch: first interval between checks of a batch (it grows as it waits).",
    ),
)


def stored_reply_options(command: F) -> F:
    """Add ``--no-cache``, ``--refresh``, ``--batch`` and ``--batch-poll``: how a paid run
    keeps its replies and sends its requests (read them with :func:`cache_setting`)."""
    for option in reversed(_STORED_REPLY_OPTIONS):
        command = option(command)
    return command


def cache_setting(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with ``--no-cache``/``--refresh`` turned into :class:`Options`' ``cache``;
    a run that stores nothing is marked so that Ctrl-C does not promise a resume."""
    no_cache, refresh = settings.pop("no_cache"), settings.pop("refresh")
    settings["cache"] = "off" if no_cache else "refresh" if refresh else "use"
    if no_cache:
        click.get_current_context().meta[NOT_RESUMABLE_KEY] = True
    return settings
