"""The limits and behaviour of one fake server, shared by its endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fakeserver.model_rules import TODAYS_MODELS, FakeModel

__all__ = ["ServerSettings"]


@dataclass(frozen=True)
class ServerSettings:
    """Limits and behaviour of one fake server.

    ``max_batch_requests`` and ``max_batch_bytes`` bound a Message Batch (the real API's limits
    by default); ``batch_latency`` is the seconds a batch takes from creation to its end, its
    requests being processed evenly over that time. With ``model_rules``, each request follows
    the rules of its model in ``models`` (:mod:`fakeserver.model_rules`).
    """

    context_window: int = 200_000
    max_output_tokens: int = 128_000
    api_key: str | None = None
    stream_chunk_tokens: int = 20
    max_batch_requests: int = 100_000
    max_batch_bytes: int = 256 * 1024 * 1024
    batch_latency: float = 0.05
    model_rules: bool = False
    models: Mapping[str, FakeModel] = field(default_factory=lambda: dict(TODAYS_MODELS))
    token_seconds: float = 0.0
    """Seconds each output token (thinking included) takes to write."""

    def model(self, name: object) -> FakeModel | None:
        """The rules of model ``name`` when the server follows model rules, else None."""
        if not self.model_rules:
            return None
        return self.models.get(str(name))
