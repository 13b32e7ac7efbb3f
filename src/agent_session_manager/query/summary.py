"""Usage and cost summaries, built once for every backend from rows the backend filtered.

A backend hands over either single runs (memory) or groups of runs with the same provider and model that
the database already summed (SQL); the totals come out the same. Cost comes from a run's stored
`cost_usd`, else from `pricing.cost_of` on its token usage (the one calculator of the library); a run that
neither prices is counted in `unmapped_runs` and adds nothing. Providers and models that are not set are
reported as `"unknown"`; a run's model is `provider_metadata["model"]` when that is a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ValidationError
from ..core.models import Run
from ..core.usage import INPUT, OUTPUT, TOKEN_KEYS, token_counts
from ..pricing import PricingTable, cost_of
from .base import CostSummary, ModelCost, ProviderCost, UsageSummary, UsageTotals

UNKNOWN = "unknown"


def model_of(run: Run) -> str | None:
    """The model a run used, from `provider_metadata["model"]` (None when unset or not a string)."""
    model = run.provider_metadata.get("model")
    return model if isinstance(model, str) else None


@dataclass(frozen=True)
class UsageRow:
    """Token counts of `run_count` runs that share a provider and a model."""

    provider: str | None
    model: str | None
    run_count: int
    tokens: Mapping[str, int]

    @classmethod
    def of(cls, run: Run) -> UsageRow:
        return cls(run.provider, model_of(run), 1, token_counts(run.token_usage))


@dataclass(frozen=True)
class StoredCostRow:
    """The summed stored `cost_usd` of `run_count` runs that share a provider and a model."""

    provider: str | None
    model: str | None
    run_count: int
    cost_usd: float
    input_tokens: int
    output_tokens: int

    @classmethod
    def of(cls, run: Run) -> StoredCostRow:
        counts = token_counts(run.token_usage)
        return cls(run.provider, model_of(run), 1, run.cost_usd or 0.0, counts[INPUT], counts[OUTPUT])


@dataclass(frozen=True)
class UnpricedRun:
    """A run without a stored cost: priced from its token usage, if the pricing table can."""

    provider: str | None
    model: str | None
    token_usage: Mapping[str, Any]

    @classmethod
    def of(cls, run: Run) -> UnpricedRun:
        return cls(run.provider, model_of(run), run.token_usage)


def pricing_table(pricing: Any) -> PricingTable | None:
    """`None` (the default table), a `PricingTable`, or a mapping for `PricingTable.from_mapping`.

    Anything else is `validation_error`.
    """
    if pricing is None or isinstance(pricing, PricingTable):
        return pricing
    if isinstance(pricing, Mapping):
        return PricingTable.from_mapping(pricing)
    raise ValidationError(
        f"pricing must be a PricingTable or a mapping, not {type(pricing).__name__}",
        details={"field": "pricing"},
    )


@dataclass
class _Totals:
    run_count: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KEYS, 0))

    def add(self, row: UsageRow) -> None:
        self.run_count += row.run_count
        for key in TOKEN_KEYS:
            self.tokens[key] += int(row.tokens.get(key, 0))

    def result(self) -> UsageTotals:
        return UsageTotals(run_count=self.run_count, **self.tokens)


def usage_summary(rows: Iterable[UsageRow]) -> UsageSummary:
    overall = _Totals()
    by_provider: dict[str, _Totals] = {}
    by_model: dict[str, _Totals] = {}
    for row in rows:
        overall.add(row)
        by_provider.setdefault(row.provider or UNKNOWN, _Totals()).add(row)
        by_model.setdefault(row.model or UNKNOWN, _Totals()).add(row)
    tokens = overall.tokens
    return UsageSummary(
        total_input_tokens=tokens["input_tokens"],
        total_output_tokens=tokens["output_tokens"],
        total_tokens=tokens["total_tokens"],
        total_cache_read_tokens=tokens["cache_read_tokens"],
        total_cache_creation_tokens=tokens["cache_creation_tokens"],
        run_count=overall.run_count,
        by_provider={name: totals.result() for name, totals in sorted(by_provider.items())},
        by_model={name: totals.result() for name, totals in sorted(by_model.items())},
    )


class CostTotals:
    """Adds up costs run by run (or group by group) into a `CostSummary`."""

    def __init__(self, table: PricingTable | None) -> None:
        self.table = table
        self.unmapped = 0
        self.cost = 0.0
        self.runs = 0
        self.providers: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}

    def add_stored(self, row: StoredCostRow) -> None:
        self.cost += row.cost_usd
        self.runs += row.run_count
        provider = self.providers.setdefault(row.provider or UNKNOWN, {"cost_usd": 0.0, "run_count": 0})
        provider["cost_usd"] += row.cost_usd
        provider["run_count"] += row.run_count
        model = self.models.setdefault(
            row.model or UNKNOWN, {"cost_usd": 0.0, "run_count": 0, "input_tokens": 0, "output_tokens": 0}
        )
        model["cost_usd"] += row.cost_usd
        model["run_count"] += row.run_count
        model["input_tokens"] += row.input_tokens
        model["output_tokens"] += row.output_tokens

    def add_unpriced(self, run: UnpricedRun) -> None:
        cost = cost_of(run.token_usage, run.provider, run.model, self.table)
        if cost is None:
            self.unmapped += 1
            return
        counts = token_counts(run.token_usage)
        self.add_stored(StoredCostRow(run.provider, run.model, 1, cost, counts[INPUT], counts[OUTPUT]))

    def result(self) -> CostSummary:
        return CostSummary(
            total_cost_usd=self.cost,
            run_count=self.runs + self.unmapped,
            priced_run_count=self.runs,
            unmapped_runs=self.unmapped,
            by_provider={name: ProviderCost(**values) for name, values in sorted(self.providers.items())},
            by_model={name: ModelCost(**values) for name, values in sorted(self.models.items())},
        )
