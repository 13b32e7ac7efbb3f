"""The filters of `list_sessions` / `list_runs`: statuses (one, or several), string lists, and the whole
`list_sessions` query (`SessionListing`) with its order and its cursor, written once for every backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import orjson

from ..core.clock import utc_now
from ..core.digest import sha256_hex
from ..core.errors import InvalidCursor, InvalidStatus, ValidationError
from ..core.ids import validate_id
from ..core.models import RunStatus, Session, SessionStatus, checked_text, one_or_many
from ..core.pagination import DEFAULT_PAGE_SIZE, check_limit, decode_cursor, encode_cursor

S = TypeVar("S", bound=StrEnum)


def _statuses(kind: type[S], value: S | str | Iterable[S | str] | None) -> frozenset[S] | None:
    if value is None:
        return None
    items = one_or_many(value, "status")
    try:
        return frozenset(kind(item) for item in items)
    except (ValueError, TypeError):
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


def filters_digest(filters: dict[str, Any]) -> str:
    """A short digest of a listing's filters, for the scope of its cursors: a cursor made under some
    filters is `invalid_cursor` under others."""
    return sha256_hex(orjson.dumps(filters, option=orjson.OPT_SORT_KEYS))[:24]


def run_scope(session_id: str, statuses: frozenset[RunStatus] | None) -> str:
    """The cursor scope of `list_runs`: its order, session and statuses."""
    chosen = None if statuses is None else sorted(statuses)
    return f"runs:started_at_asc:{filters_digest({'session_id': session_id, 'statuses': chosen})}"


def strings(value: str | Iterable[str] | None, field: str) -> tuple[str, ...] | None:
    """One string or an iterable of strings, as a sorted tuple without repeats (None: no filter)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else None
    if items is None and isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        items = list(value)
    if items is None or not all(isinstance(item, str) and item for item in items):
        raise ValidationError(f"{field} must be non-empty strings", details={"field": field})
    return tuple(sorted({checked_text(item, field) for item in items}))


#: The orders of `list_sessions`: a time column, then the id.
SESSION_ORDERS = ("created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class SessionListing:
    """The validated arguments of `list_sessions`, with the position its cursor holds.

    Sessions are ordered by `(order_by, id)`, ascending or descending. A cursor is bound to the order and
    to the filters (its scope carries a digest of them), so reusing it with others is `invalid_cursor`.
    Ordered by `updated_at`, a listing only shows sessions updated at or before its first page (`bound`,
    carried by the cursor): a session saved while the pages are read moves past the bound and is not
    listed twice; a listing started afterwards shows it in its new place.
    """

    agent_id: str | None = None
    user_id: str | None = None
    statuses: frozenset[SessionStatus] | None = None
    tags: tuple[str, ...] | None = None
    order_by: str = "created_at"
    descending: bool = False
    limit: int = DEFAULT_PAGE_SIZE
    #: The `(time, id)` of the last session of the previous page (None: the first page).
    after: tuple[datetime, str] | None = None
    #: `updated_at` order only: the newest `updated_at` this listing shows.
    bound: datetime | None = None

    @classmethod
    def build(
        cls,
        *,
        agent_id: str | None = None,
        user_id: str | None = None,
        status: SessionStatus | str | Iterable[SessionStatus | str] | None = None,
        tags: str | Iterable[str] | None = None,
        order_by: str = "created_at",
        descending: bool = False,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> SessionListing:
        if agent_id is not None and (not isinstance(agent_id, str) or not agent_id):
            raise ValidationError("agent_id must be a non-empty string", details={"field": "agent_id"})
        if agent_id is not None:
            checked_text(agent_id, "agent_id")
        if order_by not in SESSION_ORDERS:
            raise ValidationError(
                f"order_by must be one of {', '.join(SESSION_ORDERS)}", details={"field": "order_by"}
            )
        if not isinstance(descending, bool):
            raise ValidationError("descending must be True or False", details={"field": "descending"})
        listing = cls(
            agent_id=agent_id,
            user_id=None if user_id is None else validate_id(user_id, "user_id"),
            statuses=session_statuses(status),
            tags=strings(tags, "tags"),
            order_by=order_by,
            descending=descending,
            limit=check_limit(limit),
        )
        if cursor is None:
            return replace(listing, bound=utc_now() if order_by == "updated_at" else None)
        return listing.resumed(cursor)

    @property
    def scope(self) -> str:
        filters = {
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "statuses": None if self.statuses is None else sorted(self.statuses),
            "tags": self.tags,
        }
        return f"sessions:{self.order_by}_{'desc' if self.descending else 'asc'}:{filters_digest(filters)}"

    def resumed(self, cursor: str) -> SessionListing:
        """This listing after the position held by `cursor`; `invalid_cursor` if it is not one of its."""
        key = decode_cursor(cursor, self.scope)
        if len(key) != (3 if self.order_by == "updated_at" else 2) or not isinstance(key[1], str):
            raise InvalidCursor("cursor holds no valid position")
        bound = _cursor_time(key[2]) if len(key) == 3 else None
        return replace(self, after=(_cursor_time(key[0]), key[1]), bound=bound)

    def key(self, session: Session) -> tuple[datetime, str]:
        """The sort key of `session` in this order."""
        when = session.updated_at if self.order_by == "updated_at" else session.created_at
        return when, session.id

    def cursor_after(self, session: Session) -> str:
        """The cursor of the page that follows `session`."""
        when, ident = self.key(session)
        key: list[Any] = [when.isoformat(), ident]
        if self.bound is not None:
            key.append(self.bound.isoformat())
        return encode_cursor(self.scope, key)

    def matches(self, session: Session) -> bool:
        """Whether `session` is part of this listing and comes after its position."""
        if not (
            (self.agent_id is None or session.agent_id == self.agent_id)
            and (self.user_id is None or session.user_id == self.user_id)
            and (self.statuses is None or session.status in self.statuses)
            and (self.tags is None or set(self.tags) <= set(session.tags))
            and (self.bound is None or session.updated_at <= self.bound)
        ):
            return False
        if self.after is None:
            return True
        return self.key(session) < self.after if self.descending else self.key(session) > self.after


def _cursor_time(value: Any) -> datetime:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InvalidCursor("cursor holds no valid position")
    return when
