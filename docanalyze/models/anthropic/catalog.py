"""What docanalyze knows about Claude models: limits, prices, request rules, tokenizer, lifecycle.

Checked against the published model pages, the pricing page and the model deprecations page on
:data:`PRICES_CHECKED`. Prices are USD per million tokens. With an API key, a run learns the
window, output limit, thinking types, effort levels and lifecycle of its model from the Models
API instead (:mod:`docanalyze.models.anthropic.model_api`); the catalog serves without a key and for the
prices, which the API does not give. A model that is not listed works too: pass
``--context-window`` for it, and give its prices with :class:`docanalyze.cost.PriceTable` (or a
``DOCANALYZE_PRICES`` file) if you want its cost.

Cache prices are per model: writing the 5-minute cache costs 1.25 times the input price and the
1-hour cache twice it on every model, but reads cost 0.1 times the input price on most models,
0.05 on Sonnet 5.5 and Opus 5.5 and 0.025 on Fable 5.1 and 5.2. Haiku 5.5 has a second price tier
for requests whose prompt (input, cache reads and writes) is over 100,000 tokens: every token of
such a request, output included, is billed at the higher rates. The Message Batches API charges
``BATCH_DISCOUNT`` times the price of every token.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from docanalyze.models.anthropic.capabilities import (
    EFFORT_LEVELS,
    NO_THINKING,
    UNKNOWN_RULES,
    Capabilities,
    Effort,
    model_version,
)
from docanalyze.models.base import ModelFeatures

__all__ = [
    "BATCH_DISCOUNT",
    "CACHE_READ_FACTOR",
    "CACHE_WRITE_1H_FACTOR",
    "CACHE_WRITE_FACTOR",
    "CLAUDE_FEATURES",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MIN_CACHE_TOKENS",
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "NEW_TOKENIZER_RATIO",
    "PRICES_CHECKED",
    "Lifecycle",
    "ModelInfo",
    "PriceTier",
    "capabilities_of",
    "min_cache_tokens",
    "model_info",
    "tokenizer_ratio",
]

PRICES_CHECKED = "2026-12-01"
DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_CONCURRENCY = 256
"""The default ceiling of requests in flight: a 2,000,000-character document's map (about 210
chunks) in one round. The ceiling is not what keeps a run within its rate limits (the pacing and
the slow start are); it bounds the connections a run may open."""

CLAUDE_FEATURES = ModelFeatures(
    backend="anthropic",
    streams=True,
    prompt_caching=True,
    thinking=True,
    sampling=True,
    citations=True,
    structured_output=True,
    pdf_pages=True,
)
"""What the Messages API can do (the client streams every request; with ``--batch`` it goes
through the Message Batches API instead, see :class:`~docanalyze.models.batches.model.BatchModel`)."""
CACHE_WRITE_FACTOR = 1.25
"""A 5-minute cache write costs this many times the input price (every model)."""
CACHE_WRITE_1H_FACTOR = 2.0
"""A 1-hour cache write costs this many times the input price (every model)."""
CACHE_READ_FACTOR = 0.1
"""A cache read costs this many times the input price, unless the model says otherwise."""
BATCH_DISCOUNT = 0.5
"""Requests sent through the Message Batches API cost this share of the usual price."""
DEFAULT_MIN_CACHE_TOKENS = 1024
"""The shortest prompt prefix the API caches, for models docanalyze does not know."""
NEW_TOKENIZER_RATIO = 1.3
"""Claude Opus 4.7 and every later model count about 30% more tokens for the same text than
the earlier tokenizer, except on CJK characters (Anthropic: "roughly 1.0-1.35x depending on the
content type"); docanalyze's estimate is scaled by it
(:func:`docanalyze.text.tokens.estimate_for_tokenizer`)."""

Lifecycle = Literal["active", "deprecated", "retired"]


@dataclass(frozen=True)
class PriceTier:
    """Higher prices for a request whose prompt is over ``above_prompt_tokens`` tokens."""

    above_prompt_tokens: int
    input_price: float
    output_price: float
    cache_write_price: float
    cache_write_1h_price: float
    cache_read_price: float


@dataclass(frozen=True)
class ModelInfo:
    """Limits, prices (USD per million tokens), request rules and lifecycle of one model."""

    name: str
    context_window: int
    max_output_tokens: int
    input_price: float
    output_price: float
    min_cache_tokens: int = DEFAULT_MIN_CACHE_TOKENS
    """The shortest prefix (in tokens) the API caches for this model."""
    cache_read: float | None = None
    """USD per million tokens read from the cache; None: ``CACHE_READ_FACTOR`` times input."""
    capabilities: Capabilities = NO_THINKING
    tokenizer_ratio: float = 1.0
    """Tokens this model counts for a text, relative to the earlier tokenizer."""
    lifecycle: Lifecycle = "active"
    retires: str | None = None
    """The (scheduled) retirement date, ``YYYY-MM-DD``."""
    replacement: str | None = None
    long_prompt: PriceTier | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def cache_write_price(self) -> float:
        """USD per million tokens written to the 5-minute prompt cache."""
        return self.input_price * CACHE_WRITE_FACTOR

    @property
    def cache_write_1h_price(self) -> float:
        """USD per million tokens written to the 1-hour prompt cache."""
        return self.input_price * CACHE_WRITE_1H_FACTOR

    @property
    def cache_read_price(self) -> float:
        """USD per million tokens read from the prompt cache."""
        return self.input_price * CACHE_READ_FACTOR if self.cache_read is None else self.cache_read

    def lifecycle_on(self, day: dt.date) -> Lifecycle:
        """The lifecycle on ``day``: a model past its retirement date is retired."""
        if self.retires is not None and dt.date.fromisoformat(self.retires) <= day:
            return "retired"
        return self.lifecycle


_M = 1_000_000
_K = 1_000
_ALL = EFFORT_LEVELS
_NO_XHIGH: tuple[Effort, ...] = ("low", "medium", "high", "max")
_UP_TO_HIGH: tuple[Effort, ...] = ("low", "medium", "high")

# Thinking always on; lower the effort to think less (Fable 5.x, Opus 5.5).
_ALWAYS_THINKS_HIGH = Capabilities(
    frozenset({"adaptive"}), True, _ALL, "high", (), rejects_sampling=True
)
_ALWAYS_THINKS_MEDIUM = Capabilities(
    frozenset({"adaptive"}), True, _ALL, "medium", (), rejects_sampling=True
)
# On by default; off with between_tools at low to high effort (Sonnet 5.5).
_SONNET_5_5 = Capabilities(
    frozenset({"adaptive", "between_tools"}), True, _ALL, "high", _UP_TO_HIGH, True
)
# On by default; off with disabled at low to high effort (Opus 5, Haiku 5.5).
_OFF_UP_TO_HIGH = Capabilities(
    frozenset({"adaptive", "disabled"}), True, _ALL, "high", _UP_TO_HIGH, True
)
_HAIKU_5_5 = Capabilities(
    frozenset({"adaptive", "disabled"}), True, _ALL, "medium", _UP_TO_HIGH, True
)
# On by default; off with disabled (Sonnet 5).
_SONNET_5 = Capabilities(frozenset({"adaptive", "disabled"}), True, _ALL, "high", _ALL, True)
# Off unless asked: adaptive (Opus 4.7, 4.8 have xhigh and reject sampling parameters; the 4.6
# models do neither).
_ADAPTIVE_ON_REQUEST = Capabilities(
    frozenset({"adaptive", "disabled"}), False, _ALL, "high", rejects_sampling=True
)
_ADAPTIVE_4_6 = Capabilities(
    frozenset({"adaptive", "disabled", "enabled"}), False, _NO_XHIGH, "high"
)
# Budgeted (extended) thinking only, off unless asked (the Claude 4.5 models; Opus 4.5's effort
# parameter needed a beta header, so docanalyze does not send one to it).
_EXTENDED = Capabilities(frozenset({"enabled", "disabled"}), False)

_NEW = NEW_TOKENIZER_RATIO

_MODELS = (
    ModelInfo(
        "claude-fable-5-2", _M, 128 * _K, 8.0, 40.0, 512, 0.20, _ALWAYS_THINKS_HIGH, _NEW
    ),
    ModelInfo(
        "claude-fable-5-1", _M, 128 * _K, 10.0, 50.0, 512, 0.25, _ALWAYS_THINKS_HIGH, _NEW
    ),
    ModelInfo(
        "claude-fable-5", _M, 128 * _K, 10.0, 50.0, 512, 1.00, _ALWAYS_THINKS_HIGH, _NEW,
        replacement="claude-fable-5-2",
    ),
    ModelInfo(
        "claude-opus-5-5", _M, 128 * _K, 4.0, 20.0, 512, 0.20, _ALWAYS_THINKS_MEDIUM, _NEW
    ),
    ModelInfo(
        "claude-opus-5", _M, 128 * _K, 5.0, 25.0, 512, 0.50, _OFF_UP_TO_HIGH, _NEW,
        replacement="claude-opus-5-5",
    ),
    ModelInfo("claude-sonnet-5-5", _M, 128 * _K, 2.0, 10.0, 512, 0.10, _SONNET_5_5, _NEW),
    ModelInfo(
        "claude-sonnet-5", _M, 128 * _K, 2.0, 10.0, 1024, 0.20, _SONNET_5, _NEW,
        replacement="claude-sonnet-5-5",
    ),
    ModelInfo(
        "claude-haiku-5-5", _M, 128 * _K, 0.10, 0.50, 512, 0.01, _HAIKU_5_5, _NEW,
        long_prompt=PriceTier(100 * _K, 0.50, 2.50, 0.625, 1.00, 0.05),
    ),
    ModelInfo(
        "claude-opus-4-8", _M, 128 * _K, 5.0, 25.0, 1024, 0.50, _ADAPTIVE_ON_REQUEST, _NEW
    ),
    ModelInfo(
        "claude-opus-4-7", _M, 128 * _K, 5.0, 25.0, 2048, 0.50, _ADAPTIVE_ON_REQUEST, _NEW
    ),
    ModelInfo("claude-opus-4-6", _M, 128 * _K, 5.0, 25.0, 4096, 0.50, _ADAPTIVE_4_6),
    ModelInfo("claude-sonnet-4-6", _M, 128 * _K, 3.0, 15.0, 2048, 0.30, _ADAPTIVE_4_6),
    ModelInfo(
        "claude-opus-4-5", 200 * _K, 64 * _K, 5.0, 25.0, 4096, 0.50, _EXTENDED,
        lifecycle="deprecated", retires="2027-01-22", replacement="claude-opus-5-5",
        aliases=("claude-opus-4-5-20251101",),
    ),
    ModelInfo(
        "claude-sonnet-4-5", 200 * _K, 64 * _K, 3.0, 15.0, 1024, 0.30, _EXTENDED,
        lifecycle="retired", retires="2026-11-30", replacement="claude-sonnet-5-5",
        aliases=("claude-sonnet-4-5-20250929",),
    ),
    ModelInfo(
        "claude-haiku-4-5", 200 * _K, 64 * _K, 1.0, 5.0, 4096, 0.10, _EXTENDED,
        aliases=("claude-haiku-4-5-20251001",),
    ),
)  # fmt: skip

KNOWN_MODELS: dict[str, ModelInfo] = {
    name: info for info in _MODELS for name in (info.name, *info.aliases)
}


def model_info(name: str) -> ModelInfo | None:
    """The catalog entry for ``name`` (or a dated ID of it), or None when the model is not known."""
    return KNOWN_MODELS.get(name)


def capabilities_of(name: str) -> Capabilities:
    """The request rules of model ``name``: the catalog's, else :data:`UNKNOWN_RULES`."""
    info = model_info(name)
    return UNKNOWN_RULES if info is None else info.capabilities


def tokenizer_ratio(name: str) -> float:
    """How many more tokens ``name`` counts than the earlier tokenizer: the catalog's ratio; an
    unknown model of Claude 4.7 or later (``claude-*-4-7``, ``claude-*-6``...) is taken to use
    the newer one."""
    info = model_info(name)
    if info is not None:
        return info.tokenizer_ratio
    return NEW_TOKENIZER_RATIO if model_version(name) >= (4, 7) else 1.0


def min_cache_tokens(name: str) -> int:
    """The shortest prompt prefix the API caches for model ``name``: the catalog's, else
    :data:`DEFAULT_MIN_CACHE_TOKENS` (or 4096 for an unknown ``haiku`` model)."""
    info = model_info(name)
    if info is not None:
        return info.min_cache_tokens
    return 4096 if "haiku" in name else DEFAULT_MIN_CACHE_TOKENS
