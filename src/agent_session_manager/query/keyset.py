"""Keyset paging for the query API: one sort key per order, cursors bound to order and filters.

Each order sorts on a tuple of columns that ends with a unique one (the id, or the sequence within a
session), all in the same direction, so "the rows after this cursor" is one row-value comparison that an
index answers (`(updated_at, id) < (:u, :id)`), and page N costs what page 1 costs. The cursor holds the
key of the page's last row, signed over the scope `query.<resource>:<order>:<filter digest>` with
`core.pagination`; decoding also checks the key's shape, so even a cursor forged with a known secret cannot
smuggle a wrong type, or an integer beyond 64 bits, into a query.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson

from ..core.digest import sha256_hex
from ..core.errors import InvalidCursor
from ..core.pagination import Page, decode_cursor, encode_cursor
from ..core.usage import total_tokens
from .base import MAX_INT64, EventOrder, RunOrder, SessionOrder

T = TypeVar("T")
SortKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Keyset:
    """The sort key of one order: column names and their Python types, and the direction."""

    resource: str
    order: str
    columns: tuple[str, ...]
    kinds: tuple[type, ...]
    descending: bool

    def scope(self, filters: Mapping[str, Any]) -> str:
        digest = sha256_hex(orjson.dumps(dict(filters), option=orjson.OPT_SORT_KEYS))
        return f"query.{self.resource}:{self.order}:{digest[:24]}"

    def encode(self, key: SortKey, filters: Mapping[str, Any]) -> str:
        plain = [value.isoformat() if isinstance(value, datetime) else value for value in key]
        return encode_cursor(self.scope(filters), plain)

    def decode(self, cursor: str, filters: Mapping[str, Any]) -> SortKey:
        """The key inside `cursor`, typed; `invalid_cursor` if it is not this keyset's cursor."""
        raw = decode_cursor(cursor, self.scope(filters))
        if len(raw) != len(self.kinds):
            raise InvalidCursor()
        key: list[Any] = []
        for value, kind in zip(raw, self.kinds, strict=True):
            if kind is datetime:
                key.append(_datetime(value))
            elif isinstance(value, kind) and not isinstance(value, bool) and _in_range(value):
                key.append(value)
            else:
                raise InvalidCursor()
        return tuple(key)


def _in_range(value: Any) -> bool:
    """An integer must fit the databases' 64 bits (a larger one would fail in the driver, not here)."""
    return not isinstance(value, int) or -MAX_INT64 - 1 <= value <= MAX_INT64


def _datetime(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidCursor()
    return parsed


SESSION_KEYSETS = {
    SessionOrder.UPDATED_AT_DESC: Keyset(
        "sessions", "updated_at_desc", ("updated_at", "id"), (datetime, str), True
    ),
    SessionOrder.CREATED_AT_ASC: Keyset(
        "sessions", "created_at_asc", ("created_at", "id"), (datetime, str), False
    ),
    SessionOrder.CREATED_AT_DESC: Keyset(
        "sessions", "created_at_desc", ("created_at", "id"), (datetime, str), True
    ),
}
RUN_KEYSETS = {
    RunOrder.STARTED_AT_DESC: Keyset("runs", "started_at_desc", ("started_at", "id"), (datetime, str), True),
    RunOrder.STARTED_AT_ASC: Keyset("runs", "started_at_asc", ("started_at", "id"), (datetime, str), False),
    RunOrder.TOKEN_USAGE_DESC: Keyset("runs", "token_usage_desc", ("total_tokens", "id"), (int, str), True),
}
EVENT_KEYSETS = {
    EventOrder.SEQUENCE_ASC: Keyset(
        "events", "sequence_asc", ("session_id", "sequence_number"), (str, int), False
    ),
    EventOrder.TIMESTAMP_ASC: Keyset("events", "timestamp_asc", ("timestamp", "id"), (datetime, str), False),
    EventOrder.TIMESTAMP_DESC: Keyset("events", "timestamp_desc", ("timestamp", "id"), (datetime, str), True),
}


def sort_key(keyset: Keyset) -> Callable[[Any], SortKey]:
    """The keyset's sort key of a model (a run's `total_tokens` is computed as `core.usage` says)."""
    columns = keyset.columns

    def key(row: Any) -> SortKey:
        return tuple(
            total_tokens(row.token_usage) if column == "total_tokens" else getattr(row, column)
            for column in columns
        )

    return key


def ordered_after(rows: Iterable[T], keyset: Keyset, after: SortKey | None, limit: int) -> list[T]:
    """Up to `limit` of `rows` in keyset order after `after` (for backends that hold rows in memory)."""
    key = sort_key(keyset)
    if after is not None:
        rows = [r for r in rows if (key(r) < after if keyset.descending else key(r) > after)]
    if keyset.descending:
        return heapq.nlargest(limit, rows, key=key)
    return heapq.nsmallest(limit, rows, key=key)


def next_page(
    fetched: Sequence[T],
    key: Callable[[T], SortKey],
    keyset: Keyset,
    filters: Mapping[str, Any],
    limit: int,
) -> Page[T]:
    """The page from up to `limit + 1` rows in order: the extra row only says there is a next page."""
    items = list(fetched[:limit])
    cursor = keyset.encode(key(items[-1]), filters) if len(fetched) > limit else None
    return Page(items, cursor)
