"""What a run cost: token usage priced from a table of USD-per-token rates.

A `PricingTable` maps a provider name to a `ProviderPricing`: an optional provider-wide `default` and
per-model `Rates`. A model is matched exactly first, then by the longest model key that is a prefix of it
(`"claude-sonnet-4"` prices `"claude-sonnet-4-20250514"`), then by the provider default. Cache reads and
cache writes have their own rates; when a model has none, they are priced at its input rate.

`cost_of` never guesses: it returns `None` ("cannot be priced") for an unknown provider, a model with no
rates and no provider default, or usage without any recognised counter or with a counter that is not a
non-negative number. Stored history with odd usage therefore yields "unknown", not a wrong figure and not
an exception in the middle of a cost summary.

Token usage keys (what adapters report in `token_usage`) and their aliases are those of `core.usage`:
`input_tokens` is priced at the `input` rate, `output_tokens` at `output`, `cache_read_tokens` (or
`cache_read_input_tokens`) at `cache_read`, `cache_creation_tokens` (or `cache_creation_input_tokens`) at
`cache_creation`.

`DEFAULT_PRICING` is illustrative: list prices of a few Anthropic and OpenAI models as published when this
was written. Prices change; pass your own table (or `DEFAULT_PRICING.merged(yours)`) wherever it matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from .core.errors import ValidationError
from .core.models import Record
from .core.usage import COUNTERS, is_amount, reported

_PER_MILLION = 1_000_000


class Rates(Record):
    """USD per token for one model (or a provider's default). Cache rates fall back to `input`."""

    input: float = Field(ge=0, allow_inf_nan=False)
    output: float = Field(ge=0, allow_inf_nan=False)
    cache_read: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cache_creation: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @classmethod
    def per_million(
        cls,
        input: float,
        output: float,
        cache_read: float | None = None,
        cache_creation: float | None = None,
    ) -> Rates:
        """Rates from the USD-per-million-tokens figures that price lists print."""
        return cls(
            input=input / _PER_MILLION,
            output=output / _PER_MILLION,
            cache_read=None if cache_read is None else cache_read / _PER_MILLION,
            cache_creation=None if cache_creation is None else cache_creation / _PER_MILLION,
        )

    def rate(self, counter: str) -> float:
        """The rate of one counter (`input`, `output`, `cache_read`, `cache_creation`)."""
        if counter == "cache_read":
            return self.input if self.cache_read is None else self.cache_read
        if counter == "cache_creation":
            return self.input if self.cache_creation is None else self.cache_creation
        return self.input if counter == "input" else self.output


class ProviderPricing(Record):
    """One provider's rates: per model key (exact or prefix) and an optional provider-wide default."""

    default: Rates | None = None
    models: dict[str, Rates] = Field(default_factory=dict)

    def rates_for(self, model: str | None) -> Rates | None:
        """Exact model key, else the longest key that prefixes `model`, else the default."""
        if model:
            exact = self.models.get(model)
            if exact is not None:
                return exact
            prefixes = [key for key in self.models if model.startswith(key)]
            if prefixes:
                return self.models[max(prefixes, key=len)]
        return self.default


class PricingTable(Record):
    """Rates per provider name (names are matched exactly, e.g. `"anthropic"`, `"openai"`)."""

    providers: dict[str, ProviderPricing] = Field(default_factory=dict)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> PricingTable:
        """Parse a nested mapping: `{"anthropic": {"default": {...}, "models": {"claude-": {...}}}}`."""
        if not isinstance(table, Mapping):
            raise ValidationError("a pricing table must be a mapping of provider name to rates")
        return cls(providers=dict(table))

    def rates_for(self, provider: str | None, model: str | None) -> Rates | None:
        """The rates that price `model` of `provider`, or `None` when the table has none."""
        pricing = self.providers.get(provider) if provider else None
        return None if pricing is None else pricing.rates_for(model)

    def merged(self, other: PricingTable) -> PricingTable:
        """A table with `other`'s provider defaults and model rates replacing or extending this one's."""
        providers = dict(self.providers)
        for name, theirs in other.providers.items():
            ours = providers.get(name)
            if ours is None:
                providers[name] = theirs
                continue
            providers[name] = ProviderPricing(
                default=theirs.default if theirs.default is not None else ours.default,
                models={**ours.models, **theirs.models},
            )
        return PricingTable(providers=providers)


def cost_of(
    token_usage: Mapping[str, Any] | None,
    provider: str | None,
    model: str | None,
    table: PricingTable | None = None,
) -> float | None:
    """USD cost of `token_usage` for `provider`/`model` priced with `table` (default `DEFAULT_PRICING`).

    `None` means the usage cannot be priced (see the module docstring); it is never a guess.
    """
    if table is None:
        table = DEFAULT_PRICING
    elif not isinstance(table, PricingTable):
        raise ValidationError(
            f"table must be a PricingTable, not {type(table).__name__}", details={"field": "table"}
        )
    rates = table.rates_for(provider, model)
    counts = _counts(token_usage)
    if rates is None or counts is None:
        return None
    return sum(count * rates.rate(counter) for counter, count in counts.items())


def _counts(token_usage: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The recognised counters of `token_usage` by rate name, or `None` if there is none or one is not
    a count (the counters and their aliases are `core.usage.COUNTERS`)."""
    if not isinstance(token_usage, Mapping):
        return None
    counts: dict[str, float] = {}
    for counter, names in COUNTERS:
        name = reported(token_usage, names)
        if name is None:
            continue
        value = token_usage[name]
        if not is_amount(value):
            return None
        counts[counter.removesuffix("_tokens")] = value
    return counts or None


#: Illustrative list prices (USD per million tokens: input, output, cache read, cache write) of a few
#: models, so that costs appear out of the box. Not authoritative and not kept current: override it.
#: No provider default is set, so an unlisted model is reported as "cannot be priced" (None).
DEFAULT_PRICING = PricingTable(
    providers={
        "anthropic": ProviderPricing(
            models={
                "claude-opus-4-5": Rates.per_million(5.0, 25.0, 0.5, 6.25),
                "claude-opus-4": Rates.per_million(15.0, 75.0, 1.5, 18.75),
                "claude-sonnet-4": Rates.per_million(3.0, 15.0, 0.3, 3.75),
                "claude-3-7-sonnet": Rates.per_million(3.0, 15.0, 0.3, 3.75),
                "claude-3-5-sonnet": Rates.per_million(3.0, 15.0, 0.3, 3.75),
                "claude-haiku-4-5": Rates.per_million(1.0, 5.0, 0.1, 1.25),
                "claude-3-5-haiku": Rates.per_million(0.8, 4.0, 0.08, 1.0),
            }
        ),
        "openai": ProviderPricing(
            models={
                "gpt-4o": Rates.per_million(2.5, 10.0, 1.25),
                "gpt-4o-mini": Rates.per_million(0.15, 0.6, 0.075),
                "gpt-4.1": Rates.per_million(2.0, 8.0, 0.5),
                "gpt-4.1-mini": Rates.per_million(0.4, 1.6, 0.1),
                "gpt-4.1-nano": Rates.per_million(0.1, 0.4, 0.025),
                "o4-mini": Rates.per_million(1.1, 4.4, 0.275),
            }
        ),
    }
)
