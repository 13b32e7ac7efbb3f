"""The `QueryAPI` port: cross-session search, statistics, usage and cost, export.

Decisions every backend shares:

* Filters run in the backend (SQL `WHERE`, never a pass over rows in application memory), and every
  search pages with an opaque keyset cursor: `token_usage_desc` included, no offsets anywhere.
* A cursor is bound to its resource, its sort order *and its filters*: it is signed (`core.pagination`) over
  a scope such as `query.sessions:updated_at_desc:<filter digest>`, so an edited cursor, or one reused with
  another order or other filters, raises `invalid_cursor` instead of silently returning another listing.
* Limits: 50 sessions or runs, 100 events by default; 1 to 1,000, else `validation_error`.
* Token counts are read from `Run.token_usage` as `core.usage` says: `input_tokens`, `output_tokens`,
  `cache_read_tokens` and `cache_creation_tokens` (or Anthropic's `*_input_tokens` names), `total_tokens`.
  A JSON number counts (truncated to an integer); anything else counts as 0. A run without a numeric
  `total_tokens` totals its other counters. `min_tokens` and `token_usage_desc` use
  that same total.
* Time ranges are inclusive at both ends and need timezone-aware datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..core.clock import ensure_utc
from ..core.errors import ValidationError
from ..core.ids import validate_id
from ..core.models import Event, EventType, Run, RunStatus, Session, SessionStatus, event_types
from ..core.pagination import MAX_PAGE_SIZE, Page, check_limit
from ..core.usage import total_tokens
from ..sessions.filters import run_statuses, session_statuses, strings
from .export import SessionExport

DEFAULT_SESSION_LIMIT = 50
DEFAULT_RUN_LIMIT = 50
DEFAULT_EVENT_LIMIT = 100
MAX_QUERY_LIMIT = MAX_PAGE_SIZE
#: The largest integer a filter or a cursor may carry: both databases store integers in 64 bits.
MAX_INT64 = 2**63 - 1


class SessionOrder(StrEnum):
    UPDATED_AT_DESC = "updated_at_desc"
    CREATED_AT_ASC = "created_at_asc"
    CREATED_AT_DESC = "created_at_desc"


class RunOrder(StrEnum):
    STARTED_AT_DESC = "started_at_desc"
    STARTED_AT_ASC = "started_at_asc"
    TOKEN_USAGE_DESC = "token_usage_desc"


class EventOrder(StrEnum):
    """`sequence_asc` lists each session's log in order, sessions one after another by id."""

    SEQUENCE_ASC = "sequence_asc"
    TIMESTAMP_ASC = "timestamp_asc"
    TIMESTAMP_DESC = "timestamp_desc"


@dataclass(frozen=True)
class SessionPage(Page[Session]):
    """A page of sessions; `total_count` (all matches, ignoring the cursor) when it was asked for."""

    total_count: int | None = None


# -- validated filters ---------------------------------------------------------------------------


def _when(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime", details={"field": field})
    return ensure_utc(value, field)


def _range(low: datetime | None, high: datetime | None, names: tuple[str, str]) -> None:
    if low is not None and high is not None and low > high:
        raise ValidationError(f"{names[0]} is after {names[1]}", details={"field": names[0]})


E = TypeVar("E", bound=StrEnum)


def _order(kind: type[E], value: E | str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(o.value for o in kind)
        raise ValidationError(
            f"unknown order_by {value!r}; expected one of: {allowed}", details={"field": "order_by"}
        ) from None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """The filters of `search_sessions`, validated. `tags` must all be present on a session."""

    agent_id: str | None = None
    user_id: str | None = None
    statuses: frozenset[SessionStatus] | None = None
    providers: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_deleted: bool = False

    @classmethod
    def build(
        cls,
        *,
        agent_id: str | None = None,
        user_id: str | None = None,
        status: SessionStatus | str | Iterable[SessionStatus | str] | None = None,
        provider: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        include_deleted: bool = False,
    ) -> SessionFilter:
        if agent_id is not None and (not isinstance(agent_id, str) or not agent_id):
            raise ValidationError("agent_id must be a non-empty string", details={"field": "agent_id"})
        after = _when(created_after, "created_after")
        before = _when(created_before, "created_before")
        _range(after, before, ("created_after", "created_before"))
        return cls(
            agent_id=agent_id,
            user_id=None if user_id is None else validate_id(user_id, "user_id"),
            statuses=session_statuses(status),
            providers=strings(provider, "provider"),
            tags=strings(tags, "tags"),
            created_after=after,
            created_before=before,
            include_deleted=bool(include_deleted),
        )

    def matches(self, session: Session, providers: Iterable[str | None] = ()) -> bool:
        """Whether `session` passes; `providers` are the providers of its runs."""
        return (
            (self.include_deleted or session.deleted_at is None)
            and (self.agent_id is None or session.agent_id == self.agent_id)
            and (self.user_id is None or session.user_id == self.user_id)
            and (self.statuses is None or session.status in self.statuses)
            and (self.tags is None or set(self.tags) <= set(session.tags))
            and (self.created_after is None or session.created_at >= self.created_after)
            and (self.created_before is None or session.created_at <= self.created_before)
            and (self.providers is None or any(p in self.providers for p in providers))
        )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "statuses": None if self.statuses is None else sorted(self.statuses),
            "providers": self.providers,
            "tags": self.tags,
            "created_after": _iso(self.created_after),
            "created_before": _iso(self.created_before),
            "include_deleted": self.include_deleted,
        }


@dataclass(frozen=True, slots=True)
class RunFilter:
    """The filters of `search_runs` and of the usage and cost summaries, validated."""

    session_id: str | None = None
    agent_id: str | None = None
    providers: tuple[str, ...] | None = None
    statuses: frozenset[RunStatus] | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    min_tokens: int | None = None

    @classmethod
    def build(
        cls,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        provider: str | Iterable[str] | None = None,
        status: RunStatus | str | Iterable[RunStatus | str] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        min_tokens: int | None = None,
    ) -> RunFilter:
        for name, value in (("session_id", session_id), ("agent_id", agent_id)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValidationError(f"{name} must be a non-empty string", details={"field": name})
        if min_tokens is not None and (
            isinstance(min_tokens, bool)
            or not isinstance(min_tokens, int)
            or not 0 <= min_tokens <= MAX_INT64
        ):
            raise ValidationError(
                "min_tokens must be an integer from 0 to 2**63 - 1", details={"field": "min_tokens"}
            )
        after = _when(started_after, "started_after")
        before = _when(started_before, "started_before")
        _range(after, before, ("started_after", "started_before"))
        return cls(
            session_id=session_id,
            agent_id=agent_id,
            providers=strings(provider, "provider"),
            statuses=run_statuses(status),
            started_after=after,
            started_before=before,
            min_tokens=min_tokens,
        )

    def matches(self, run: Run, agent_id: str | None = None) -> bool:
        """Whether `run` passes; `agent_id` is the agent of its session."""
        return (
            (self.session_id is None or run.session_id == self.session_id)
            and (self.agent_id is None or agent_id == self.agent_id)
            and (self.providers is None or run.provider in self.providers)
            and (self.statuses is None or run.status in self.statuses)
            and (self.started_after is None or run.started_at >= self.started_after)
            and (self.started_before is None or run.started_at <= self.started_before)
            and (self.min_tokens is None or total_tokens(run.token_usage) >= self.min_tokens)
        )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "agent_id": self.agent_id,
            "providers": self.providers,
            "statuses": None if self.statuses is None else sorted(self.statuses),
            "started_after": _iso(self.started_after),
            "started_before": _iso(self.started_before),
            "min_tokens": self.min_tokens,
        }


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The filters of `search_events` and `count_events`, validated. An empty list matches nothing."""

    session_ids: tuple[str, ...] | None = None
    run_ids: tuple[str, ...] | None = None
    types: frozenset[EventType | str] | None = None
    providers: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    correlation_id: str | None = None

    @classmethod
    def build(
        cls,
        *,
        session_ids: str | Iterable[str] | None = None,
        run_ids: str | Iterable[str] | None = None,
        types: EventType | str | Iterable[EventType | str] | None = None,
        providers: str | Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        correlation_id: str | None = None,
    ) -> EventFilter:
        if correlation_id is not None and (not isinstance(correlation_id, str) or not correlation_id):
            raise ValidationError(
                "correlation_id must be a non-empty string", details={"field": "correlation_id"}
            )
        low = _when(since, "since")
        high = _when(until, "until")
        _range(low, high, ("since", "until"))
        return cls(
            session_ids=strings(session_ids, "session_ids"),
            run_ids=strings(run_ids, "run_ids"),
            types=None if types is None else event_types(types),
            providers=strings(providers, "providers"),
            since=low,
            until=high,
            correlation_id=correlation_id,
        )

    def matches(self, event: Event) -> bool:
        return (
            (self.session_ids is None or event.session_id in self.session_ids)
            and (self.run_ids is None or event.run_id in self.run_ids)
            and (self.types is None or event.type in self.types)
            and (self.providers is None or event.provider in self.providers)
            and (self.since is None or event.timestamp >= self.since)
            and (self.until is None or event.timestamp <= self.until)
            and (self.correlation_id is None or event.correlation_id == self.correlation_id)
        )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "session_ids": self.session_ids,
            "run_ids": self.run_ids,
            "types": None if self.types is None else sorted(self.types),
            "providers": self.providers,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "correlation_id": self.correlation_id,
        }


def query_limit(limit: int) -> int:
    """`limit` if it is an integer from 1 to 1,000, else `validation_error`."""
    return check_limit(limit, maximum=MAX_QUERY_LIMIT)


def session_order(value: SessionOrder | str) -> SessionOrder:
    return _order(SessionOrder, value)


def run_order(value: RunOrder | str) -> RunOrder:
    return _order(RunOrder, value)


def event_order(value: EventOrder | str) -> EventOrder:
    return _order(EventOrder, value)


# -- results -------------------------------------------------------------------------------------


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class TokenTotals(_Result):
    """Token counts summed over runs (see the module docstring for how a run's counts are read)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0


class UsageTotals(TokenTotals):
    run_count: int = 0


class SessionStats(_Result):
    """Facts about one session: its log, its runs, their tokens and its artifacts."""

    session_id: str
    event_count: int
    latest_sequence: int
    first_event_at: datetime | None
    last_event_at: datetime | None
    run_count: int
    status_counts: dict[RunStatus, int]
    token_totals: TokenTotals
    providers_used: list[str]
    artifact_count: int
    artifact_bytes: int


class UsageSummary(_Result):
    """Token totals of the matching runs: overall, by provider and by model ("unknown" when unset)."""

    total_input_tokens: int
    total_output_tokens: int
    total_tokens: int
    total_cache_read_tokens: int
    total_cache_creation_tokens: int
    run_count: int
    by_provider: dict[str, UsageTotals]
    by_model: dict[str, UsageTotals]

    def token_totals(self) -> TokenTotals:
        return TokenTotals(
            input_tokens=self.total_input_tokens,
            output_tokens=self.total_output_tokens,
            total_tokens=self.total_tokens,
            cache_read_tokens=self.total_cache_read_tokens,
            cache_creation_tokens=self.total_cache_creation_tokens,
        )


class ProviderCost(_Result):
    cost_usd: float = 0.0
    run_count: int = 0


class ModelCost(_Result):
    cost_usd: float = 0.0
    run_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class CostSummary(_Result):
    """Cost of the matching runs. A run's cost is its stored `cost_usd`, else its tokens priced with the
    pricing table; a run that can be neither is counted in `unmapped_runs` and adds nothing (no guess)."""

    total_cost_usd: float
    run_count: int
    priced_run_count: int
    unmapped_runs: int
    by_provider: dict[str, ProviderCost]
    by_model: dict[str, ModelCost]


# -- the port ------------------------------------------------------------------------------------


@runtime_checkable
class QueryAPI(Protocol):
    """Read-only questions across sessions. Get one with `agent_session_manager.query_api(store)`."""

    async def search_sessions(
        self,
        *,
        agent_id: str | None = None,
        user_id: str | None = None,
        status: SessionStatus | str | Iterable[SessionStatus | str] | None = None,
        provider: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        include_deleted: bool = False,
        order_by: SessionOrder | str = SessionOrder.UPDATED_AT_DESC,
        limit: int = DEFAULT_SESSION_LIMIT,
        cursor: str | None = None,
        total_count: bool = False,
    ) -> SessionPage:
        """Sessions matching every filter (`user_id`: their owner; `provider`: one of their runs used it;
        `tags`: all present);
        soft-deleted sessions only with `include_deleted`. `total_count=True` also counts all matches."""
        ...

    async def search_runs(
        self,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        provider: str | Iterable[str] | None = None,
        status: RunStatus | str | Iterable[RunStatus | str] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        min_tokens: int | None = None,
        order_by: RunOrder | str = RunOrder.STARTED_AT_DESC,
        limit: int = DEFAULT_RUN_LIMIT,
        cursor: str | None = None,
    ) -> Page[Run]:
        """Runs matching every filter; `token_usage_desc` orders by total tokens, largest first."""
        ...

    async def search_events(
        self,
        *,
        session_ids: str | Iterable[str] | None = None,
        run_ids: str | Iterable[str] | None = None,
        types: EventType | str | Iterable[EventType | str] | None = None,
        providers: str | Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        correlation_id: str | None = None,
        order_by: EventOrder | str = EventOrder.SEQUENCE_ASC,
        limit: int = DEFAULT_EVENT_LIMIT,
        cursor: str | None = None,
    ) -> Page[Event]:
        """Events of any sessions matching every filter."""
        ...

    async def count_events(
        self,
        *,
        session_ids: str | Iterable[str] | None = None,
        run_ids: str | Iterable[str] | None = None,
        types: EventType | str | Iterable[EventType | str] | None = None,
        providers: str | Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        correlation_id: str | None = None,
    ) -> int:
        """How many events `search_events` would list with the same filters."""
        ...

    async def get_session_stats(self, session_id: str) -> SessionStats:
        """Statistics of one session (`SessionNotFound` if it does not exist)."""
        ...

    async def get_usage_summary(
        self,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        provider: str | Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageSummary:
        """Token totals of the runs started in `[since, until]` that match the filters."""
        ...

    async def get_cost_summary(
        self,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        provider: str | Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        pricing: Any = None,
    ) -> CostSummary:
        """Cost of the matching runs; `pricing` overrides the default pricing table."""
        ...

    async def export_session(self, session_id: str) -> SessionExport:
        """The session with its runs, events in sequence order and artifact records."""
        ...


__all__ = [
    "DEFAULT_EVENT_LIMIT",
    "DEFAULT_RUN_LIMIT",
    "DEFAULT_SESSION_LIMIT",
    "MAX_QUERY_LIMIT",
    "CostSummary",
    "EventFilter",
    "EventOrder",
    "ModelCost",
    "ProviderCost",
    "QueryAPI",
    "RunFilter",
    "RunOrder",
    "SessionFilter",
    "SessionOrder",
    "SessionPage",
    "SessionStats",
    "TokenTotals",
    "UsageSummary",
    "UsageTotals",
]
