"""Keyset pagination: `Page` and opaque, tamper-evident cursors.

A cursor carries the sort key of the last item of a page and the scope it belongs to (resource and order,
e.g. `"sessions:created_at_asc"`), signed with HMAC-SHA256. A cursor that was edited, truncated, or made
for another scope raises `invalid_cursor`. The key defaults to a library constant, which makes cursors
portable between processes and machines; set `ASM_CURSOR_SECRET` to make them unforgeable as well.
Paging never uses offsets, so page N costs the same as page 1. `pages(fetch)` / `all_items(fetch)` walk a
whole listing, page after page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from .errors import InvalidCursor, ValidationError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_MAC_BYTES = 16
_VERSION = 1


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; pass `next_cursor` back to get the next one (`None`: this was the last)."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


#: `fetch(cursor)`: one page of a listing, starting after `cursor` (`None`: the first page).
Fetch = Callable[[str | None], Awaitable["Page[T]"]]


async def pages(fetch: Fetch[T]) -> AsyncIterator[Page[T]]:
    """Every page of a cursor-paged listing, in order, until one has no `next_cursor`.

    Example:
        >>> async for page in pages(lambda c: store.list_runs(sid, cursor=c)):  # doctest: +SKIP
        ...     print(len(page))
    """
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        yield page
        if (cursor := page.next_cursor) is None:
            return


async def all_items(fetch: Fetch[T]) -> list[T]:
    """Every item of a cursor-paged listing, page after page (see `pages`)."""
    return [item async for page in pages(fetch) for item in page.items]


def check_limit(limit: int, *, maximum: int = MAX_PAGE_SIZE) -> int:
    """`limit` if it is an int in 1..maximum, else `validation_error`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ValidationError(f"limit must be an integer from 1 to {maximum}", details={"field": "limit"})
    return limit


def _secret() -> bytes:
    return os.environ.get("ASM_CURSOR_SECRET", "agent-session-manager/cursor/v1").encode()


def _mac(body: bytes) -> bytes:
    return hmac.new(_secret(), body, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(scope: str, key: Sequence[Any]) -> str:
    """An opaque cursor for the item whose sort key is `key`, valid only in `scope`."""
    body = orjson.dumps([_VERSION, scope, list(key)])
    return base64.urlsafe_b64encode(body + _mac(body)).rstrip(b"=").decode()


def decode_cursor(cursor: str, scope: str) -> list[Any]:
    """The sort key inside `cursor`; `invalid_cursor` if it is malformed, tampered or foreign."""
    if not isinstance(cursor, str) or not cursor:
        raise InvalidCursor("cursor must be a non-empty string")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(body)):
        raise InvalidCursor()
    try:
        version, cursor_scope, key = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        raise InvalidCursor() from None
    if version != _VERSION or cursor_scope != scope or not isinstance(key, list):
        raise InvalidCursor(
            "cursor belongs to another query or sort order",
            details={"expected_scope": scope},
        )
    return list(key)


def encode_time_cursor(scope: str, position: tuple[datetime, str]) -> str:
    """A cursor after `(timestamp, id)`: the key of listings ordered by a time column, then id."""
    when, ident = position
    return encode_cursor(scope, [when.isoformat(), ident])


def decode_time_cursor(cursor: str, scope: str) -> tuple[datetime, str]:
    """The `(timestamp, id)` inside a cursor of `encode_time_cursor`; `invalid_cursor` otherwise."""
    key = decode_cursor(cursor, scope)
    if len(key) == 2 and isinstance(key[0], str) and isinstance(key[1], str):
        try:
            when = datetime.fromisoformat(key[0])
        except ValueError:
            pass
        else:
            if when.tzinfo is not None:
                return when, key[1]
    raise InvalidCursor("cursor holds no valid position")
