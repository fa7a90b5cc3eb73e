"""What docanalyze knows about Claude models: context window, output limit and price.

Checked against the published model pages on 2026-11-25. Prices are USD per million tokens.
A model that is not listed works too: pass ``--context-window`` for it, and give its prices with
:class:`docanalyze.cost.PriceTable` (or a ``DOCANALYZE_PRICES`` file) if you want its cost.

Prompt caching and batches are priced relative to the base input price: writing the 5-minute
cache costs ``CACHE_WRITE_FACTOR`` times the input price, reading it ``CACHE_READ_FACTOR`` times;
the Message Batches API charges ``BATCH_DISCOUNT`` times the price of every token.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BATCH_DISCOUNT",
    "CACHE_READ_FACTOR",
    "CACHE_WRITE_FACTOR",
    "DEFAULT_MIN_CACHE_TOKENS",
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "PRICES_CHECKED",
    "ModelInfo",
    "min_cache_tokens",
    "model_info",
]

PRICES_CHECKED = "2026-11-25"
DEFAULT_MODEL = "claude-sonnet-5-5"
CACHE_WRITE_FACTOR = 1.25
"""A 5-minute cache write costs this many times the input price."""
CACHE_READ_FACTOR = 0.1
"""A cache read costs this many times the input price."""
BATCH_DISCOUNT = 0.5
"""Requests sent through the Message Batches API cost this share of the usual price."""
DEFAULT_MIN_CACHE_TOKENS = 1024
"""The shortest prompt prefix the API caches, for Sonnet- and Opus-class models and for models
docanalyze does not know; Haiku-class models need 2048 tokens."""
_HAIKU_MIN_CACHE_TOKENS = 2048


@dataclass(frozen=True)
class ModelInfo:
    """Limits and prices of one model (prices in USD per million tokens)."""

    name: str
    context_window: int
    max_output_tokens: int
    input_price: float
    output_price: float
    min_cache_tokens: int = DEFAULT_MIN_CACHE_TOKENS
    """The shortest prefix (in tokens) the API caches for this model."""

    @property
    def cache_write_price(self) -> float:
        """USD per million tokens written to the 5-minute prompt cache."""
        return self.input_price * CACHE_WRITE_FACTOR

    @property
    def cache_read_price(self) -> float:
        """USD per million tokens read from the prompt cache."""
        return self.input_price * CACHE_READ_FACTOR


_M = 1_000_000
_K = 1_000

KNOWN_MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo("claude-fable-5-2", _M, 128 * _K, 8.0, 40.0),
        ModelInfo("claude-fable-5-1", _M, 128 * _K, 10.0, 50.0),
        ModelInfo("claude-opus-5-5", _M, 128 * _K, 4.0, 20.0),
        ModelInfo("claude-opus-5", _M, 128 * _K, 5.0, 25.0),
        ModelInfo("claude-sonnet-5-5", _M, 128 * _K, 2.0, 10.0),
        ModelInfo("claude-sonnet-5", _M, 128 * _K, 2.0, 10.0),
        ModelInfo("claude-opus-4-6", _M, 128 * _K, 5.0, 25.0),
        ModelInfo("claude-sonnet-4-6", _M, 128 * _K, 3.0, 15.0),
        ModelInfo("claude-opus-4-5", 200 * _K, 64 * _K, 5.0, 25.0),
        ModelInfo("claude-opus-4-5-20251101", 200 * _K, 64 * _K, 5.0, 25.0),
        ModelInfo("claude-sonnet-4-5", 200 * _K, 64 * _K, 3.0, 15.0),
        ModelInfo("claude-sonnet-4-5-20250929", 200 * _K, 64 * _K, 3.0, 15.0),
        ModelInfo("claude-haiku-4-5", 200 * _K, 64 * _K, 1.0, 5.0, _HAIKU_MIN_CACHE_TOKENS),
        ModelInfo(
            "claude-haiku-4-5-20251001", 200 * _K, 64 * _K, 1.0, 5.0, _HAIKU_MIN_CACHE_TOKENS
        ),
    )
}


def model_info(name: str) -> ModelInfo | None:
    """The catalog entry for ``name``, or None when the model is not known."""
    return KNOWN_MODELS.get(name)


def min_cache_tokens(name: str) -> int:
    """The shortest prompt prefix the API caches for model ``name``: the catalog's, else
    :data:`DEFAULT_MIN_CACHE_TOKENS` (or 2048 for an unknown ``haiku`` model)."""
    info = model_info(name)
    if info is not None:
        return info.min_cache_tokens
    return _HAIKU_MIN_CACHE_TOKENS if "haiku" in name else DEFAULT_MIN_CACHE_TOKENS
