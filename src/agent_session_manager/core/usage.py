"""Token usage: the counters a run's `token_usage` holds, the names each is read from, and how they count.

One table (`COUNTERS`) serves every reader: token counting here (statistics and summaries), pricing
(`pricing.cost_of`), and the SQL backends, which spell the same rule in SQL from this table.

Counters and the names they are read from (the first name present wins): `input_tokens`,
`output_tokens`, `cache_read_tokens` (or Anthropic's `cache_read_input_tokens`), `cache_creation_tokens`
(or `cache_creation_input_tokens`), and `total_tokens`. Input here means prompt tokens that were neither
read from nor written to a cache.

Counting: a counter counts when its value is a JSON number (truncated toward zero to an integer);
anything else, or a missing key, counts as 0. A run without a numeric `total_tokens` has the total of its
four other counters, so a run that reports only its parts is not counted as empty. (Pricing is stricter:
a counter that is not a non-negative number makes the usage "cannot be priced".)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ValidationError

INPUT = "input_tokens"
OUTPUT = "output_tokens"
CACHE_READ = "cache_read_tokens"
CACHE_CREATION = "cache_creation_tokens"
TOTAL = "total_tokens"

#: Each counter and the `token_usage` keys it is read from, first present wins.
COUNTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (INPUT, (INPUT,)),
    (OUTPUT, (OUTPUT,)),
    (CACHE_READ, (CACHE_READ, "cache_read_input_tokens")),
    (CACHE_CREATION, (CACHE_CREATION, "cache_creation_input_tokens")),
)
#: Every counter the summaries add up, in report order.
TOKEN_KEYS = (INPUT, OUTPUT, TOTAL, CACHE_READ, CACHE_CREATION)
#: The largest token count a counter may hold (a quadrillion), on every backend: a run's total (the sum
#: of its counters) and the sums of statistics over thousands of such runs stay within the 64-bit
#: integers SQL computes with.
MAX_TOKENS = 10**15
_COUNTER_NAMES = frozenset({TOTAL, *(name for _, names in COUNTERS for name in names)})


def check_token_usage(usage: Mapping[str, Any]) -> None:
    """`validation_error` (field `token_usage`) if a counter holds a number beyond +-`MAX_TOKENS`."""
    for name in _COUNTER_NAMES.intersection(usage):
        value = usage[name]
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not -MAX_TOKENS <= value <= MAX_TOKENS
        ):
            raise ValidationError(
                f"token_usage.{name} must be at most {MAX_TOKENS:,} in magnitude",
                details={"field": "token_usage", "counter": name},
            )


def is_amount(value: Any) -> bool:
    """Whether `value` is a finite, non-negative number (not a bool): a token count or a USD amount."""
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    )


def reported(usage: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    """The key a counter is read from: the first of `names` present in `usage`, or `None`."""
    return next((name for name in names if name in usage), None)


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def token_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """Every counter of `TOKEN_KEYS` for one run."""
    counts: dict[str, int] = {}
    for counter, names in COUNTERS:
        name = reported(usage, names)
        counts[counter] = 0 if name is None else (_number(usage[name]) or 0)
    total = _number(usage.get(TOTAL))
    counts[TOTAL] = sum(counts.values()) if total is None else total
    return counts


def total_tokens(usage: Mapping[str, Any]) -> int:
    """The run's total: `total_tokens` if numeric, else the sum of its other counters."""
    return token_counts(usage)[TOTAL]
