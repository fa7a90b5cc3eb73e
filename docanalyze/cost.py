"""What a run costs: model prices, usage by model and by stage, and the ``--max-cost`` budget.

Prices are USD per million tokens. :meth:`PriceTable.default` holds the catalog's prices (see
:data:`docanalyze.models.anthropic.catalog.PRICES_CHECKED` for the date they were checked), plus any given
in the JSON file named by the ``DOCANALYZE_PRICES`` environment variable::

    {"my-model": {"input": 3.0, "output": 15.0},
     "claude-sonnet-5-5": {"input": 2.0, "output": 10.0, "cache_write": 2.5, "cache_read": 0.2}}

``cache_write`` and ``cache_read`` default to 1.25 and 0.1 times ``input``, ``cache_write_1h`` to
twice ``input``. The catalog's prices are per model (cache reads cost 0.05 times the input price
on Sonnet 5.5, for instance), and a model may have a second tier for long prompts (Haiku 5.5:
every token of a request whose prompt is over 100,000 tokens costs more); the ledger counts the
usage of such requests apart so that each tier is priced right. In Python, pass
``Pipeline(prices=PriceTable.default().with_prices({...}))``. A model without a price has an
unknown cost (None), never a made-up one. Thinking is billed as output.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from docanalyze.errors import ConfigError
from docanalyze.models.anthropic.catalog import (
    CACHE_READ_FACTOR,
    CACHE_WRITE_1H_FACTOR,
    CACHE_WRITE_FACTOR,
    KNOWN_MODELS,
    PRICES_CHECKED,
    ModelInfo,
)
from docanalyze.models.base import Usage
from docanalyze.report.figures import format_usd, input_tokens_with_cache

__all__ = [
    "PRICES_ENV",
    "CostBudget",
    "PriceTable",
    "Prices",
    "UsageLedger",
    "format_usd",
    "input_tokens_with_cache",
]

PRICES_ENV = "DOCANALYZE_PRICES"
_PER_TOKEN = 1 / 1_000_000
_DATED_SUFFIX = re.compile(r"-\d{8}$")
_PRICE_KEYS = ("input", "output", "cache_write", "cache_read", "cache_write_1h")


@dataclass(frozen=True)
class Prices:
    """The prices of one model in USD per million tokens.

    ``long_prompt`` (with ``long_prompt_above``) holds the prices of a request whose prompt
    (input, cache reads and writes) is over that many tokens: every token of it, output
    included, is billed at them.
    """

    input: float
    output: float
    cache_write: float
    cache_read: float
    cache_write_1h: float | None = None
    long_prompt: Prices | None = None
    long_prompt_above: int = 0

    @classmethod
    def of(
        cls,
        input: float,
        output: float,
        *,
        cache_write: float | None = None,
        cache_read: float | None = None,
        cache_write_1h: float | None = None,
    ) -> Prices:
        """Prices from the input and output price; cache prices default to the usual factors."""
        return cls(
            input=input,
            output=output,
            cache_write=input * CACHE_WRITE_FACTOR if cache_write is None else cache_write,
            cache_read=input * CACHE_READ_FACTOR if cache_read is None else cache_read,
            cache_write_1h=input * CACHE_WRITE_1H_FACTOR
            if cache_write_1h is None
            else cache_write_1h,
        )

    @classmethod
    def of_model(cls, info: ModelInfo) -> Prices:
        """The catalog's prices of ``info``: per-model cache prices and any long-prompt tier."""
        tier = info.long_prompt
        long_prompt = None
        if tier is not None:
            long_prompt = cls(
                tier.input_price,
                tier.output_price,
                tier.cache_write_price,
                tier.cache_read_price,
                tier.cache_write_1h_price,
            )
        return cls(
            info.input_price,
            info.output_price,
            info.cache_write_price,
            info.cache_read_price,
            info.cache_write_1h_price,
            long_prompt,
            tier.above_prompt_tokens if tier is not None else 0,
        )

    def is_long(self, usage: Usage) -> bool:
        """Whether one request's ``usage`` falls in the long-prompt tier."""
        return self.long_prompt is not None and usage.prompt_tokens > self.long_prompt_above

    def cost(self, usage: Usage) -> float:
        """USD charged for ``usage``: one request's at its tier; a sum of several requests at the
        base prices (:class:`UsageLedger` prices the long-prompt tier apart)."""
        if self.long_prompt is not None and usage.requests <= 1 and self.is_long(usage):
            return self.long_prompt.cost(usage)
        return _PER_TOKEN * (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        )

    def scaled(self, factor: float) -> Prices:
        """Every price times ``factor`` (e.g. the Message Batches discount)."""
        return Prices(
            self.input * factor,
            self.output * factor,
            self.cache_write * factor,
            self.cache_read * factor,
            None if self.cache_write_1h is None else self.cache_write_1h * factor,
            None if self.long_prompt is None else self.long_prompt.scaled(factor),
            self.long_prompt_above,
        )

    def cache_savings(self, usage: Usage) -> float:
        """USD saved by prompt caching: what the cache writes and reads of ``usage`` would have
        cost as plain input, minus what they cost (negative when writes outweigh reads)."""
        written, read = usage.cache_creation_input_tokens, usage.cache_read_input_tokens
        plain = (written + read) * self.input
        return _PER_TOKEN * (plain - written * self.cache_write - read * self.cache_read)

    def worst_case(self, input_tokens: int, max_tokens: int) -> float:
        """The most a request can cost: all input uncached, all ``max_tokens`` written (thinking
        included), at the long-prompt tier when the prompt is long."""
        prices = self
        if self.long_prompt is not None and input_tokens > self.long_prompt_above:
            prices = self.long_prompt
        return _PER_TOKEN * (input_tokens * prices.input + max_tokens * prices.output)


class PriceTable:
    """Prices by model name. Immutable: :meth:`with_prices` returns a new table.

    ``checked`` is the date the built-in prices were checked; ``overridden`` names the models
    whose prices came from the user instead.
    """

    def __init__(
        self,
        prices: Mapping[str, Prices],
        *,
        checked: str = PRICES_CHECKED,
        overridden: Iterable[str] = (),
    ) -> None:
        self._prices = dict(prices)
        self.checked = checked
        self.overridden = frozenset(overridden)

    @classmethod
    def from_catalog(cls) -> PriceTable:
        """The built-in prices (the offline extractive analyzer costs nothing)."""
        prices = {name: Prices.of_model(info) for name, info in KNOWN_MODELS.items()}
        prices["extractive"] = Prices(0.0, 0.0, 0.0, 0.0)
        return cls(prices)

    @classmethod
    def default(cls, env: Mapping[str, str] | None = None) -> PriceTable:
        """The built-in prices, updated from the ``DOCANALYZE_PRICES`` file when it is set."""
        env = os.environ if env is None else env
        table = cls.from_catalog()
        path = env.get(PRICES_ENV)
        return table.with_file(Path(path)) if path else table

    def with_prices(self, prices: Mapping[str, Prices | Mapping[str, float]]) -> PriceTable:
        """A copy with ``prices`` added or replaced.

        Each value is a :class:`Prices` or a mapping with ``input`` and ``output`` (and optionally
        ``cache_write`` and ``cache_read``), in USD per million tokens.
        """
        updated = dict(self._prices)
        for model, value in prices.items():
            updated[model] = value if isinstance(value, Prices) else _parse_prices(model, value)
        return PriceTable(updated, checked=self.checked, overridden=self.overridden | set(prices))

    def with_file(self, path: Path) -> PriceTable:
        """A copy with the prices of a JSON file (see the module docstring for its form)."""
        where = f"{PRICES_ENV} file {path}"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"{where}: cannot be read ({error.strerror})") from None
        except ValueError as error:
            raise ConfigError(f"{where}: not valid JSON ({error})") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ConfigError(f'{where}: expected {{"model": {{"input": ..., "output": ...}}}}')
        try:
            return self.with_prices(data)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    def discounted(self, factor: float) -> PriceTable:
        """A copy with every price times ``factor``: ``discounted(BATCH_DISCOUNT)`` holds the
        prices of requests sent through the Message Batches API."""
        scaled = {model: prices.scaled(factor) for model, prices in self._prices.items()}
        return PriceTable(scaled, checked=self.checked, overridden=self.overridden)

    def get(self, model: str) -> Prices | None:
        """The prices of ``model`` (a dated ID falls back to its alias), or None if unknown."""
        found = self._prices.get(model)
        if found is None:
            found = self._prices.get(_DATED_SUFFIX.sub("", model))
        return found

    def cost(self, model: str, usage: Usage) -> float | None:
        """USD charged for ``usage`` of ``model``, or None when its price is unknown."""
        prices = self.get(model)
        return None if prices is None else prices.cost(usage)


def _parse_prices(model: str, value: Mapping[str, float]) -> Prices:
    unknown = set(value) - set(_PRICE_KEYS)
    if unknown:
        raise ConfigError(
            f"prices of {model}: unknown key {min(unknown)!r} (expected {', '.join(_PRICE_KEYS)})"
        )
    if "input" not in value or "output" not in value:
        raise ConfigError(f"prices of {model}: give both 'input' and 'output' (USD per million)")
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
            raise ConfigError(f"prices of {model}: {key} must be a number >= 0 (got {number!r})")
    return Prices.of(
        float(value["input"]),
        float(value["output"]),
        cache_write=_optional_float(value.get("cache_write")),
        cache_read=_optional_float(value.get("cache_read")),
        cache_write_1h=_optional_float(value.get("cache_write_1h")),
    )


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass
class UsageLedger:
    """Usage added up by model and by stage (``map``, ``reduce``, ``final``).

    ``long_prompt`` holds, by model, the part of ``by_model`` from requests in the model's
    long-prompt price tier, which costs more.
    """

    by_model: dict[str, Usage] = field(default_factory=dict)
    by_stage: dict[str, Usage] = field(default_factory=dict)
    long_prompt: dict[str, Usage] = field(default_factory=dict)

    def add(self, stage: str, model: str, usage: Usage, *, long_prompt: bool = False) -> None:
        """Count one reply's usage (``long_prompt``: in the model's long-prompt price tier)."""
        self.by_model[model] = self.by_model.get(model, Usage()) + usage
        self.by_stage[stage] = self.by_stage.get(stage, Usage()) + usage
        if long_prompt:
            self.long_prompt[model] = self.long_prompt.get(model, Usage()) + usage

    def model_cost(self, prices: PriceTable, model: str) -> float | None:
        """USD of ``model``'s usage, each price tier priced apart; None when unknown."""
        model_prices = prices.get(model)
        if model_prices is None:
            return None
        usage = self.by_model.get(model, Usage())
        long = self.long_prompt.get(model)
        if long is None or model_prices.long_prompt is None:
            return model_prices.cost(usage)
        return model_prices.cost(usage - long) + model_prices.long_prompt.cost(long)

    @property
    def total(self) -> Usage:
        """All usage so far."""
        return sum(self.by_model.values(), Usage())

    def cost_by_model(self, prices: PriceTable) -> dict[str, float | None]:
        """USD per model; None for a model whose price is unknown."""
        return {model: self.model_cost(prices, model) for model in self.by_model}

    def total_cost(self, prices: PriceTable) -> float | None:
        """USD in all, or None when any model used has an unknown price."""
        costs = self.cost_by_model(prices).values()
        return None if None in costs else sum(cost for cost in costs if cost is not None)

    def cache_savings(self, prices: PriceTable) -> float | None:
        """USD saved by prompt caching in all (see :meth:`Prices.cache_savings`), or None when
        a model that used the cache has an unknown price."""
        saved = 0.0
        for model, usage in self.by_model.items():
            if not (usage.cache_creation_input_tokens or usage.cache_read_input_tokens):
                continue
            model_prices = prices.get(model)
            if model_prices is None:
                return None
            saved += model_prices.cache_savings(usage)
        return saved


class CostBudget:
    """Keeps a run's spending at or under ``limit`` USD.

    Before a request is sent, :meth:`try_reserve` holds its worst-case cost; it succeeds only if
    what was spent, plus what is held for the requests in flight, plus this one stays within the
    limit. :meth:`settle` replaces a hold with what the reply actually cost. :meth:`stop` ends the
    run's spending: every later reservation fails.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.spent = 0.0
        self.reserved = 0.0
        self.holds = 0
        """How many requests hold a reservation (are in flight)."""
        self.refused: float | None = None
        """The worst-case cost of the request that stopped the run, once stopped."""

    @property
    def stopped(self) -> bool:
        """Whether the budget stopped the run (no more requests may be sent)."""
        return self.refused is not None

    def try_reserve(self, worst_case: float) -> bool:
        """Hold ``worst_case`` USD for a request if it fits; False if it does not (yet)."""
        if self.stopped or self.spent + self.reserved + worst_case > self.limit:
            return False
        self.reserved += worst_case
        self.holds += 1
        return True

    def stop(self, worst_case: float) -> None:
        """Refuse the request of ``worst_case`` USD, and every later one."""
        if self.refused is None:
            self.refused = worst_case

    def settle(self, worst_case: float, actual: float | None) -> None:
        """Release a request's hold; count ``actual`` (or the hold itself, when unknown)."""
        self.reserved = max(0.0, self.reserved - worst_case)
        self.holds -= 1
        self.spent += worst_case if actual is None else actual
