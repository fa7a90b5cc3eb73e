"""What every stage of one run shares: the model, templates, budgets and the usage so far."""

from __future__ import annotations

from dataclasses import dataclass, field

from docanalyze.budget import Budgets
from docanalyze.document import Document
from docanalyze.events import EventHandler, StepFinished
from docanalyze.models.base import Model, ModelReply, ModelRequest, Stage, Usage
from docanalyze.prompts import PromptSet, TemplateName

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """The state of one run. Stages send every request through :meth:`complete`."""

    document: Document
    model: Model
    prompts: PromptSet
    budgets: Budgets
    emit: EventHandler
    usage: Usage = field(default_factory=Usage)
    models_used: set[str] = field(default_factory=set)

    def render(self, name: TemplateName, **context: object) -> tuple[str, int]:
        """Render template ``name`` for this document; return the prompt and its token estimate."""
        prompt = self.prompts.render(
            name,
            {"source": self.document.source, "page_count": self.document.page_count, **context},
        )
        return prompt, self.model.estimate_tokens(prompt)

    async def complete(self, request: ModelRequest, *, level: int = 0) -> ModelReply:
        """Send one request, account for its usage and report the step."""
        reply = await self.model.complete(request)
        self.usage = self.usage + reply.usage
        self.models_used.add(reply.model)
        self.emit(StepFinished(request.stage, reply.usage, level))
        return reply

    def stage_request(
        self, stage: Stage, prompt: str, max_tokens: int, material: tuple[str, ...]
    ) -> ModelRequest:
        return ModelRequest(prompt=prompt, max_tokens=max_tokens, stage=stage, material=material)
