"""JSON that round-trips exactly, identically on every backend.

`data`, `metadata`, `context`, `input`, `output`, ... are JSON objects. A value is accepted only if
`loads(dumps(value)) == value` with orjson: this rejects NaN and infinities, non-string keys, bytes, sets,
tuples, datetimes and integers beyond 64 bits. Two more rules make every backend agree with PostgreSQL's
jsonb, which would otherwise change the value: strings with U+0000 are rejected (jsonb refuses them), and
so are floats jsonb would turn into something else (-0.0, which becomes 0, and magnitudes of 1e16 and
more, which come back as integers): store such numbers as integers or strings.
Object key order is not part of the value (jsonb does not keep it; SQLite and memory do).
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from .errors import ValidationError

JSONObject = dict[str, Any]

#: Floats at or above this magnitude are printed by orjson with an exponent and come back from
#: PostgreSQL's jsonb as integers, so they cannot round-trip.
FLOAT_LIMIT = 1e16
#: The largest integer of an integer model field (SQL `bigint`).
INT64_MAX = 2**63 - 1


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def checked_object(value: Any, field: str) -> JSONObject:
    """A fresh copy of `value` if it is a JSON object that round-trips exactly; else `validation_error`."""
    if not isinstance(value, dict):
        raise ValidationError(
            f"{field} must be a JSON object (a dict), not {type(value).__name__}",
            details={"field": field},
        )
    return checked_value(value, field)  # type: ignore[no-any-return]


def checked_value(value: Any, field: str) -> Any:
    """A fresh copy of any JSON value that round-trips exactly; else `validation_error`."""
    try:
        encoded = orjson.dumps(value)
    except TypeError as exc:
        raise ValidationError(f"{field} is not JSON-serialisable: {exc}", details={"field": field}) from exc
    if b"\\u0000" in encoded and _has_nul(value):
        raise ValidationError(
            f"{field} contains the character U+0000, which PostgreSQL cannot store",
            details={"field": field},
        )
    if (b"e" in encoded or b"-0.0" in encoded) and _has_unstable_float(value):
        raise ValidationError(
            f"{field} contains -0.0 or a float of magnitude >= 1e16, which PostgreSQL's jsonb "
            "would change; store it as an integer or a string",
            details={"field": field},
        )
    copy = orjson.loads(encoded)
    if copy != value:
        raise ValidationError(
            f"{field} does not survive a JSON round trip unchanged "
            "(NaN/Infinity, tuples, or other non-JSON values)",
            details={"field": field},
        )
    return copy


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _has_unstable_float(value: Any) -> bool:
    if isinstance(value, float):
        return abs(value) >= FLOAT_LIMIT or (value == 0.0 and math.copysign(1.0, value) < 0)
    if isinstance(value, dict):
        return any(_has_unstable_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unstable_float(v) for v in value)
    return False
