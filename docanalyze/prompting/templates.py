"""Prompt templates: the defaults shipped with docanalyze, user overrides, sandboxed rendering.

Three Jinja templates drive an analysis: ``map.j2`` (one chunk of the document), ``reduce.j2``
(merge partial results) and ``final.j2`` (the report); ``section.j2`` and ``overview.j2`` write a
report section by section, and ``extract.j2`` (one chunk's records) and ``resolve.j2`` (records
worded differently, merged into one) drive ``docanalyze extract``. ``--prompts DIR`` overrides any subset of
them; the others come from the defaults. Templates render in Jinja's sandbox with undefined
variables as errors, and the document text is always passed as a value, never rendered as a
template, so ``{{ ... }}`` in a document comes through literally.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from docanalyze.errors import ConfigError, TemplateError
from docanalyze.prompting.header import TemplateSettings, parse_template_header
from docanalyze.prompting.shared_instructions import (
    render_shared_block,
    render_without_shared_block,
)

__all__ = [
    "RESERVED_VARIABLES",
    "RUN_VARIABLES",
    "TEMPLATE_NAMES",
    "PromptSet",
    "TemplateName",
    "default_prompts_dir",
]

TemplateName = Literal["map", "reduce", "final", "section", "overview", "extract", "resolve"]
TEMPLATE_NAMES: tuple[TemplateName, ...] = get_args(TemplateName)

RUN_VARIABLES: dict[str, object] = {
    "question": None,
    "language": None,
    "language_name": None,
    "citable": False,
}
"""The variables of the whole run every template gets, with the values :meth:`PromptSet.render`
uses when its caller leaves them out (a run always passes them): the ``--question`` (``None``
without one), the report's language code and name (e.g. ``zh``, ``Chinese (简体中文)``), and
``citable``: whether the request sends its pages or points beside the prompt as citable
content (the backend cites), so the prompt need not repeat them."""
_RUN_NAMES = tuple(RUN_VARIABLES)

RESERVED_VARIABLES: dict[TemplateName, tuple[str, ...]] = {
    "map": ("text", "index", "total", "first_page", "last_page", "source", "page_count")
    + (*_RUN_NAMES, "vars"),
    "reduce": ("partials", "level", "group", "groups", "source", "page_count", *_RUN_NAMES, "vars"),
    "final": ("partials", "source", "page_count", "chunk_count", "offline", *_RUN_NAMES, "vars"),
    "section": ("partials", "section", "sections", "outline", "max_tokens", "source")
    + ("page_count", "chunk_count", *_RUN_NAMES, "vars"),
    "overview": ("digest", "outline", "sections", "max_tokens", "source", "page_count")
    + ("chunk_count", *_RUN_NAMES, "vars"),
    "extract": ("text", "index", "total", "first_page", "last_page", "source", "page_count")
    + ("schema", "schema_title", "fields", "key", *_RUN_NAMES, "vars"),
    "resolve": ("records", "key", "schema", "schema_title", "fields", "source", "page_count")
    + (*_RUN_NAMES, "vars"),
}
"""The variables docanalyze passes to each template; ``--var`` may not reuse these names."""

_BUILT_IN_NAMES = frozenset(name for names in RESERVED_VARIABLES.values() for name in names)
_RUNTIME_ERRORS = (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError)


def default_prompts_dir() -> Path:
    """The folder of the default templates: ``docanalyze/prompts`` in an installed wheel,
    ``<checkout>/prompts`` in a source checkout or editable install."""
    package_dir = Path(__file__).resolve().parent.parent  # docanalyze/
    candidates = (package_dir / "prompts", package_dir.parent / "prompts")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = " and ".join(str(candidate) for candidate in candidates)
    raise TemplateError(
        f"the default prompt templates are missing (looked in {looked}); reinstall docanalyze"
    )


def _template_file(name: TemplateName) -> str:
    return f"{name}.j2"


class PromptSet:
    """The templates of a run, loaded once and rendered for every request.

    Rendering is safe to call concurrently. User ``variables`` are visible in every template
    as top-level names and as the dict ``vars``.
    """

    def __init__(
        self,
        environment: jinja2.Environment,
        templates: Mapping[TemplateName, jinja2.Template],
        variables: Mapping[str, str],
        search_dirs: tuple[Path, ...],
        settings: Mapping[TemplateName, TemplateSettings] | None = None,
    ) -> None:
        self._environment = environment
        self._templates = dict(templates)
        self._variables = dict(variables)
        self._search_dirs = search_dirs
        self._settings = dict(settings or {})

    @classmethod
    def load(
        cls, override_dir: Path | None = None, variables: Mapping[str, str] | None = None
    ) -> PromptSet:
        """Load the templates: those in ``override_dir`` win, the others are the defaults.

        Raises :class:`ConfigError` for a ``--var`` name that is a built-in variable, and
        :class:`TemplateError` for a missing override folder, a template with a syntax error,
        or an invalid ``docanalyze:`` header (:mod:`docanalyze.prompting.header`).
        """
        variables = dict(variables or {})
        _check_variables(variables)
        search_dirs: tuple[Path, ...] = (default_prompts_dir().resolve(),)
        if override_dir is not None:
            search_dirs = (_check_override_dir(override_dir), *search_dirs)
        environment = _make_environment(search_dirs)
        templates = {name: _compile(environment, name, search_dirs) for name in TEMPLATE_NAMES}
        settings = {name: _read_settings(environment, name) for name in TEMPLATE_NAMES}
        return cls(environment, templates, variables, search_dirs, settings)

    @property
    def variables(self) -> dict[str, str]:
        """The user variables (``--var``), a copy."""
        return dict(self._variables)

    def origin(self, name: TemplateName) -> str:
        """The path of the file template ``name`` was loaded from."""
        return self._templates[name].filename or _template_file(name)

    def settings(self, name: TemplateName) -> TemplateSettings:
        """The model, temperature and max_tokens set by the header of template ``name``."""
        return self._settings.get(name, TemplateSettings())

    def source(self, name: TemplateName) -> str:
        """The text of the file template ``name`` was loaded from, header included."""
        return _template_source(self._environment, name)

    def render(
        self, name: TemplateName, context: Mapping[str, object], *, without_shared: bool = False
    ) -> str:
        """Render template ``name`` with the built-in ``context`` and the user variables.

        With ``without_shared``, the template's ``shared_instructions`` block is left out (see
        :mod:`docanalyze.prompting.shared_instructions`). Raises :class:`TemplateError` naming the template
        file and line when the template uses an undefined variable, fails, or tries something the
        sandbox forbids.
        """
        values = self._values(context)
        template = self._templates[name]
        try:
            if without_shared:
                return render_without_shared_block(self._environment, template, values)
            return template.render(values)
        except _RUNTIME_ERRORS as error:
            raise self._render_error(name, error, values) from error

    def render_shared(self, name: TemplateName, context: Mapping[str, object]) -> str | None:
        """The ``shared_instructions`` block of template ``name`` alone, rendered with
        ``context`` (the run's variables) and the user variables; None when it has none.

        Raises :class:`TemplateError` as :meth:`render` does.
        """
        values = self._values(context)
        try:
            return render_shared_block(self._environment, self._templates[name], values)
        except _RUNTIME_ERRORS as error:
            raise self._render_error(name, error, values) from error

    def _values(self, context: Mapping[str, object]) -> dict[str, object]:
        return {**self._variables, **RUN_VARIABLES, "vars": dict(self._variables), **context}

    def _render_error(
        self, name: TemplateName, error: Exception, values: Mapping[str, object]
    ) -> TemplateError:
        if isinstance(error, jinja2.TemplateSyntaxError):
            return _syntax_error(error)
        filename, line = _error_location(error, self._search_dirs)
        where = _describe(filename or self.origin(name), line)
        if isinstance(error, jinja2.UndefinedError):
            available = ", ".join(_ordered_names(name, values))
            return TemplateError(f"{where}: {error.message} (available: {available})")
        if isinstance(error, jinja2.TemplateNotFound):
            return TemplateError(f"{where}: {_not_found(error, self._search_dirs)}")
        if isinstance(error, jinja2.exceptions.SecurityError):
            reason = (error.message or "forbidden").rstrip(".")
            return TemplateError(f"{where}: {reason} (templates run in a sandbox)")
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        return TemplateError(f"{where}: {message}")


def _check_variables(variables: Mapping[str, str]) -> None:
    for key in variables:
        if key in _BUILT_IN_NAMES:
            raise ConfigError(
                f"--var {key}: {key!r} is a built-in template variable; choose another name"
            )
        if not key.isidentifier():
            raise ConfigError(
                f"--var {key}: a variable name must be letters, digits and underscores, "
                "not starting with a digit (e.g. --var audience=lawyers)"
            )


def _check_override_dir(override_dir: Path) -> Path:
    wanted = ", ".join(_template_file(name) for name in TEMPLATE_NAMES)
    if not override_dir.is_dir():
        raise TemplateError(
            f"--prompts {override_dir}: no such folder; it should hold one or more of {wanted}"
        )
    if not any((override_dir / _template_file(name)).is_file() for name in TEMPLATE_NAMES):
        raise TemplateError(
            f"--prompts {override_dir}: found none of {wanted}; "
            "add the templates to override (the others come from the defaults)"
        )
    return override_dir.resolve()


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept for the life of the process, shared by every PromptSet.

    Jinja checks each entry against the checksum of the template's current source, so an edited
    template is compiled again; a run that loads the same templates again skips the compiling.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self._code.clear()


_COMPILED = _MemoryBytecodeCache()


def _make_environment(search_dirs: tuple[Path, ...]) -> SandboxedEnvironment:
    """A sandbox that looks up templates in ``search_dirs`` in order; ``default/NAME`` always
    names a default template, so an override can include the template it replaces."""
    loader = jinja2.ChoiceLoader(
        [
            *(jinja2.FileSystemLoader(directory) for directory in search_dirs),
            jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(search_dirs[-1])}),
        ]
    )
    return SandboxedEnvironment(
        loader=loader,
        bytecode_cache=_COMPILED,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _compile(
    environment: jinja2.Environment, name: TemplateName, search_dirs: tuple[Path, ...]
) -> jinja2.Template:
    try:
        return environment.get_template(_template_file(name))
    except jinja2.TemplateSyntaxError as error:
        raise _syntax_error(error) from error
    except jinja2.TemplateNotFound as error:
        raise TemplateError(f"template {_not_found(error, search_dirs)}") from error


def _template_source(environment: jinja2.Environment, name: TemplateName) -> str:
    assert environment.loader is not None, "PromptSet environments always have a loader"
    source, _, _ = environment.loader.get_source(environment, _template_file(name))
    return source


def _read_settings(environment: jinja2.Environment, name: TemplateName) -> TemplateSettings:
    source = _template_source(environment, name)
    filename = environment.get_template(_template_file(name)).filename or _template_file(name)
    return parse_template_header(source, filename)


def _syntax_error(error: jinja2.TemplateSyntaxError) -> TemplateError:
    where = _describe(error.filename or error.name or "?", error.lineno)
    return TemplateError(f"{where}: syntax error: {error.message}")


def _not_found(error: jinja2.TemplateNotFound, search_dirs: tuple[Path, ...]) -> str:
    folders = " or ".join(str(directory) for directory in search_dirs)
    return f"{error.name!r} not found in {folders}"


def _error_location(
    error: BaseException, search_dirs: tuple[Path, ...]
) -> tuple[str | None, int | None]:
    """The template file and line where a render error happened, from Jinja's rewritten
    traceback (its frames carry template file names and line numbers)."""
    prefixes = tuple(f"{directory}{os.sep}" for directory in search_dirs)
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(prefixes):
            return frame.filename, frame.lineno
    return None, None


def _describe(filename: str, line: int | None) -> str:
    """``template prompts/map.j2, line 7``: the path relative to the working folder if inside it."""
    path = Path(filename)
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = filename
    return f"template {shown}, line {line}" if line else f"template {shown}"


def _ordered_names(name: TemplateName, values: Mapping[str, object]) -> list[str]:
    """The names a template can use: built-ins in contract order, then the rest."""
    built_in = [key for key in RESERVED_VARIABLES[name] if key in values]
    return [*built_in, *(key for key in values if key not in built_in)]
