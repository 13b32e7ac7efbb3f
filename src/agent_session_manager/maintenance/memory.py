"""`MemoryMaintenance`: retention and repair for an `InMemorySessionStore`.

The algorithm is `BatchedMaintenance`'s; this module only finds and removes rows in the store's dicts,
through the store's `MemoryView`. Each primitive runs without awaiting, so on the store's event loop
every batch is atomic, and the engine yields between batches so appends interleave.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from ..artifacts.base import ArtifactStore
from ..core.models import ArtifactRecord, Event, EventType, Session
from ..sessions.memory import InMemorySessionStore, MemoryView, detached
from .base import HealthIssue
from .engine import BatchedMaintenance, EventKey, Expiry, Scope, Take, counter_behind
from .policy import is_protected


def in_scope(session: Session, scope: Scope) -> bool:
    """Whether a policy with `scope` may soft-delete or prune `session`."""
    purged = (
        scope.purge_before is not None
        and session.deleted_at is not None
        and session.deleted_at < scope.purge_before
    )
    return (
        session.status not in scope.exempt_statuses
        and not (scope.exempt_tags & set(session.tags))
        and not purged
    )


def expired(session: Session, expiry: Expiry, scope: Scope) -> bool:
    """Whether `session` is live, in scope, and old enough for `expiry`."""
    if session.deleted_at is not None or not in_scope(session, scope):
        return False
    too_old = expiry.created_before is not None and session.created_at < expiry.created_before
    ended = (
        expiry.ended_before is not None
        and session.status in expiry.ended_statuses
        and session.updated_at < expiry.ended_before
    )
    return too_old or ended


def _prunable(event: Event, types: frozenset[EventType] | None) -> bool:
    return not is_protected(event.type) and (types is None or event.type in types)


class MemoryMaintenance(BatchedMaintenance):
    """`Maintenance` over an `InMemorySessionStore` (and, optionally, an `ArtifactStore` for blobs)."""

    def __init__(
        self,
        store: InMemorySessionStore,
        artifacts: ArtifactStore | None = None,
        *,
        unregistered_blob_grace: timedelta | None = None,
    ) -> None:
        super().__init__(store, artifacts, unregistered_blob_grace=unregistered_blob_grace)
        self.view = MemoryView(store)

    async def _expired_sessions(
        self, expiry: Expiry, scope: Scope, after: str | None, limit: int
    ) -> list[str]:
        found = [
            s.id
            for s in self.view.sessions()
            if expired(s, expiry, scope) and (after is None or s.id > after)
        ]
        return sorted(found)[:limit]

    async def _mark_deleted(self, ids: Sequence[str], expiry: Expiry, scope: Scope, now: datetime) -> int:
        marked = 0
        for session_id in ids:
            session = self.view.find_session(session_id)
            if session is not None and expired(session, expiry, scope):
                self.view.replace_session(session.model_copy(update={"deleted_at": now}))
                marked += 1
        return marked

    async def _purgeable_sessions(self, before: datetime, after: str | None, limit: int) -> list[str]:
        found = [
            s.id
            for s in self.view.sessions()
            if s.deleted_at is not None and s.deleted_at < before and (after is None or s.id > after)
        ]
        return sorted(found)[:limit]

    async def _event_counts(
        self, more_than: int, scope: Scope, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        counters = self.view.counters()
        found = sorted(
            s.id
            for s in self.view.sessions()
            if (after is None or s.id > after) and counters.get(s.id, 0) > more_than and in_scope(s, scope)
        )
        return [(sid, len(self.view.events_of(sid))) for sid in found[:limit]]

    async def _session_event_count(self, session_id: str) -> int:
        return len(self.view.events_of(session_id))

    async def _count_events(self, purge_before: datetime | None) -> int:
        def purged(session_id: str) -> bool:
            session = self.view.find_session(session_id)
            return (
                purge_before is not None
                and session is not None
                and session.deleted_at is not None
                and session.deleted_at < purge_before
            )

        return sum(len(self.view.events_of(sid)) for sid in self.view.event_session_ids() if not purged(sid))

    def _scoped_events(self, scope: Scope) -> list[Event]:
        """Events no exempt or purge-due session owns (events whose session is gone included)."""
        found = []
        for session_id in self.view.event_session_ids():
            session = self.view.find_session(session_id)
            if session is None or in_scope(session, scope):
                found.extend(self.view.events_of(session_id))
        return found

    async def _count_prunable(self, scope: Scope) -> int:
        return sum(1 for e in self._scoped_events(scope) if _prunable(e, None))

    async def _prunable_counts(self, session_ids: Sequence[str]) -> dict[str, int]:
        return {sid: sum(1 for e in self.view.events_of(sid) if _prunable(e, None)) for sid in session_ids}

    def _in_sessions(self, requests: Sequence[Take], types: frozenset[EventType] | None) -> list[Event]:
        """The stored events (not copies) `_oldest_in_sessions` describes."""
        found: list[Event] = []
        for request in requests:
            events = self.view.events_of(request.session_id)
            start = bisect.bisect_right(events, request.after, key=lambda e: e.sequence_number or 0)
            chosen = (e for e in itertools.islice(events, start, None) if _prunable(e, types))
            found.extend(itertools.islice(chosen, request.count))
        return found

    async def _oldest_in_sessions(
        self, requests: Sequence[Take], types: frozenset[EventType] | None
    ) -> list[Event]:
        return [detached(e) for e in self._in_sessions(requests, types)]

    async def _delete_oldest_in_sessions(
        self, requests: Sequence[Take], types: frozenset[EventType] | None
    ) -> list[tuple[str, int]]:
        events = self._in_sessions(requests, types)
        await self._delete_events(events)
        return [(e.session_id, e.sequence_number or 0) for e in events]

    def _oldest(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int
    ) -> list[Event]:
        """The stored events (not copies) `_oldest_events` describes."""
        candidates = (
            e
            for e in self._scoped_events(scope)
            if _prunable(e, types) and (after is None or (e.timestamp, e.id) > after)
        )
        return heapq.nsmallest(limit, candidates, key=lambda e: (e.timestamp, e.id))

    async def _oldest_events(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int
    ) -> list[Event]:
        return [detached(e) for e in self._oldest(scope, types, after, limit)]

    async def _delete_oldest(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int
    ) -> list[EventKey]:
        events = self._oldest(scope, types, after, limit)
        await self._delete_events(events)
        return [(e.timestamp, e.id) for e in events]

    async def _delete_events(self, events: Sequence[Event]) -> int:
        by_session: dict[str, set[str]] = {}
        for event in events:
            by_session.setdefault(event.session_id, set()).add(event.id)
        return sum(self.view.remove_events(sid, ids) for sid, ids in by_session.items())

    async def _orphan_artifact_records(self, after: str | None, limit: int) -> list[ArtifactRecord]:
        live = {s.id for s in self.view.sessions()}
        found = [
            r
            for r in self.view.artifacts()
            if r.session_id is not None and r.session_id not in live and (after is None or r.key > after)
        ]
        return [detached(r) for r in sorted(found, key=lambda r: r.key)[:limit]]

    async def _orphan_counters(self, after: str | None, limit: int) -> list[str]:
        live = {s.id for s in self.view.sessions()}
        found = [sid for sid in self.view.counters() if sid not in live and (after is None or sid > after)]
        return sorted(found)[:limit]

    async def _delete_counters(self, session_ids: Sequence[str]) -> int:
        live = {s.id for s in self.view.sessions()}
        doomed = [sid for sid in session_ids if sid not in live and sid in self.view.counters()]
        for sid in doomed:
            self.view.drop_counter(sid)
        return len(doomed)

    async def health_check(self) -> list[HealthIssue]:
        live = {s.id for s in self.view.sessions()}
        issues: list[HealthIssue] = []
        stray_events = sum(
            len(self.view.events_of(sid)) for sid in self.view.event_session_ids() if sid not in live
        )
        stray_runs = sum(1 for r in self.view.runs() if r.session_id not in live)
        stray_artifacts = sum(
            1 for r in self.view.artifacts() if r.session_id is not None and r.session_id not in live
        )
        stray_counters = sum(1 for sid in self.view.counters() if sid not in live)
        for kind, count, what in (
            ("events_without_session", stray_events, "events reference"),
            ("runs_without_session", stray_runs, "runs reference"),
            ("artifacts_without_session", stray_artifacts, "artifact records reference"),
            ("counter_without_session", stray_counters, "sequence counters belong to"),
        ):
            if count:
                issues.append(HealthIssue(kind=kind, count=count, message=f"{count} {what} missing sessions"))
        counters = self.view.counters()
        for sid in sorted(self.view.event_session_ids()):
            highest = max((e.sequence_number or 0 for e in self.view.events_of(sid)), default=0)
            if highest > counters.get(sid, 0):
                issues.append(counter_behind(sid, highest, counters.get(sid, 0)))
        return issues
