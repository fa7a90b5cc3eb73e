"""The protocol every model backend implements: Anthropic, offline extractive, and test fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Model", "ModelReply", "ModelRequest", "ModelWrapper", "Stage", "Usage"]

Stage = Literal["map", "reduce", "final"]


@dataclass(frozen=True)
class ModelRequest:
    """One call to a model.

    ``prompt`` is the rendered template, sent as the user message. ``material`` holds the document
    text (for a map step, with page markers) or the partial results (for a reduce or final step)
    the prompt was rendered from; backends that ignore instructions, like the extractive one,
    work from it instead of the prompt.
    """

    prompt: str
    max_tokens: int
    stage: Stage
    material: tuple[str, ...] = ()
    system: str | None = None
    cache_system: bool = False
    """Mark ``system`` for prompt caching (Claude: one text block with ``cache_control``)."""
    temperature: float | None = None
    model: str | None = None
    """Overrides the backend's model for this request (e.g. a template's own model)."""
    question: str | None = None
    """The run's ``--question`` (already in the prompt), for backends that ignore the prompt."""
    language: str | None = None
    """The report's language code (already in the prompt), for backends that ignore the prompt."""


@dataclass(frozen=True)
class Usage:
    """Tokens and requests spent; adds up with ``+``."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=(
                self.cache_creation_input_tokens + other.cache_creation_input_tokens
            ),
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


@dataclass(frozen=True)
class ModelReply:
    """What a model answered. ``stop_reason == "max_tokens"`` means the text was cut."""

    text: str
    stop_reason: str
    model: str
    usage: Usage = field(default_factory=Usage)
    duration: float = 0.0

    @property
    def truncated(self) -> bool:
        return self.stop_reason == "max_tokens"


@runtime_checkable
class Model(Protocol):
    """A backend that completes prompts. Implementations must be safe to call concurrently."""

    @property
    def name(self) -> str:
        """The model identifier, e.g. ``claude-sonnet-5-5`` or ``extractive``."""
        ...

    @property
    def context_window(self) -> int:
        """Tokens a request (input plus ``max_tokens``) may use in all."""
        ...

    @property
    def max_output_tokens(self) -> int:
        """The largest ``max_tokens`` the model accepts."""
        ...

    def estimate_tokens(self, text: str) -> int:
        """A conservative estimate of the input tokens ``text`` costs."""
        ...

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Answer one request. Raises :class:`docanalyze.errors.ModelError` when it fails for good."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class ModelWrapper:
    """Base of the wrappers around a backend (the run store's, the batch runner's): the name,
    the limits and the token estimate are those of ``inner``."""

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
