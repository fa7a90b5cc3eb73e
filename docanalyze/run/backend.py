"""Choosing and building the model backend for a run."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from docanalyze.events import EventHandler, Notice, RequestRetried
from docanalyze.models.anthropic.environment import api_key_in, has_api_key
from docanalyze.models.anthropic.model_api import limits_for
from docanalyze.models.base import Model
from docanalyze.options import Options

if TYPE_CHECKING:
    from docanalyze.models.anthropic.model import AnthropicModel
    from docanalyze.models.anthropic.pacer import RequestPacer, SlotLimiter
    from docanalyze.models.anthropic.retry import RetryEvent
    from docanalyze.store import RunStore

__all__ = ["NO_KEY_NOTICE", "calibrate_model", "create_model", "fallback_notice", "prepare_model"]

NO_KEY_NOTICE = (
    "ANTHROPIC_API_KEY is not set: using the offline extractive analyzer; "
    "set it to analyze with Claude"
)


def create_model(
    options: Options,
    env: Mapping[str, str] | None = None,
    on_event: EventHandler | None = None,
    rate_limiter: RequestPacer | None = None,
    concurrency_limiter: SlotLimiter | None = None,
) -> tuple[Model, list[str]]:
    """Build the backend the options ask for, with the notices the user should see.

    ``backend="auto"`` picks Claude when ``ANTHROPIC_API_KEY`` is set, else the offline
    extractive analyzer, which then works under the same budgets as the chosen model.
    ``on_event`` hears, while the run goes on, of every retry (:class:`RequestRetried`) and of a
    switch to the fallback model (a :class:`Notice`). ``rate_limiter`` replaces the Claude
    client's own, to pace it together with others, and ``concurrency_limiter`` its adaptive
    concurrency (:mod:`docanalyze.ray`'s cluster limiters).
    """
    env = os.environ if env is None else env
    backend = options.backend
    notices: list[str] = []
    if backend == "auto":
        backend = "anthropic" if has_api_key(env) else "extractive"
        if backend == "extractive":
            notices.append(NO_KEY_NOTICE)
    if backend == "extractive":
        from docanalyze.models.extractive.model import ExtractiveModel

        if options.batch:
            notices.append("--batch has no effect on the offline extractive analyzer")

        return ExtractiveModel(context_window=_context_window(options)), notices

    from docanalyze.models.anthropic.model import AnthropicModel
    from docanalyze.models.anthropic.retry import RetryPolicy

    model = AnthropicModel(
        options.model,
        api_key=api_key_in(env),
        context_window=options.context_window,
        concurrency=options.concurrency,
        timeout=options.timeout,
        retry=RetryPolicy(max_attempts=options.max_attempts, max_elapsed=options.max_retry_time),
        rpm=options.rpm,
        input_tpm=options.input_tpm,
        output_tpm=options.output_tpm,
        fallback_model=options.fallback_model,
        on_retry=None if on_event is None else _retry_reporter(on_event),
        on_fallback=None if on_event is None else _fallback_reporter(on_event),
        rate_limiter=rate_limiter,
        concurrency_limiter=concurrency_limiter,
    )
    if options.batch:
        if options.fallback_model:
            notices.append(
                f"--fallback-model has no effect with --batch: the Message Batches API answers "
                f"every request with {options.model}, retrying overloads itself"
            )
        return _batch_model(model, options, env, on_event), notices
    return model, notices


def _batch_model(
    model: Model, options: Options, env: Mapping[str, str], on_event: EventHandler | None
) -> Model:
    """``model``'s requests sent through the Message Batches API (``--batch``)."""
    from docanalyze.models.batches.api import SdkBatchAPI
    from docanalyze.models.batches.model import BatchModel

    api = SdkBatchAPI(api_key=api_key_in(env))
    return BatchModel(
        model,
        api,
        store_path=options.store_path,
        store_replies=options.cache != "off",
        on_event=on_event,
        poll_seconds=options.batch_poll_seconds,
    )


def claude_backend(model: Model) -> AnthropicModel | None:
    """The Claude client under ``model``'s wrappers (the run store's, the batch runner's), if any."""
    if "docanalyze.models.anthropic.model" not in sys.modules:
        return None  # never loaded, so there is no Claude client: the SDK is not loaded for it
    from docanalyze.models.anthropic.model import AnthropicModel

    current: object = model
    for _ in range(4):
        if isinstance(current, AnthropicModel):
            return current
        current = getattr(current, "inner", None)
    return None


async def prepare_model(model: Model, store: RunStore | None, on_event: EventHandler) -> None:
    """Before any message request: learn a Claude model from the Models API (once a day, kept
    in ``store``). Raises ConfigError for a retired or unknown model; a deprecated one, or a
    Models API that cannot be asked, is a notice."""
    claude = claude_backend(model)
    if claude is None or claude.described:
        return
    for notice in await claude.describe(store):
        on_event(Notice(notice))


async def calibrate_model(model: Model, store: RunStore | None, prompts: list[str]) -> None:
    """Fit a Claude model's token estimate to ``count_tokens`` on a few of the run's prompts."""
    claude = claude_backend(model)
    if claude is not None:
        await claude.calibrate(store, prompts)


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


def _fallback_reporter(on_event: EventHandler) -> Callable[[str, str], None]:
    def report(primary: str, fallback: str) -> None:
        on_event(Notice(fallback_notice(primary, fallback)))

    return report


def _context_window(options: Options) -> int:
    return limits_for(options.model, context_window=options.context_window).context_window
