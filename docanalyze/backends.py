"""Choosing and building the model backend for a run."""

from __future__ import annotations

import os
from collections.abc import Mapping

from docanalyze.models.base import Model
from docanalyze.models.catalog import model_info
from docanalyze.options import Options

__all__ = ["NO_KEY_NOTICE", "create_model"]

NO_KEY_NOTICE = (
    "ANTHROPIC_API_KEY is not set: using the offline extractive analyzer; "
    "set it to analyze with Claude"
)


def create_model(options: Options, env: Mapping[str, str] | None = None) -> tuple[Model, list[str]]:
    """Build the backend the options ask for, with the notices the user should see.

    ``backend="auto"`` picks Claude when ``ANTHROPIC_API_KEY`` is set, else the offline
    extractive analyzer, which then works under the same budgets as the chosen model.
    """
    env = os.environ if env is None else env
    backend = options.backend
    notices: list[str] = []
    if backend == "auto":
        backend = "anthropic" if env.get("ANTHROPIC_API_KEY") else "extractive"
        if backend == "extractive":
            notices.append(NO_KEY_NOTICE)
    if backend == "extractive":
        from docanalyze.models.extractive import ExtractiveModel

        return ExtractiveModel(context_window=_context_window(options)), notices

    from docanalyze.models.anthropic_model import AnthropicModel
    from docanalyze.models.retry import RetryPolicy

    model = AnthropicModel(
        options.model,
        context_window=options.context_window,
        concurrency=options.concurrency,
        timeout=options.timeout,
        retry=RetryPolicy(max_attempts=options.max_attempts, max_elapsed=options.max_retry_time),
    )
    if not model.context_window_known:
        notices.append(
            f"{options.model} is not in docanalyze's model table: assuming a "
            f"{model.context_window:,}-token context window; pass --context-window to set it"
        )
    return model, notices


def _context_window(options: Options) -> int:
    if options.context_window is not None:
        return options.context_window
    info = model_info(options.model)
    return info.context_window if info else 200_000
