"""Normalising the status filters of `list_sessions` / `list_runs` (one status, or several)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from ..core.errors import InvalidStatus
from ..core.models import RunStatus, SessionStatus

S = TypeVar("S", bound=StrEnum)


def _statuses(kind: type[S], value: S | str | Iterable[S | str] | None) -> frozenset[S] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    try:
        return frozenset(kind(item) for item in items)
    except ValueError:
        allowed = ", ".join(s.value for s in kind)
        raise InvalidStatus(f"unknown status in {items!r}; expected: {allowed}") from None


def session_statuses(
    value: SessionStatus | str | Iterable[SessionStatus | str] | None,
) -> frozenset[SessionStatus] | None:
    return _statuses(SessionStatus, value)


def run_statuses(
    value: RunStatus | str | Iterable[RunStatus | str] | None,
) -> frozenset[RunStatus] | None:
    return _statuses(RunStatus, value)
