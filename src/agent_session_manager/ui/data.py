"""What each page of `asm ui` reads from the stores: the store calls only, no HTML.

Rendering lives in `ui.app` and the templates; keeping the reads here lets `bench ui` time a page against
exactly the store calls it makes. Every read goes through the public store and query APIs, so any backend
that passes the contract (memory, SQLite, PostgreSQL, a composite store) is browsable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..cli.common import run_cost
from ..composite import CompositeSessionStore
from ..core.models import ArtifactRecord, Event, EventType, Run, Session, SessionStatus
from ..core.pagination import MAX_PAGE_SIZE, all_items
from ..core.usage import TOKEN_KEYS, token_counts, total_tokens
from ..query import SessionOrder, query_api
from ..query.base import TokenTotals, UsageSummary

#: Sessions per page of the list.
SESSION_PAGE = 50
#: Events per page of a timeline.
EVENT_PAGE = 100


@dataclass(frozen=True)
class SessionFilters:
    """The filters of the sessions list, as parsed from the query string."""

    agent_id: str | None = None
    user_id: str | None = None
    statuses: tuple[SessionStatus, ...] = ()
    tags: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    order: SessionOrder = SessionOrder.UPDATED_AT_DESC
    cursor: str | None = None
    limit: int = SESSION_PAGE


@dataclass(frozen=True)
class SessionRow:
    """One line of the sessions list: the session and its totals."""

    session: Session
    event_count: int
    run_count: int
    tokens: int
    cost_usd: float | None


@dataclass(frozen=True)
class SessionList:
    rows: list[SessionRow]
    next_cursor: str | None


async def runs_of(store: CompositeSessionStore, session_id: str) -> list[Run]:
    """Every run of a session, oldest first (all pages)."""
    return await all_items(lambda cursor: store.list_runs(session_id, limit=MAX_PAGE_SIZE, cursor=cursor))


def total_cost(runs: Sequence[Run]) -> float | None:
    """The summed cost of `runs` (each: stored, else priced); None when no run could be priced."""
    costs = [c for c in map(run_cost, runs) if c is not None]
    return sum(costs) if costs else None


async def session_row(store: CompositeSessionStore, session: Session) -> SessionRow:
    """The totals of one listed session: two reads (its runs, its event count)."""
    runs, events = await asyncio.gather(
        runs_of(store, session.id), query_api(store).count_events(session_ids=session.id)
    )
    return SessionRow(
        session=session,
        event_count=events,
        run_count=len(runs),
        tokens=sum(total_tokens(r.token_usage) for r in runs),
        cost_usd=total_cost(runs),
    )


async def list_sessions(store: CompositeSessionStore, filters: SessionFilters) -> SessionList:
    """One page of the sessions list, filtered in the database, with each session's totals."""
    page = await query_api(store).search_sessions(
        agent_id=filters.agent_id,
        user_id=filters.user_id,
        status=filters.statuses or None,
        tags=filters.tags or None,
        created_after=filters.created_after,
        created_before=filters.created_before,
        order_by=filters.order,
        limit=filters.limit,
        cursor=filters.cursor,
    )
    rows = await asyncio.gather(*(session_row(store, s) for s in page.items))
    return SessionList(rows=list(rows), next_cursor=page.next_cursor)


async def sessions_since(store: CompositeSessionStore, after: datetime) -> list[Session]:
    """Sessions created after `after`, oldest first (what the live list adds)."""
    page = await query_api(store).search_sessions(
        created_after=after + timedelta(microseconds=1),
        order_by=SessionOrder.CREATED_AT_ASC,
        limit=SESSION_PAGE,
    )
    return page.items


@dataclass(frozen=True)
class TimelineQuery:
    """Which slice of a session's log a timeline page shows, filtered by run and types: the events after
    sequence `after` (forward), or the newest before `before` (backward; `before=None` with `latest`:
    the end of the log). Both are one indexed `get_events` read, whatever the size of the log."""

    after: int = 0
    before: int | None = None
    latest: bool = False
    run_id: str | None = None
    types: tuple[EventType | str, ...] = ()
    limit: int = EVENT_PAGE

    @property
    def backward(self) -> bool:
        return self.latest or self.before is not None


@dataclass(frozen=True)
class TimelinePage:
    """One page of a timeline, and whether matching events come before and after it."""

    events: list[Event]
    has_earlier: bool
    has_later: bool


@dataclass(frozen=True)
class SessionView:
    """Everything the session page shows."""

    session: Session
    event_count: int
    first_event_at: datetime | None
    last_event_at: datetime | None
    tokens: TokenTotals
    cost_usd: float | None
    runs: list[Run]
    artifacts: list[ArtifactRecord]
    timeline: TimelinePage
    run_costs: dict[str, float | None] = field(default_factory=dict)

    @property
    def duration(self) -> timedelta | None:
        if self.first_event_at is None or self.last_event_at is None:
            return None
        return self.last_event_at - self.first_event_at


async def artifacts_of(store: CompositeSessionStore, session_id: str) -> list[ArtifactRecord]:
    """Every artifact record of a session (all pages)."""
    return await all_items(
        lambda cursor: store.list_artifact_records(session_id, limit=MAX_PAGE_SIZE, cursor=cursor)
    )


async def session_view(store: CompositeSessionStore, session_id: str, query: TimelineQuery) -> SessionView:
    """The session, its totals, runs, artifact records and one page of its timeline.

    Every read is indexed or bounded by the session's runs and artifacts: the event count, the first and
    the newest event (for the duration), and the page (one `get_events` call with `limit + 1`, the extra
    event only saying whether there is a next page), so a page of a 100,000-event session costs what one
    of a 100-event session does, but for counting.
    """
    session = await store.get_session(session_id)
    count, first, last, runs, artifacts, page = await asyncio.gather(
        query_api(store).count_events(session_ids=session_id),
        store.get_events(session_id, limit=1),
        store.get_events(session_id, last=1),
        runs_of(store, session_id),
        artifacts_of(store, session_id),
        timeline_page(store, session_id, query),
    )
    return SessionView(
        session=session,
        event_count=count,
        first_event_at=first[0].timestamp if first else None,
        last_event_at=last[0].timestamp if last else None,
        tokens=token_totals(runs),
        cost_usd=total_cost(runs),
        runs=runs,
        artifacts=artifacts,
        timeline=page,
        run_costs={r.id: run_cost(r) for r in runs},
    )


def token_totals(runs: Sequence[Run]) -> TokenTotals:
    """The token counters of `runs`, summed (each run read as `core.usage` says)."""
    sums = dict.fromkeys(TOKEN_KEYS, 0)
    for run in runs:
        for key, value in token_counts(run.token_usage).items():
            sums[key] += value
    return TokenTotals(**sums)


async def timeline_page(store: CompositeSessionStore, session_id: str, query: TimelineQuery) -> TimelinePage:
    """One page of matching events: one store call for `limit + 1` events, the extra one telling
    whether there is a next page in the direction read (the other direction is known from the bound)."""
    filters: dict[str, Any] = {"run_id": query.run_id, "types": query.types or None}
    if query.backward:
        events = await store.get_events(session_id, before=query.before, last=query.limit + 1, **filters)
        return TimelinePage(
            events=events[-query.limit :],
            has_earlier=len(events) > query.limit,
            has_later=query.before is not None,
        )
    events = await store.get_events(session_id, after=query.after, limit=query.limit + 1, **filters)
    return TimelinePage(
        events=events[: query.limit], has_earlier=query.after > 0, has_later=len(events) > query.limit
    )


@dataclass(frozen=True)
class DayUsage:
    day: datetime
    tokens: int
    cost_usd: float
    runs: int


@dataclass(frozen=True)
class UsageView:
    """The usage page: totals per day, per provider and model, and per agent."""

    since: datetime
    until: datetime
    total: UsageSummary
    total_cost: float
    unmapped_runs: int
    days: list[DayUsage]
    by_model: dict[str, tuple[int, float]]
    by_agent: dict[str, tuple[int, float]]
    #: How many of the most recently updated sessions the agents were collected from.
    agents_scanned: int


#: Agents of the usage page: read from this many most recently updated sessions.
AGENT_SCAN = MAX_PAGE_SIZE
#: At most this many agents get a row of their own.
MAX_AGENTS = 20


async def usage_view(
    store: CompositeSessionStore, since: datetime, until: datetime, agent_id: str | None
) -> UsageView:
    """Token and cost totals from the query API, per UTC day from `since` to `until`, per model and
    per agent (agents found among the `AGENT_SCAN` most recently updated sessions)."""
    query = query_api(store)
    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    bounds: list[tuple[datetime, datetime]] = []
    day = start
    while day <= until:
        bounds.append((max(day, since), min(day + timedelta(days=1) - timedelta(microseconds=1), until)))
        day += timedelta(days=1)

    async def one_day(low: datetime, high: datetime) -> DayUsage:
        usage, cost = await asyncio.gather(
            query.get_usage_summary(agent_id=agent_id, since=low, until=high),
            query.get_cost_summary(agent_id=agent_id, since=low, until=high),
        )
        return DayUsage(low, usage.total_tokens, cost.total_cost_usd, usage.run_count)

    total, cost, recent = await asyncio.gather(
        query.get_usage_summary(agent_id=agent_id, since=since, until=until),
        query.get_cost_summary(agent_id=agent_id, since=since, until=until),
        query.search_sessions(agent_id=agent_id, limit=AGENT_SCAN),
    )
    days = await asyncio.gather(*(one_day(low, high) for low, high in bounds))
    agents = sorted({s.agent_id for s in recent.items})[:MAX_AGENTS]

    async def one_agent(agent: str) -> tuple[str, tuple[int, float]]:
        usage, money = await asyncio.gather(
            query.get_usage_summary(agent_id=agent, since=since, until=until),
            query.get_cost_summary(agent_id=agent, since=since, until=until),
        )
        return agent, (usage.total_tokens, money.total_cost_usd)

    by_agent = dict(await asyncio.gather(*(one_agent(a) for a in agents)))
    by_model = {
        name: (totals.total_tokens, cost.by_model[name].cost_usd if name in cost.by_model else 0.0)
        for name, totals in total.by_model.items()
    }
    return UsageView(
        since=since,
        until=until,
        total=total,
        total_cost=cost.total_cost_usd,
        unmapped_runs=cost.unmapped_runs,
        days=list(days),
        by_model=by_model,
        by_agent={a: v for a, v in by_agent.items() if v[0] or v[1]},
        agents_scanned=len(recent.items),
    )
