"""How token counts are read from `Run.token_usage`, in Python (the SQL backends mirror it in SQL).

Counters and the names they are read from (the first name present wins, as in `pricing`):
`input_tokens`, `output_tokens`, `cache_read_tokens` (or Anthropic's `cache_read_input_tokens`),
`cache_creation_tokens` (or `cache_creation_input_tokens`), and `total_tokens`.
A counter counts when its value is a JSON number (truncated toward zero to an integer); anything else, or
a missing key, counts as 0. A run without a numeric `total_tokens` has the total of its four other
counters (input here means prompt tokens that were neither read from nor written to a cache), so a run
that reports only its parts is not counted as empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _counter(usage: Mapping[str, Any], names: tuple[str, ...]) -> int:
    name = next((n for n in names if n in usage), None)
    return 0 if name is None else (_number(usage[name]) or 0)


def token_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """Every counter of `TOKEN_KEYS` for one run."""
    counts = {counter: _counter(usage, names) for counter, names in COUNTERS}
    total = _number(usage.get(TOTAL))
    counts[TOTAL] = sum(counts.values()) if total is None else total
    return counts


def total_tokens(usage: Mapping[str, Any]) -> int:
    """The run's total: `total_tokens` if numeric, else the sum of its other counters."""
    return token_counts(usage)[TOTAL]
