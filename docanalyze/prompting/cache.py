"""Prompt caching: which instructions go in a cached system prompt, and sending them so they hit.

A map or reduce template's ``shared_instructions`` block (:mod:`docanalyze.prompting.shared_instructions`)
is rendered once per run, with the run's variables only (``question``, ``language``,
``language_name``, ``vars`` and the ``--var`` names). When its estimated tokens clear the model's
minimum cacheable prefix (:func:`docanalyze.models.anthropic.catalog.min_cache_tokens`) with a margin
(:func:`worth_caching`), every request of the stage sends it as its system prompt marked for
caching, and the rest of the template (with the document text) as its message: the first request
writes the cache (1.25 times the input price) and the others read it (0.1 times). Shorter
instructions stay where the template puts them, in the message, exactly as without caching, and
no request waits. The final report is one request, which could only write the cache, so
``final.j2`` is always sent whole.

A cache entry can be read only once the request that writes it has started replying, so
:class:`CacheWarmup` lets the first request of a cached prefix go alone and holds the others
until it has (its first streamed text, or its reply).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from docanalyze.errors import TemplateError
from docanalyze.models.anthropic.catalog import min_cache_tokens
from docanalyze.prompting.templates import PromptSet, TemplateName

__all__ = [
    "CACHED_STAGES",
    "CACHE_MARGIN",
    "CACHE_TTL_SECONDS",
    "CacheTurn",
    "CacheWarmup",
    "SharedInstructions",
    "cache_threshold",
    "shared_instructions",
    "worth_caching",
]

CACHED_STAGES: tuple[TemplateName, ...] = ("map", "reduce")
"""The stages whose shared instructions may be cached: those that send many requests."""
CACHE_TTL_SECONDS = 300.0
"""A cache entry lives 5 minutes after it was last written or read."""
CACHE_MARGIN = 1.25
"""A block is marked for caching only when its estimate is this many times the model's minimum.

The API caches nothing below the minimum, without an error, and counts with its own tokenizer;
docanalyze's estimate errs up to about 15% high against it (:mod:`docanalyze.text.tokens`), so a
block estimated at the minimum can be counted under it, and every request would then be marked,
and the first held back, for a cache that is never written."""


def cache_threshold(minimum: int) -> int:
    """The estimated tokens a block needs to be marked for caching, for a model whose minimum
    cacheable prefix is ``minimum``: the minimum times :data:`CACHE_MARGIN`, rounded up."""
    return math.ceil(minimum * CACHE_MARGIN)


def worth_caching(estimated_tokens: int, minimum: int) -> bool:
    """Whether a block of ``estimated_tokens`` is sent marked for caching to a model whose
    minimum cacheable prefix is ``minimum`` (the one rule: runs, plans and dry runs ask it)."""
    return estimated_tokens >= cache_threshold(minimum)


@dataclass(frozen=True)
class SharedInstructions:
    """The rendered ``shared_instructions`` block of one stage's template.

    ``tokens`` is docanalyze's estimate; ``minimum`` the model's shortest cacheable prefix.
    """

    stage: TemplateName
    text: str
    tokens: int
    minimum: int

    @property
    def cached(self) -> bool:
        """Whether the stage sends these instructions as a cached system prompt."""
        return worth_caching(self.tokens, self.minimum)


def shared_instructions(
    prompts: PromptSet,
    run_values: Mapping[str, object],
    stage_model: Callable[[TemplateName], str],
    estimate: Callable[[str], int],
) -> dict[TemplateName, SharedInstructions]:
    """The shared instructions of the map and reduce templates that have a non-empty block.

    ``run_values`` are the run's variables (question, language, language_name), the only ones
    the block may use; ``stage_model`` names the model of a stage's requests. Raises
    :class:`TemplateError` when a block uses a per-request variable, whatever its length, so a
    template works the same with and without caching.
    """
    found: dict[TemplateName, SharedInstructions] = {}
    for stage in CACHED_STAGES:
        try:
            text = prompts.render_shared(stage, run_values)
        except TemplateError as error:
            raise TemplateError(
                f"{error}; the shared_instructions block is rendered once per run and may use "
                "only question, language, language_name, vars and the --var names"
            ) from error
        text = (text or "").strip()
        if text:
            minimum = min_cache_tokens(stage_model(stage))
            found[stage] = SharedInstructions(stage, text, estimate(text), minimum)
    return found


@dataclass
class _Gate:
    """The requests of one cached prefix: open once its first request has started replying."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    last_used: float = 0.0
    held: bool = False
    """Whether a request already waited for it."""


@dataclass
class CacheTurn:
    """One request's pass through :class:`CacheWarmup`. ``writer``: it goes first and writes
    the cache; call :meth:`started` when it starts replying (at the latest when it ends)."""

    writer: bool
    _gate: _Gate
    _clock: Callable[[], float]

    def started(self) -> None:
        """The request started replying (or ended): the cache is readable, let the others go."""
        self._gate.last_used = self._clock()
        self._gate.opened.set()


class CacheWarmup:
    """Sends the first request of each cached prefix alone; the others follow once it replies.

    A prefix unused for ``ttl`` seconds has left the cache: its next request goes first again.
    Requests without a cached prefix never wait. ``clock`` is monotonic seconds.
    """

    def __init__(
        self, ttl: float = CACHE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._gates: dict[tuple[str, str], _Gate] = {}

    async def enter(
        self, model: str, system: str, on_hold: Callable[[], None] | None = None
    ) -> CacheTurn:
        """Wait for the turn of a request of ``model`` with the cached ``system`` prompt.

        ``on_hold`` is called when the first request is held back behind the one writing it."""
        key = (model, system)
        gate = self._gates.get(key)
        if gate is None or self._expired(gate):
            gate = self._gates[key] = _Gate()
            return CacheTurn(True, gate, self._clock)
        if not gate.opened.is_set() and not gate.held:
            gate.held = True
            if on_hold is not None:
                on_hold()
        await gate.opened.wait()
        return CacheTurn(False, gate, self._clock)

    def _expired(self, gate: _Gate) -> bool:
        return gate.opened.is_set() and self._clock() - gate.last_used > self._ttl
