"""The query API written once: arguments, validation, orders, cursors and summaries.

`KeysetQueryAPI` implements every public method of `QueryAPI`; a backend supplies primitives that return
rows already filtered and ordered by the keyset (`limit` of them, which is one more than the page, so the
engine knows whether there is a next page), counts, grouped token sums, and session statistics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any, TypeVar

from ..core.models import Event, EventType, Run, RunStatus, Session, SessionStatus
from ..core.pagination import Page
from ..sessions.base import SessionStore
from .base import (
    DEFAULT_EVENT_LIMIT,
    DEFAULT_RUN_LIMIT,
    DEFAULT_SESSION_LIMIT,
    CostSummary,
    EventFilter,
    EventOrder,
    RunFilter,
    RunOrder,
    SessionFilter,
    SessionOrder,
    SessionPage,
    SessionStats,
    UsageSummary,
    event_order,
    query_limit,
    run_order,
    session_order,
)
from .export import SessionExport, export_session
from .keyset import EVENT_KEYSETS, RUN_KEYSETS, SESSION_KEYSETS, Keyset, SortKey, next_page, sort_key
from .summary import CostTotals, StoredCostRow, UnpricedRun, UsageRow, pricing_table, usage_summary

T = TypeVar("T")


class KeysetQueryAPI(ABC):
    """`QueryAPI` for any backend that implements the primitives below."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    # -- primitives -----------------------------------------------------------------------------

    @abstractmethod
    async def _sessions(
        self, filters: SessionFilter, keyset: Keyset, after: SortKey | None, limit: int
    ) -> list[Session]:
        """Up to `limit` matching sessions in keyset order, after the position `after`."""

    @abstractmethod
    async def _count_sessions(self, filters: SessionFilter) -> int: ...

    @abstractmethod
    async def _runs(self, filters: RunFilter, keyset: Keyset, after: SortKey | None, limit: int) -> list[Run]:
        """Up to `limit` matching runs in keyset order, after the position `after`."""

    @abstractmethod
    async def _events(
        self, filters: EventFilter, keyset: Keyset, after: SortKey | None, limit: int
    ) -> list[Event]:
        """Up to `limit` matching events in keyset order, after the position `after`."""

    @abstractmethod
    async def _count_events(self, filters: EventFilter) -> int: ...

    @abstractmethod
    async def _usage_rows(self, filters: RunFilter) -> list[UsageRow]:
        """Token counts of the matching runs, per run or per (provider, model) group."""

    @abstractmethod
    async def _stored_costs(self, filters: RunFilter) -> list[StoredCostRow]:
        """Stored `cost_usd` of the matching runs that have one, per run or per (provider, model)."""

    @abstractmethod
    def _unpriced_runs(self, filters: RunFilter) -> AsyncIterator[UnpricedRun]:
        """The matching runs without a stored cost, streamed."""

    @abstractmethod
    async def get_session_stats(self, session_id: str) -> SessionStats: ...

    # -- the port -------------------------------------------------------------------------------

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
        filters = SessionFilter.build(
            agent_id=agent_id,
            user_id=user_id,
            status=status,
            provider=provider,
            tags=tags,
            created_after=created_after,
            created_before=created_before,
            include_deleted=include_deleted,
        )
        keyset = SESSION_KEYSETS[session_order(order_by)]
        page: Page[Session] = await self._page(self._sessions, filters, keyset, limit, cursor)
        total = await self._count_sessions(filters) if total_count else None
        return SessionPage(page.items, page.next_cursor, total)

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
        filters = RunFilter.build(
            session_id=session_id,
            agent_id=agent_id,
            provider=provider,
            status=status,
            started_after=started_after,
            started_before=started_before,
            min_tokens=min_tokens,
        )
        return await self._page(self._runs, filters, RUN_KEYSETS[run_order(order_by)], limit, cursor)

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
        filters = EventFilter.build(
            session_ids=session_ids,
            run_ids=run_ids,
            types=types,
            providers=providers,
            since=since,
            until=until,
            correlation_id=correlation_id,
        )
        return await self._page(self._events, filters, EVENT_KEYSETS[event_order(order_by)], limit, cursor)

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
        filters = EventFilter.build(
            session_ids=session_ids,
            run_ids=run_ids,
            types=types,
            providers=providers,
            since=since,
            until=until,
            correlation_id=correlation_id,
        )
        return await self._count_events(filters)

    async def get_usage_summary(
        self,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        provider: str | Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageSummary:
        filters = RunFilter.build(
            session_id=session_id,
            agent_id=agent_id,
            provider=provider,
            started_after=since,
            started_before=until,
        )
        return usage_summary(await self._usage_rows(filters))

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
        table = pricing_table(pricing)
        filters = RunFilter.build(
            session_id=session_id,
            agent_id=agent_id,
            provider=provider,
            started_after=since,
            started_before=until,
        )
        totals = CostTotals(table)
        for row in await self._stored_costs(filters):
            totals.add_stored(row)
        async for run in self._unpriced_runs(filters):
            totals.add_unpriced(run)
        return totals.result()

    async def export_session(self, session_id: str) -> SessionExport:
        return await export_session(self.store, session_id)

    # -- paging ---------------------------------------------------------------------------------

    async def _page(
        self, fetch: Any, filters: Any, keyset: Keyset, limit: int, cursor: str | None
    ) -> Page[T]:
        query_limit(limit)
        fingerprint = filters.fingerprint()
        after = None if cursor is None else keyset.decode(cursor, fingerprint)
        rows = await fetch(filters, keyset, after, limit + 1)
        return next_page(rows, sort_key(keyset), keyset, fingerprint, limit)
