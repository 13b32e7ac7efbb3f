"""Timestamps: timezone-aware UTC with microseconds. A naive datetime is rejected, never guessed."""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import ValidationError


def utc_now() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime, field: str = "timestamp") -> datetime:
    """`value` converted to UTC; `validation_error` if it has no time zone or its UTC value is outside
    what `datetime` can hold (e.g. 0001-01-01 00:00 at +05:00)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{field} must be timezone-aware (naive datetimes are ambiguous)",
            details={"field": field},
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            f"{field} is outside the range of UTC timestamps (years 1 to 9999)",
            details={"field": field},
        ) from None
