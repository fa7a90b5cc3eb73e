"""A model wrapper that answers from the run store and stores every new reply at once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from docanalyze.models.base import Model, ModelReply, ModelRequest, Usage
from docanalyze.models.plugin import CacheMode
from docanalyze.models.structured import storable
from docanalyze.models.wrapper import ModelWrapper
from docanalyze.store import RunStore

__all__ = ["StoredModel", "call_key"]
KEY_VERSION = 1


def call_key(model: str, request: ModelRequest) -> str:
    """The hash of everything that decides a reply: the model, the parameters, the prompt, the
    citable texts sent beside it and the schema the reply must follow."""
    identity = {
        "version": KEY_VERSION,
        "model": request.model or model,
        "max_tokens": request.max_tokens,
        "system": request.system,
        "temperature": request.temperature,
        "prompt": request.prompt,
    }
    if request.thinking is not None or request.effort is not None:
        identity["thinking"] = request.thinking
        identity["effort"] = request.effort
    if request.output_schema is not None:
        identity["output_schema"] = request.output_schema
    if request.citable:  # a request without citable text keeps the key it always had
        identity["citable"] = [
            [text.kind, text.title, list(text.pages), text.text] for text in request.citable
        ]
    canonical = json.dumps(identity, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class StoredModel(ModelWrapper):
    """Wraps a backend: stored replies are returned without a request, new ones stored at once.

    A refused reply is never stored, so the next run asks for it again, nor one that ended off
    its request's output schema (:func:`~docanalyze.models.structured.storable`); a cut reply is
    stored with its stop reason (the stage asks again with a larger budget, under another key).

    ``mode="use"`` reads and writes the store; ``"refresh"`` asks again and overwrites;
    ``"off"`` neither reads nor writes. A reply from the store costs nothing in this run, so it
    comes back with zero usage; :attr:`hits` counts them.
    """

    inner: Model
    store: RunStore
    run_id: str | None = None
    mode: CacheMode = "use"
    hits: int = 0
    misses: int = 0
    spent: Usage = field(default_factory=Usage)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    async def complete(self, request: ModelRequest, **streaming: Any) -> ModelReply:
        """The stored reply for this request, or a new one from the backend, stored at once."""
        if self.mode == "off":
            return await self.inner.complete(request, **streaming)
        key = call_key(self.inner.name, request)
        if self.mode == "use":
            stored = self.store.get_call(key)
            if stored is not None:
                self.hits += 1
                reply = stored.as_reply()
                on_text, on_block = streaming.get("on_text"), streaming.get("on_block")
                if on_text is not None:
                    on_text(reply.text)
                if on_block is not None:
                    for block in reply.blocks:
                        on_block(block)
                return replace(reply, usage=Usage(), first_usage=stored.usage)
        self.misses += 1
        reply = await self.inner.complete(request, **streaming)
        self.spent = self.spent + reply.usage
        if storable(request, reply):  # a refusal or a reply off its schema is no answer
            self.store.put_call(key, request.stage, reply, self.run_id)
        return reply

    async def aclose(self) -> None:
        await self.inner.aclose()
