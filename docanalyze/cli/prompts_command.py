"""``docanalyze prompts``: list the templates a run uses, show one, copy the defaults to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from docanalyze.cli.app import cli, debug_option
from docanalyze.errors import ConfigError
from docanalyze.prompting.templates import (
    TEMPLATE_NAMES,
    PromptSet,
    TemplateName,
    default_prompts_dir,
)

_prompts_option = click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(path_type=Path),
    help="Folder whose templates override the defaults, as with `docanalyze report --prompts`.",
)


def _template_name(value: str, param: click.Parameter | None) -> TemplateName:
    """``map``, ``reduce`` or ``final``, with or without ``.j2``."""
    text = value.strip().removesuffix(".j2")
    for name in TEMPLATE_NAMES:
        if text == name:
            return name
    allowed = ", ".join(TEMPLATE_NAMES)
    raise click.BadParameter(
        f"{value!r} is not a template: use one of {allowed} (or map.j2, ...)", param=param
    )


def _one_name(_ctx: click.Context, param: click.Parameter, value: str) -> TemplateName:
    return _template_name(value, param)


def _names(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[TemplateName, ...]:
    return tuple(_template_name(value, param) for value in values)


@cli.group(
    epilog="""\b
Examples:
  docanalyze prompts list
  docanalyze prompts list --prompts my-prompts/
  docanalyze prompts show map
  docanalyze prompts show reduce.j2 --prompts my-prompts/
  docanalyze prompts init my-prompts/
""",
)
def prompts() -> None:
    """The prompt templates: which ones a run uses, their text, and copies to edit."""


@prompts.command(
    "list",
    epilog="""\b
Examples:
  docanalyze prompts list
  docanalyze prompts list --prompts my-prompts/
""",
)
@_prompts_option
@debug_option
def list_templates(prompts_dir: Path | None) -> None:
    """List the templates a run uses, where each comes from, and its header settings."""
    prompt_set = PromptSet.load(prompts_dir)
    defaults = default_prompts_dir().resolve()
    for name in TEMPLATE_NAMES:
        path = Path(prompt_set.origin(name))
        where = "default" if path.parent == defaults else f"--prompts {prompts_dir}"
        settings = prompt_set.settings(name).describe()
        line = f"{name + '.j2':<10} {where:<24} {path}"
        click.echo(f"{line}  [{settings}]" if settings else line)


@prompts.command(
    "show",
    epilog="""\b
Examples:
  docanalyze prompts show map
  docanalyze prompts show final.j2 > my-prompts/final.j2
  docanalyze prompts show reduce --prompts my-prompts/
""",
)
@click.argument("name", callback=_one_name)
@_prompts_option
@debug_option
def show_template(name: TemplateName, prompts_dir: Path | None) -> None:
    """Print the source of template NAME (one of the seven: map, reduce, final, section,
    overview, extract, resolve): the one a run would use."""
    click.echo(PromptSet.load(prompts_dir).source(name), nl=False)


@prompts.command(
    "init",
    epilog="""\b
Examples:
  docanalyze prompts init my-prompts/          # copy all seven templates
  docanalyze prompts init my-prompts/ map      # only map.j2
  docanalyze prompts init my-prompts/ --force  # overwrite copies made before
""",
)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("names", nargs=-1, callback=_names)
@click.option("--force", is_flag=True, help="Overwrite templates that already exist in DIRECTORY.")
@debug_option
def init_templates(directory: Path, names: tuple[TemplateName, ...], force: bool) -> None:
    """Copy the default templates (all, or the NAMES given) into DIRECTORY to edit them."""
    chosen = names or TEMPLATE_NAMES
    targets = {name: directory / f"{name}.j2" for name in dict.fromkeys(chosen)}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not force:
        raise ConfigError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: "
            "nothing was written; pass --force to overwrite, or choose another folder"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, target in targets.items():
            shutil.copyfile(default_prompts_dir() / f"{name}.j2", target)
    except OSError as error:
        raise ConfigError(f"cannot write to {directory}: {error.strerror or error}") from error
    for target in targets.values():
        click.echo(f"wrote {target}")
    click.echo(f"Edit them, then run: docanalyze report FILE --prompts {directory}")
