"""Pricing: model resolution (exact, longest prefix, default), cache rates, and "cannot be priced"."""

from __future__ import annotations

import pytest

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.pricing import (
    DEFAULT_PRICING,
    PricingTable,
    ProviderPricing,
    Rates,
    cost_of,
)

TABLE = PricingTable.from_mapping(
    {
        "acme": {
            "default": {"input": 0.001, "output": 0.002},
            "models": {
                "big": {"input": 0.01, "output": 0.03, "cache_read": 0.001, "cache_creation": 0.0125},
                "big-v2": {"input": 0.02, "output": 0.06},
                "big-v2-turbo-exact": {"input": 0.5, "output": 0.5},
            },
        },
        "nodefault": {"models": {"m": {"input": 1.0, "output": 1.0}}},
    }
)


def test_exact_model_wins_over_prefix() -> None:
    assert cost_of({"input_tokens": 1}, "acme", "big-v2-turbo-exact", TABLE) == 0.5


def test_longest_prefix_wins() -> None:
    assert cost_of({"input_tokens": 10, "output_tokens": 1}, "acme", "big-v2-2025", TABLE) == pytest.approx(
        10 * 0.02 + 0.06
    )
    assert cost_of({"input_tokens": 10, "output_tokens": 1}, "acme", "big-2024", TABLE) == pytest.approx(
        10 * 0.01 + 0.03
    )


def test_provider_default_prices_unknown_and_missing_models() -> None:
    usage = {"input_tokens": 100, "output_tokens": 50}
    assert cost_of(usage, "acme", "small", TABLE) == pytest.approx(100 * 0.001 + 50 * 0.002)
    assert cost_of(usage, "acme", None, TABLE) == pytest.approx(100 * 0.001 + 50 * 0.002)


def test_cache_tokens_have_their_own_rates() -> None:
    usage = {"input_tokens": 10, "output_tokens": 2, "cache_read_tokens": 100, "cache_creation_tokens": 40}
    expected = 10 * 0.01 + 2 * 0.03 + 100 * 0.001 + 40 * 0.0125
    assert cost_of(usage, "acme", "big", TABLE) == pytest.approx(expected)


def test_cache_tokens_fall_back_to_the_input_rate() -> None:
    usage = {"input_tokens": 10, "output_tokens": 2, "cache_read_tokens": 100, "cache_creation_tokens": 40}
    assert cost_of(usage, "acme", "big-v2", TABLE) == pytest.approx((10 + 100 + 40) * 0.02 + 2 * 0.06)


def test_anthropic_cache_counter_names_are_accepted() -> None:
    usage = {"input_tokens": 0, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 40}
    assert cost_of(usage, "acme", "big", TABLE) == pytest.approx(100 * 0.001 + 40 * 0.0125)


@pytest.mark.parametrize(
    ("usage", "provider", "model"),
    [
        ({"input_tokens": 1}, "unknown-provider", "big"),
        ({"input_tokens": 1}, None, "big"),
        ({"input_tokens": 1}, "nodefault", "other"),
        ({}, "acme", "big"),
        ({"total_tokens": 5}, "acme", "big"),
        (None, "acme", "big"),
        ({"input_tokens": -1}, "acme", "big"),
        ({"input_tokens": "12"}, "acme", "big"),
        ({"input_tokens": True}, "acme", "big"),
        ({"input_tokens": float("nan")}, "acme", "big"),
    ],
)
def test_what_cannot_be_priced_is_none_never_a_guess(
    usage: dict[str, object] | None, provider: str | None, model: str | None
) -> None:
    assert cost_of(usage, provider, model, TABLE) is None


def test_zero_usage_costs_zero() -> None:
    assert cost_of({"input_tokens": 0, "output_tokens": 0}, "acme", "big", TABLE) == 0


def test_default_table_prices_known_models_only() -> None:
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert cost_of(usage, "anthropic", "claude-sonnet-4-20250514") == pytest.approx(18.0)
    assert cost_of(usage, "openai", "gpt-4o-mini-2024-07-18") == pytest.approx(0.75)
    assert cost_of(usage, "anthropic", "claude-unknown-9") is None


def test_merged_tables_override_and_extend() -> None:
    mine = PricingTable(
        providers={
            "anthropic": ProviderPricing(
                default=Rates.per_million(1, 1),
                models={"claude-sonnet-4": Rates.per_million(2, 2)},
            ),
            "local": ProviderPricing(default=Rates(input=0, output=0)),
        }
    )
    table = DEFAULT_PRICING.merged(mine)
    usage = {"input_tokens": 1_000_000}
    assert cost_of(usage, "anthropic", "claude-sonnet-4-5", table) == pytest.approx(2.0)
    assert cost_of(usage, "anthropic", "claude-opus-4-1", table) == pytest.approx(15.0)
    assert cost_of(usage, "anthropic", "mystery", table) == pytest.approx(1.0)
    assert cost_of(usage, "local", "llama", table) == 0
    assert cost_of(usage, "anthropic", "mystery") is None


@pytest.mark.parametrize(
    "bad",
    [
        {"acme": {"default": {"input": -1, "output": 0}}},
        {"acme": {"default": {"input": float("inf"), "output": 0}}},
        {"acme": {"default": {"input": 1}}},
        {"acme": {"models": {"m": {"input": 1, "output": 1, "surprise": 2}}}},
        {"acme": "cheap"},
    ],
)
def test_bad_tables_are_validation_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PricingTable.from_mapping(bad)


def test_table_argument_must_be_a_pricing_table() -> None:
    with pytest.raises(ValidationError):
        cost_of({"input_tokens": 1}, "acme", "big", {"acme": {}})  # type: ignore[arg-type]
