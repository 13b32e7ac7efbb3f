"""`MemoryQueryAPI`: the query API over an `InMemorySessionStore`, for tests, demos and ephemeral agents.

Filters, orders and cursors are the ones every backend shares (`query.base`, `query.keyset`); here they
run over the store's contents, read through the store's own `MemoryView`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from ..core.models import Event, Run, RunStatus, Session
from ..sessions.memory import InMemorySessionStore, MemoryView, detached
from .base import EventFilter, RunFilter, SessionFilter, SessionStats
from .engine import KeysetQueryAPI
from .keyset import Keyset, SortKey, ordered_after
from .summary import StoredCostRow, UnpricedRun, UsageRow, usage_summary


class MemoryQueryAPI(KeysetQueryAPI):
    """`QueryAPI` over an `InMemorySessionStore`."""

    def __init__(self, store: InMemorySessionStore) -> None:
        super().__init__(store)
        self.view = MemoryView(store)

    async def _sessions(
        self, filters: SessionFilter, keyset: Keyset, after: SortKey | None, limit: int
    ) -> list[Session]:
        return [detached(s) for s in ordered_after(self._matching_sessions(filters), keyset, after, limit)]

    async def _count_sessions(self, filters: SessionFilter) -> int:
        return len(self._matching_sessions(filters))

    async def _runs(self, filters: RunFilter, keyset: Keyset, after: SortKey | None, limit: int) -> list[Run]:
        return [detached(r) for r in ordered_after(self._matching_runs(filters), keyset, after, limit)]

    async def _events(
        self, filters: EventFilter, keyset: Keyset, after: SortKey | None, limit: int
    ) -> list[Event]:
        return [detached(e) for e in ordered_after(self._matching_events(filters), keyset, after, limit)]

    async def _count_events(self, filters: EventFilter) -> int:
        return len(self._matching_events(filters))

    async def _usage_rows(self, filters: RunFilter) -> list[UsageRow]:
        return [UsageRow.of(run) for run in self._matching_runs(filters)]

    async def _stored_costs(self, filters: RunFilter) -> list[StoredCostRow]:
        return [StoredCostRow.of(run) for run in self._matching_runs(filters) if run.cost_usd is not None]

    async def _unpriced_runs(self, filters: RunFilter) -> AsyncIterator[UnpricedRun]:
        for run in self._matching_runs(filters):
            if run.cost_usd is None:
                yield UnpricedRun.of(run)

    async def get_session_stats(self, session_id: str) -> SessionStats:
        self.view.session(session_id)
        events = self.view.events_of(session_id)
        runs = self.view.runs_of(session_id)
        artifacts = self.view.artifacts_of(session_id)
        usage = usage_summary(UsageRow.of(run) for run in runs)
        statuses: dict[RunStatus, int] = {}
        for run in runs:
            statuses[run.status] = statuses.get(run.status, 0) + 1
        providers = {run.provider for run in runs} | {event.provider for event in events}
        return SessionStats(
            session_id=session_id,
            event_count=len(events),
            latest_sequence=self.view.counters().get(session_id, 0),
            first_event_at=min((e.timestamp for e in events), default=None),
            last_event_at=max((e.timestamp for e in events), default=None),
            run_count=len(runs),
            status_counts=statuses,
            token_totals=usage.token_totals(),
            providers_used=sorted(p for p in providers if p is not None),
            artifact_count=len(artifacts),
            artifact_bytes=sum(a.byte_size for a in artifacts),
        )

    # -- filtering ------------------------------------------------------------------------------

    def _matching_sessions(self, filters: SessionFilter) -> list[Session]:
        return [
            s
            for s in self.view.sessions()
            if filters.matches(s, (r.provider for r in self.view.runs_of(s.id)))
        ]

    def _matching_runs(self, filters: RunFilter) -> list[Run]:
        candidates = self.view.runs_of(filters.session_id) if filters.session_id else self.view.runs()
        agents = {s.id: s.agent_id for s in self.view.sessions()} if filters.agent_id else {}
        return [run for run in candidates if filters.matches(run, agents.get(run.session_id))]

    def _matching_events(self, filters: EventFilter) -> list[Event]:
        if filters.session_ids is None:
            candidates: Iterable[Event] = self.view.events()
        else:
            candidates = (e for sid in filters.session_ids for e in self.view.events_of(sid))
        return [event for event in candidates if filters.matches(event)]
