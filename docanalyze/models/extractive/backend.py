"""The offline extractive analyzer as a registered backend (:mod:`docanalyze.models.registry`)."""

from __future__ import annotations

from docanalyze.models.anthropic.model_api import limits_for
from docanalyze.models.base import Model
from docanalyze.models.extractive.model import EXTRACTIVE_FEATURES, ExtractiveModel
from docanalyze.models.plugin import BackendSettings, BackendWiring

__all__ = ["EXTRACTIVE_FEATURES", "NO_KEY_NOTICE", "create_extractive", "extractive_stand_in"]

NO_KEY_NOTICE = (
    "ANTHROPIC_API_KEY is not set: using the offline extractive analyzer; "
    "set it to analyze with Claude"
)


def extractive_stand_in(settings: BackendSettings) -> ExtractiveModel:
    """The analyzer, working under the budgets (the context window) of the chosen model."""
    window = limits_for(settings.model, context_window=settings.context_window).context_window
    return ExtractiveModel(context_window=window)


def create_extractive(settings: BackendSettings, wiring: BackendWiring) -> tuple[Model, list[str]]:
    """The analyzer for ``settings``; ``--batch`` has nothing to do for it (a notice says so)."""
    notices = ["--batch has no effect on the offline extractive analyzer"] if settings.batch else []
    ignored = [
        flag
        for flag, given in (("--prompts", settings.prompts_dir), ("--var", settings.variables))
        if given
    ]
    if ignored:
        notices.append(_ignored_prompts_notice(ignored))
    return extractive_stand_in(settings), notices


def _ignored_prompts_notice(flags: list[str]) -> str:
    """The offline analyzer reads no prompt: what it does with ``flags`` (nothing, but budgets)."""
    budgets = " (only a template header's max_tokens applies)" if "--prompts" in flags else ""
    return (
        f"the offline extractive analyzer reads no prompt: it ignores {' and '.join(flags)}"
        f"{budgets}; analyze with Claude (ANTHROPIC_API_KEY) to use them"
    )
