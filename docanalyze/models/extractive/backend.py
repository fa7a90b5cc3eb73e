"""The offline extractive analyzer as a registered backend (:mod:`docanalyze.models.registry`)."""

from __future__ import annotations

from docanalyze.models.anthropic.model_api import limits_for
from docanalyze.models.base import Model
from docanalyze.models.extractive.features import EXTRACTIVE_FEATURES, NO_KEY_NOTICE
from docanalyze.models.extractive.model import ExtractiveModel
from docanalyze.models.plugin import BackendSettings, BackendWiring

__all__ = ["EXTRACTIVE_FEATURES", "NO_KEY_NOTICE", "create_extractive", "extractive_stand_in"]


def extractive_stand_in(settings: BackendSettings) -> ExtractiveModel:
    """The analyzer, working under the budgets (the context window) of the chosen model."""
    window = limits_for(settings.model, context_window=settings.context_window).context_window
    return ExtractiveModel(context_window=window)


def create_extractive(settings: BackendSettings, wiring: BackendWiring) -> tuple[Model, list[str]]:
    """The analyzer for ``settings``; one notice names the options given that it ignores."""
    given = (
        ("--prompts", settings.prompts_dir),
        ("--var", settings.variables),
        ("--batch", settings.batch),
        ("--thinking", settings.thinking != "auto"),
        ("--effort", settings.effort),
        ("--fallback-model", settings.fallback_model),
        ("--max-cost", settings.max_cost),
    )
    ignored = [flag for flag, value in given if value]
    return extractive_stand_in(settings), [_ignored_notice(ignored)] if ignored else []


def _ignored_notice(flags: list[str]) -> str:
    """The offline analyzer reads no prompt and sends no request: it ignores ``flags`` (but
    a template header's budget)."""
    named = flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} and {flags[-1]}"
    budgets = " (only a template header's max_tokens applies)" if "--prompts" in flags else ""
    return (
        f"the offline extractive analyzer reads no prompt and sends no request: it ignores "
        f"{named}{budgets}; analyze with Claude (ANTHROPIC_API_KEY) to use them"
    )
