"""Choosing and building the model backend for a run (from :mod:`docanalyze.models.registry`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from docanalyze.events import EventHandler, Notice
from docanalyze.models.base import Model
from docanalyze.models.plugin import BackendWiring
from docanalyze.models.registry import resolve_backend
from docanalyze.models.wrapper import calibrate, prepare
from docanalyze.options import Options

if TYPE_CHECKING:
    from docanalyze.models.anthropic.pacer import RequestPacer, SlotLimiter
    from docanalyze.store import RunStore

__all__ = ["calibrate_model", "create_model", "prepare_model"]


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
    switch to the fallback model (a :class:`Notice`), and of every rate-limit pause
    (:class:`Waiting`). ``rate_limiter`` replaces the Claude
    client's own, to pace it together with others, and ``concurrency_limiter`` its adaptive
    concurrency (:mod:`docanalyze.ray`'s cluster limiters).
    """
    env = os.environ if env is None else env
    backend, notices = resolve_backend(options.backend, env)
    wiring = BackendWiring(env, on_event, rate_limiter, concurrency_limiter)
    model, more = backend.create(options, wiring)
    return model, notices + more


async def prepare_model(model: Model, store: RunStore | None, on_event: EventHandler) -> None:
    """Before any message request: what the backend declares it must learn first (the Claude
    client: its model, from the Models API, once a day, kept in ``store``). Raises ConfigError
    for a retired or unknown model; a deprecated one, or a Models API that cannot be asked, is
    a notice."""
    for notice in await prepare(model, store, on_event):
        on_event(Notice(notice))


async def calibrate_model(
    model: Model, store: RunStore | None, prompts: list[str], on_event: EventHandler
) -> None:
    """Fit the backend's token estimate to a few of the run's prompts, when it declares how
    (the Claude client: to ``count_tokens``); ``on_event`` hears what it waits on."""
    await calibrate(model, store, prompts, on_event)
