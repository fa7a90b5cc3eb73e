"""The backends docanalyze can run, by name: the one place that knows them.

``--backend`` (the CLI's choices and :meth:`docanalyze.Options.validate`), building a run's
model (:func:`docanalyze.run.backend.create_model`) and a plan all read this table; the rest of
the code asks a model's :class:`~docanalyze.models.base.ModelFeatures`, never its name. A new
backend is a subpackage of :mod:`docanalyze.models` and one :class:`Backend` entry, added with
:func:`register` (a test registers its own). ``auto`` picks the first backend, in order, whose
``chosen_by_auto`` says yes: Claude when ``ANTHROPIC_API_KEY`` is set, else the extractive
analyzer, with a notice saying why.
"""

from __future__ import annotations

from collections.abc import Mapping

from docanalyze.errors import ConfigError, UsageError
from docanalyze.models.anthropic.catalog import CLAUDE_FEATURES, DEFAULT_CONCURRENCY
from docanalyze.models.anthropic.environment import has_api_key
from docanalyze.models.base import Model, ModelLimits
from docanalyze.models.extractive.features import EXTRACTIVE_FEATURES, NO_KEY_NOTICE
from docanalyze.models.plugin import Backend, BackendSettings, BackendWiring

__all__ = [
    "AUTO",
    "DEFAULT_CONCURRENCY",
    "NO_KEY_NOTICE",
    "backend_choices",
    "backend_named",
    "check_backend",
    "register",
    "resolve_backend",
    "stand_in_for",
    "unregister",
]

AUTO = "auto"
"""``--backend auto``: the first backend whose ``chosen_by_auto`` says yes."""

_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> None:
    """Add ``backend`` (or replace the one of its name); ``auto`` asks it after the others."""
    if backend.name == AUTO:
        raise ConfigError(f"{AUTO!r} is --backend's automatic choice, not a backend's name")
    _BACKENDS[backend.name] = backend


def unregister(name: str) -> None:
    """Remove the backend ``name`` (a test's own, once the test is done)."""
    _BACKENDS.pop(name, None)


def backend_choices() -> tuple[str, ...]:
    """What ``--backend`` accepts: ``auto``, then every registered backend."""
    return (AUTO, *_BACKENDS)


def check_backend(name: str) -> None:
    """Raise :class:`UsageError` unless ``--backend name`` is a registered backend or auto."""
    if name not in backend_choices():
        raise UsageError(f"--backend must be {', '.join(_BACKENDS)} or {AUTO} (got {name!r})")


def backend_named(name: str) -> Backend:
    """The registered backend ``name`` (ConfigError for another name; ``auto`` is resolved by
    :func:`resolve_backend`)."""
    check_backend(name)
    if name == AUTO:
        raise ConfigError("--backend auto names no backend until it is resolved")
    return _BACKENDS[name]


def resolve_backend(name: str, env: Mapping[str, str]) -> tuple[Backend, list[str]]:
    """The backend ``--backend name`` runs with ``env``, and the notices that explain ``auto``."""
    if name != AUTO:
        return backend_named(name), []
    for backend in _BACKENDS.values():
        if backend.chosen_by_auto is not None and backend.chosen_by_auto(env):
            return backend, [backend.auto_notice] if backend.auto_notice else []
    raise ConfigError("--backend auto found no backend to use: name one with --backend")


def stand_in_for(settings: BackendSettings) -> ModelLimits | None:
    """The limits a plan uses for ``settings.backend`` without a client, when the backend
    declares them (None for ``auto`` and for backends that plan as Claude does)."""
    if settings.backend == AUTO:
        return None
    stand_in = backend_named(settings.backend).stand_in
    return None if stand_in is None else stand_in(settings)


# Each backend's module is imported when a model is built, not with the registry: the command
# line's --help and `import docanalyze` stay quick.


def _create_claude(settings: BackendSettings, wiring: BackendWiring) -> tuple[Model, list[str]]:
    from docanalyze.models.anthropic.backend import create_claude

    return create_claude(settings, wiring)


def _load_claude() -> None:
    from docanalyze.models.anthropic.backend import load_claude

    load_claude()


def _create_extractive(settings: BackendSettings, wiring: BackendWiring) -> tuple[Model, list[str]]:
    from docanalyze.models.extractive.backend import create_extractive

    return create_extractive(settings, wiring)


def _extractive_stand_in(settings: BackendSettings) -> ModelLimits:
    from docanalyze.models.extractive.backend import extractive_stand_in

    return extractive_stand_in(settings)


register(
    Backend(
        "anthropic",
        CLAUDE_FEATURES,
        _create_claude,
        chosen_by_auto=has_api_key,
        preload=_load_claude,
    )
)
register(
    Backend(
        "extractive",
        EXTRACTIVE_FEATURES,
        _create_extractive,
        chosen_by_auto=lambda env: True,
        auto_notice=NO_KEY_NOTICE,
        stand_in=_extractive_stand_in,
    )
)
