"""The wrappers around a backend (the run store's, the batch runner's), and the preparation a
backend may declare before a run's first request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from docanalyze.models.base import Model, ModelFeatures

if TYPE_CHECKING:
    from docanalyze.events import EventHandler
    from docanalyze.models.anthropic.capabilities import Capabilities
    from docanalyze.store import RunStore

__all__ = ["ModelWrapper", "PreparedBackend", "calibrate", "prepare"]


@runtime_checkable
class PreparedBackend(Protocol):
    """A backend that learns something before a run's first request (optional: a backend
    without these methods is used as it is)."""

    async def prepare(self, store: RunStore | None, on_event: EventHandler | None) -> list[str]:
        """Learn what the run needs (the Claude backend: the model, from the Models API, once a
        day, kept in ``store``); return the notices to show. Raises ConfigError when the run
        cannot work (a retired or unknown model). ``on_event`` hears what it waits on
        (a :class:`~docanalyze.events.Waiting`)."""
        ...

    async def calibrate(
        self, store: RunStore | None, prompts: Sequence[str], on_event: EventHandler | None
    ) -> None:
        """Fit the token estimate to a few of the run's own prompts."""
        ...


async def prepare(
    model: Model, store: RunStore | None, on_event: EventHandler | None = None
) -> list[str]:
    """``model``'s preparation (:class:`PreparedBackend`), if it declares one: its notices."""
    return await model.prepare(store, on_event) if isinstance(model, PreparedBackend) else []


async def calibrate(
    model: Model,
    store: RunStore | None,
    prompts: Sequence[str],
    on_event: EventHandler | None = None,
) -> None:
    """``model``'s calibration (:class:`PreparedBackend`), if it declares one."""
    if isinstance(model, PreparedBackend):
        await model.calibrate(store, prompts, on_event)


class ModelWrapper:
    """Base of the wrappers around a backend (the run store's, the batch runner's): the name,
    features, limits, token estimate and preparation are those of ``inner``."""

    inner: Model

    @property
    def name(self) -> str:
        """The wrapped backend's model identifier."""
        return self.inner.name

    @property
    def context_window(self) -> int:
        """The wrapped backend's context window."""
        return self.inner.context_window

    @property
    def max_output_tokens(self) -> int:
        """The wrapped backend's largest ``max_tokens``."""
        return self.inner.max_output_tokens

    def estimate_tokens(self, text: str) -> int:
        """The wrapped backend's estimate."""
        return self.inner.estimate_tokens(text)

    @property
    def features(self) -> ModelFeatures:
        """The wrapped backend's features."""
        return self.inner.features

    def rules_of(self, model: str) -> Capabilities:
        """The request rules of ``model`` as the wrapped backend knows them."""
        return self.inner.rules_of(model)

    async def prepare(self, store: RunStore | None, on_event: EventHandler | None) -> list[str]:
        """The wrapped backend's preparation."""
        return await prepare(self.inner, store, on_event)

    async def calibrate(
        self, store: RunStore | None, prompts: Sequence[str], on_event: EventHandler | None
    ) -> None:
        """The wrapped backend's calibration."""
        await calibrate(self.inner, store, prompts, on_event)
