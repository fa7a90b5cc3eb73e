"""Prices, cost arithmetic, the price table's overrides and the --max-cost budget's bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docanalyze.cost import (
    PRICES_ENV,
    CostBudget,
    Prices,
    PriceTable,
    UsageLedger,
    format_usd,
    input_tokens_with_cache,
)
from docanalyze.errors import ConfigError
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT, PRICES_CHECKED, model_info
from docanalyze.models.base import Usage

MILLION = 1_000_000


def test_known_models_cost_their_listed_prices() -> None:
    table = PriceTable.from_catalog()
    usage = Usage(requests=1, input_tokens=MILLION, output_tokens=MILLION)
    assert table.cost("claude-sonnet-5-5", usage) == pytest.approx(2.0 + 10.0)
    assert table.cost("claude-opus-5-5", usage) == pytest.approx(4.0 + 20.0)
    assert table.cost("claude-haiku-4-5", usage) == pytest.approx(1.0 + 5.0)
    assert table.cost("extractive", usage) == 0.0


def test_cache_writes_cost_a_quarter_more_and_reads_are_priced_per_model() -> None:
    table = PriceTable.from_catalog()
    usage = Usage(
        input_tokens=100_000,
        output_tokens=20_000,
        cache_creation_input_tokens=400_000,
        cache_read_input_tokens=2 * MILLION,
    )
    # Sonnet 5.5 reads the cache at $0.10 per million tokens, 0.05 times its input price.
    expected = (100_000 * 2.0 + 20_000 * 10.0 + 400_000 * 2.5 + 2 * MILLION * 0.1) / MILLION
    assert table.cost("claude-sonnet-5-5", usage) == pytest.approx(expected)
    info = model_info("claude-haiku-4-5")
    assert info is not None
    assert (info.cache_write_price, info.cache_read_price) == pytest.approx((1.25, 0.1))
    assert BATCH_DISCOUNT == 0.5
    assert input_tokens_with_cache(usage) == 100_000 + 400_000 + 2 * MILLION


def test_a_dated_model_id_costs_what_its_alias_costs() -> None:
    table = PriceTable.from_catalog()
    usage = Usage(input_tokens=MILLION)
    assert table.cost("claude-sonnet-5-5-20261101", usage) == pytest.approx(2.0)


def test_an_unknown_model_has_an_unknown_cost_never_a_guess() -> None:
    table = PriceTable.from_catalog()
    usage = Usage(requests=1, input_tokens=1000, output_tokens=10)
    assert table.get("claude-imaginary-9") is None
    assert table.cost("claude-imaginary-9", usage) is None
    ledger = UsageLedger()
    ledger.add("map", "claude-sonnet-5-5", usage)
    ledger.add("final", "claude-imaginary-9", usage)
    assert ledger.cost_by_model(table)["claude-imaginary-9"] is None
    assert ledger.cost_by_model(table)["claude-sonnet-5-5"] == pytest.approx(0.0021)
    assert ledger.total_cost(table) is None


def test_the_ledger_adds_up_by_model_and_by_stage() -> None:
    ledger = UsageLedger()
    ledger.add("map", "a", Usage(1, 100, 10))
    ledger.add("map", "b", Usage(1, 200, 20))
    ledger.add("final", "a", Usage(1, 50, 5))
    assert ledger.total == Usage(3, 350, 35)
    assert ledger.by_model == {"a": Usage(2, 150, 15), "b": Usage(1, 200, 20)}
    assert ledger.by_stage == {"map": Usage(2, 300, 30), "final": Usage(1, 50, 5)}


def test_prices_can_be_added_and_replaced_in_python() -> None:
    table = PriceTable.from_catalog().with_prices(
        {
            "my-model": {"input": 3, "output": 15},
            "claude-sonnet-5-5": Prices.of(1.0, 5.0, cache_read=0.05),
        }
    )
    assert table.get("my-model") == Prices(3.0, 15.0, 3.75, pytest.approx(0.3), 6.0)
    assert table.get("claude-sonnet-5-5") == Prices(1.0, 5.0, 1.25, 0.05, 2.0)
    assert table.overridden == {"my-model", "claude-sonnet-5-5"}
    assert table.checked == PRICES_CHECKED
    assert PriceTable.from_catalog().get("my-model") is None, "the original is unchanged"


def test_prices_come_from_the_file_named_by_the_environment(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"my-model": {"input": 3, "output": 15}}), encoding="utf-8")
    table = PriceTable.default({PRICES_ENV: str(prices)})
    assert table.cost("my-model", Usage(output_tokens=MILLION)) == pytest.approx(15.0)
    assert PriceTable.default({}).get("my-model") is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('["my-model"]', "expected"),
        ('{"m": {"input": 1}}', "give both 'input' and 'output'"),
        ('{"m": {"input": 1, "output": -2}}', "output must be a number >= 0"),
        ('{"m": {"input": 1, "output": 2, "outptu": 3}}', "unknown key 'outptu'"),
    ],
)
def test_a_bad_prices_file_is_a_one_line_error_naming_it(
    tmp_path: Path, content: str, expected: str
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as error:
        PriceTable.default({PRICES_ENV: str(prices)})
    assert str(prices) in str(error.value) and "\n" not in str(error.value)


def test_a_missing_prices_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        PriceTable.default({PRICES_ENV: str(tmp_path / "nope.json")})


def test_the_worst_case_counts_all_input_uncached_and_every_output_token() -> None:
    prices = Prices.of(2.0, 10.0)
    assert prices.worst_case(10_000, 2_000) == pytest.approx(0.02 + 0.02)


def test_the_budget_holds_in_flight_requests_and_stops_for_good() -> None:
    budget = CostBudget(1.0)
    assert budget.try_reserve(0.4) and budget.try_reserve(0.4)
    assert not budget.try_reserve(0.3), "0.4 + 0.4 held + 0.3 > 1.0"
    assert not budget.stopped and budget.holds == 2
    budget.settle(0.4, 0.1)
    assert budget.try_reserve(0.3), "the settled request cost less than it held"
    budget.settle(0.4, None)
    budget.settle(0.3, 0.3)
    assert budget.spent == pytest.approx(0.8) and budget.reserved == pytest.approx(0.0)
    assert budget.holds == 0
    budget.stop(0.5)
    assert budget.stopped and budget.refused == 0.5
    assert not budget.try_reserve(0.01), "once stopped, nothing more is sent"


def test_usd_amounts_read_well() -> None:
    assert format_usd(1.0449) == "$1.04"
    assert format_usd(1234.5) == "$1,234.50"
    assert format_usd(0.0031) == "$0.0031"
    assert format_usd(0.0) == "$0.00"


def test_haiku_5_5_bills_a_long_prompt_request_at_its_higher_tier() -> None:
    table = PriceTable.from_catalog()
    prices = table.get("claude-haiku-5-5")
    assert prices is not None and prices.long_prompt is not None
    short = Usage(requests=1, input_tokens=90_000, output_tokens=1_000)
    long = Usage(
        requests=1, input_tokens=60_000, cache_read_input_tokens=50_000, output_tokens=1_000
    )
    assert table.cost("claude-haiku-5-5", short) == pytest.approx(
        (90_000 * 0.10 + 1_000 * 0.50) / MILLION
    )
    # over 100,000 prompt tokens (cache reads count): every token at the higher tier
    assert table.cost("claude-haiku-5-5", long) == pytest.approx(
        (60_000 * 0.50 + 50_000 * 0.05 + 1_000 * 2.50) / MILLION
    )
    ledger = UsageLedger()
    ledger.add("map", "claude-haiku-5-5", short)
    ledger.add("map", "claude-haiku-5-5", long, long_prompt=prices.is_long(long))
    assert ledger.total_cost(table) == pytest.approx(
        table.cost("claude-haiku-5-5", short) + table.cost("claude-haiku-5-5", long)  # type: ignore[operator]
    )
    assert prices.worst_case(120_000, 1_000) == pytest.approx(
        (120_000 * 0.50 + 1_000 * 2.50) / MILLION
    )
