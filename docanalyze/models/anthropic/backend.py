"""Claude as a registered backend (:mod:`docanalyze.models.registry`): the client, through the
Message Batches API with ``--batch``. The SDK is loaded only when a model is built."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from docanalyze.events import EventHandler, Notice, RequestRetried, Waiting
from docanalyze.models.anthropic.environment import api_key_in
from docanalyze.models.base import Model
from docanalyze.models.plugin import BackendSettings, BackendWiring

if TYPE_CHECKING:
    from docanalyze.models.anthropic.retry import RetryEvent

__all__ = ["create_claude", "fallback_notice", "load_claude"]


def create_claude(settings: BackendSettings, wiring: BackendWiring) -> tuple[Model, list[str]]:
    """The Claude client for ``settings``; with ``batch``, its requests go through batches.

    ``wiring.on_event`` hears of every retry (:class:`RequestRetried`) and of a switch to the
    fallback model (a :class:`Notice`), and of every rate-limit pause (a :class:`Waiting`); its
    limiters replace the client's own.
    """
    from docanalyze.models.anthropic.model import AnthropicModel
    from docanalyze.models.anthropic.retry import RetryPolicy

    on_event = wiring.on_event
    model = AnthropicModel(
        settings.model,
        api_key=api_key_in(wiring.env),
        context_window=settings.context_window,
        concurrency=settings.concurrency,
        timeout=settings.timeout,
        retry=RetryPolicy(max_attempts=settings.max_attempts, max_elapsed=settings.max_retry_time),
        rpm=settings.rpm,
        input_tpm=settings.input_tpm,
        output_tpm=settings.output_tpm,
        fallback_model=settings.fallback_model,
        on_retry=None if on_event is None else _retry_reporter(on_event),
        on_fallback=None if on_event is None else _fallback_reporter(on_event),
        on_pause=None if on_event is None else _pause_reporter(on_event),
        rate_limiter=wiring.rate_limiter,
        concurrency_limiter=wiring.concurrency_limiter,
    )
    if not settings.batch:
        return model, []
    notices: list[str] = []
    if settings.fallback_model:
        notices.append(
            f"--fallback-model has no effect with --batch: the Message Batches API answers "
            f"every request with {settings.model}, retrying overloads itself"
        )
    return _batch_model(model, settings, wiring), notices


def load_claude() -> None:
    """Load the client and the SDK now (a command does before it freezes its startup heap)."""
    import docanalyze.models.anthropic.model  # noqa: F401


def _batch_model(model: Model, settings: BackendSettings, wiring: BackendWiring) -> Model:
    """``model``'s requests sent through the Message Batches API (``--batch``)."""
    from docanalyze.models.batches.api import SdkBatchAPI
    from docanalyze.models.batches.model import BatchModel

    return BatchModel(
        model,
        SdkBatchAPI(api_key=api_key_in(wiring.env)),
        store_path=settings.store_path,
        store_replies=settings.cache != "off",
        on_event=wiring.on_event,
        poll_seconds=settings.batch_poll_seconds,
    )


def fallback_notice(primary: str, fallback: str) -> str:
    """What the user is told when requests move to the fallback model."""
    return (
        f"{primary} keeps answering overloaded or server errors: sending the remaining "
        f"requests to the fallback model {fallback}"
    )


def _retry_reporter(on_event: EventHandler) -> Callable[[RetryEvent], None]:
    def report(event: RetryEvent) -> None:
        on_event(RequestRetried(reason=event.reason, delay=event.delay, status=event.status))

    return report


def _pause_reporter(on_event: EventHandler) -> Callable[[float], None]:
    def report(seconds: float) -> None:
        on_event(Waiting("a rate-limit pause", seconds))

    return report


def _fallback_reporter(on_event: EventHandler) -> Callable[[str, str], None]:
    def report(primary: str, fallback: str) -> None:
        on_event(Notice(fallback_notice(primary, fallback)))

    return report
