"""The model a plan is made for: limits from the catalog, the Models API or ``--context-window``."""

from __future__ import annotations

from dataclasses import dataclass

from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.catalog import CLAUDE_FEATURES, capabilities_of, tokenizer_ratio
from docanalyze.models.anthropic.model_api import ModelDescription, limits_for
from docanalyze.models.base import ModelFeatures
from docanalyze.options import Options
from docanalyze.text.tokens import estimate_for_tokenizer

__all__ = ["PlannedModel", "described_by_api"]


@dataclass(frozen=True)
class PlannedModel:
    """The model a plan is made for: limits from the catalog, the Models API (``--exact``) or
    ``--context-window``; the token estimate scaled to the model's tokenizer.

    It has the model's limits (:class:`~docanalyze.models.base.ModelLimits`), which is all
    the run's own rendering, budget and packing code needs; it answers no request.
    """

    name: str
    context_window: int
    max_output_tokens: int
    known: bool
    description: ModelDescription | None = None
    """What the Models API said of the model (``--exact``), else None."""

    @classmethod
    def for_options(
        cls, options: Options, description: ModelDescription | None = None
    ) -> PlannedModel:
        """The limits the Claude client would assume for ``options.model`` (as ``description``,
        from the Models API, says when given)."""
        limits = limits_for(
            options.model, context_window=options.context_window, description=description
        )
        return cls(
            options.model,
            limits.context_window,
            limits.max_output_tokens,
            limits.known,
            description,
        )

    @property
    def features(self) -> ModelFeatures:
        """What the Claude client can do (the plan renders prompts as it would)."""
        return CLAUDE_FEATURES

    def estimate_tokens(self, text: str) -> int:
        """docanalyze's CJK-aware estimate, scaled to the model's tokenizer."""
        return estimate_for_tokenizer(text, tokenizer_ratio(self.name))

    def rules_of(self, model: str) -> Capabilities:
        """The request rules of ``model``: the Models API's (``--exact``), else the catalog's."""
        if self.description is not None and model == self.name:
            return self.description.capabilities
        return capabilities_of(model)


async def described_by_api(options: Options) -> ModelDescription | None:
    """What the Models API says of the plan's model (``--exact``; a key is required)."""
    from docanalyze.models.anthropic.model import AnthropicModel

    client = AnthropicModel(options.model, context_window=options.context_window)
    try:
        await client.describe(None)
        return client.description
    finally:
        await client.aclose()
