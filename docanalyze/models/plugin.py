"""What a backend hands the registry (:mod:`docanalyze.models.registry`): the settings it is
built from, the wiring a run gives it, and its entry (name, features, factory, ``auto`` rule)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from docanalyze.models.base import Model, ModelFeatures, ModelLimits

if TYPE_CHECKING:
    from docanalyze.events import EventHandler
    from docanalyze.models.anthropic.pacer import RequestPacer, SlotLimiter

__all__ = ["Backend", "BackendSettings", "BackendWiring", "CacheMode"]

CacheMode = Literal["use", "refresh", "off"]


class BackendSettings(Protocol):
    """The settings a backend is built from (:class:`docanalyze.Options` has them all)."""

    @property
    def backend(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def context_window(self) -> int | None: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def max_retry_time(self) -> float: ...
    @property
    def rpm(self) -> int | None: ...
    @property
    def input_tpm(self) -> int | None: ...
    @property
    def output_tpm(self) -> int | None: ...
    @property
    def fallback_model(self) -> str | None: ...
    @property
    def thinking(self) -> str: ...
    @property
    def effort(self) -> str | None: ...
    @property
    def max_cost(self) -> float | None: ...
    @property
    def batch(self) -> bool: ...
    @property
    def batch_poll_seconds(self) -> float: ...
    @property
    def cache(self) -> CacheMode: ...
    @property
    def store_path(self) -> Path | None: ...
    @property
    def prompts_dir(self) -> Path | None: ...
    @property
    def variables(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class BackendWiring:
    """What a run connects a backend to: the environment (for keys), the run's events (retries,
    a switch to a fallback model) and, on a cluster, shared pacing and concurrency limiters."""

    env: Mapping[str, str]
    on_event: EventHandler | None = None
    rate_limiter: RequestPacer | None = None
    concurrency_limiter: SlotLimiter | None = None


BackendFactory = Callable[[BackendSettings, BackendWiring], tuple[Model, list[str]]]
"""Builds a backend's model, with the notices the user should see."""


@dataclass(frozen=True)
class Backend:
    """One registered backend.

    ``features`` is what its models can do, answered without building one (for a plan).
    ``create`` builds its model. ``chosen_by_auto(env)`` says whether ``--backend auto`` picks
    it (the registry asks the backends in order; None: never), with ``auto_notice`` to show
    when it does. ``stand_in`` gives a plan the limits of its model without a client (None: the
    plan uses Claude's). ``preload`` loads the modules a run of it needs, before a command
    freezes its startup heap.
    """

    name: str
    features: ModelFeatures
    create: BackendFactory
    chosen_by_auto: Callable[[Mapping[str, str]], bool] | None = None
    auto_notice: str | None = None
    stand_in: Callable[[BackendSettings], ModelLimits] | None = None
    preload: Callable[[], None] | None = None
