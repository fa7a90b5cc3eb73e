"""The prompts of one run: every template rendered for one document, and the requests they make.

A :class:`PromptRenderer` needs the model's limits, never a model that answers, so plans and dry
runs render exactly what a run sends without building one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docanalyze.document import Document, Partial
from docanalyze.models.base import (
    CitableText,
    ModelLimits,
    ModelRequest,
    Stage,
    citable_tokens,
    estimate_input_tokens,
)
from docanalyze.prompting.budgets import Budgets
from docanalyze.prompting.cache import SharedInstructions, shared_instructions
from docanalyze.prompting.citable import point_citables
from docanalyze.prompting.templates import PromptSet, TemplateName
from docanalyze.text.language import Language, resolve_language

__all__ = ["PromptRenderer"]


@dataclass
class PromptRenderer:
    """The templates, budgets and run values of one document, for ``limits``'s model.

    ``question`` is the run's ``--question``; ``language`` the report's language, detected from
    the document when not given. With ``cache_prompts``, long shared instructions of the map and
    reduce templates are sent as a cached system prompt (:mod:`docanalyze.prompting.cache`); dry
    runs and plans leave it off and render the templates whole.
    """

    document: Document
    limits: ModelLimits
    prompts: PromptSet
    budgets: Budgets
    question: str | None = None
    language: Language | None = None
    cache_prompts: bool = False
    shared: dict[TemplateName, SharedInstructions] = field(default_factory=dict)
    """The stages whose shared instructions go in a cached system prompt."""

    def __post_init__(self) -> None:
        self.question = (self.question or "").strip() or None
        if self.language is None:
            self.language = resolve_language(None, self.document.text)
        if not self.shared:
            self.shared = self._cached_instructions()

    def _cached_instructions(self) -> dict[TemplateName, SharedInstructions]:
        """The shared instructions long enough to cache (checked, whether cached or not)."""
        found = shared_instructions(
            self.prompts,
            self._run_values(),
            lambda stage: self.prompts.settings(stage).model or self.limits.name,
            self.limits.estimate_tokens,
        )
        if not self.cache_prompts or not self.limits.features.prompt_caching:
            return {}
        return {stage: shared for stage, shared in found.items() if shared.cached}

    def _run_values(self) -> dict[str, object]:
        language = self.report_language
        return {
            "question": self.question,
            "language": language.code,
            "language_name": language.name,
            "citable": self.citing,
        }

    @property
    def citing(self) -> bool:
        """Whether requests send what they rest on as citable content (the backend cites):
        the pages of a map span, the points of partial results."""
        return self.limits.features.citations

    @property
    def report_language(self) -> Language:
        """The language the report is written in."""
        assert self.language is not None, "set in __post_init__"
        return self.language

    def citable_points(self, partials: Sequence[Partial]) -> tuple[CitableText, ...]:
        """The points of ``partials`` as citable text, when the backend cites (else none)."""
        return point_citables(partials) if self.citing else ()

    def render(
        self, name: TemplateName, citable: Sequence[CitableText] = (), **context: object
    ) -> tuple[str, int]:
        """Render template ``name`` for this document; return the prompt and its token estimate.

        When the stage's shared instructions go in the system prompt, the prompt leaves them out
        and the estimate counts them; the estimate counts the ``citable`` texts the request
        sends beside the prompt too.
        """
        shared = self.shared.get(name)
        prompt = self.prompts.render(
            name,
            {
                "source": self.document.source,
                "page_count": self.document.page_count,
                **self._run_values(),
                **context,
            },
            without_shared=shared is not None,
        )
        beside = citable_tokens(self.limits.estimate_tokens, citable)
        if shared is None:
            return prompt, self.limits.estimate_tokens(prompt) + beside
        prompt = prompt.rstrip()
        return prompt, self.limits.estimate_tokens(prompt) + shared.tokens + beside

    def stage_request(
        self,
        stage: Stage,
        prompt: str,
        max_tokens: int,
        material: tuple[str, ...],
        citable: Sequence[CitableText] = (),
        *,
        template: TemplateName | None = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> ModelRequest:
        """A request of ``stage`` with this run's settings and its template header's model and
        temperature (the header of ``template``, when another template than the stage's wrote
        the prompt: ``extract`` for a map request of records); ``max_tokens`` is the text's
        budget, to which the stage's thinking allowance is added
        (:mod:`docanalyze.prompting.thinking`). ``citable`` is sent only when the backend cites
        (:attr:`citing`); ``output_schema``: the JSON schema the reply must follow."""
        name = template or stage
        settings = self.prompts.settings(name)
        shared = self.shared.get(name)
        thinking = self.budgets.thinking.get(stage)
        allowance = thinking.allowance if thinking is not None else 0
        return ModelRequest(
            prompt=prompt,
            max_tokens=max_tokens + allowance,
            stage=stage,
            thinking=thinking.thinking if thinking is not None else None,
            effort=thinking.effort if thinking is not None else None,
            thinking_allowance=allowance,
            material=material,
            system=shared.text if shared else None,
            cache_system=shared is not None,
            model=settings.model,
            temperature=settings.temperature,
            question=self.question,
            language=self.report_language.code,
            citable=tuple(citable) if self.citing else (),
            output_schema=output_schema,
        )

    def input_estimate(self, request: ModelRequest) -> int:
        """The estimated input tokens of ``request``: its prompt, its system prompt and the
        citable texts the model is sent (:func:`~docanalyze.models.base.estimate_input_tokens`)."""
        limits = self.limits
        return estimate_input_tokens(
            request, limits.estimate_tokens, cites=limits.features.citations
        )
