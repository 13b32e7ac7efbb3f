"""The maintenance algorithm, written once: steps, batches, dry runs, archives and the report.

Backends (memory, SQL) supply a few primitives that find and remove rows: expired sessions, event counts,
the oldest prunable events after a keyset position, orphan rows. This class decides what to do with them.
Every batch holds at most `policy.batch_size` rows and commits on its own (a transaction per batch on SQL),
and the loop yields to the event loop between batches, so writers appending to live sessions meanwhile are
never held up for long. Removing a session for good goes through the store's own `delete_session` (one
atomic cascade); its artifact blobs are deleted after it, so a crash in between leaves an orphan blob,
never a record that points at nothing.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..artifacts.base import ArtifactStore
from ..artifacts.registry import ArtifactRegistry
from ..core.clock import ensure_utc, utc_now
from ..core.digest import sha256_hex
from ..core.errors import ASMError, NotFound, ValidationError
from ..core.models import TERMINAL_SESSION_STATUSES, ArtifactRecord, Event, EventType, SessionStatus
from ..core.pagination import MAX_PAGE_SIZE, all_items, pages
from ..query.export import event_line
from ..sessions.base import SessionStore
from .base import (
    STEPS,
    HealthIssue,
    MaintenanceProgress,
    MaintenanceReport,
    ProgressCallback,
    Step,
    StepError,
)
from .policy import PROTECTED_EVENT_TYPES, RetentionPolicy

ARCHIVE_CONTENT_TYPE = "application/x-ndjson"
#: The keyset position of an event across sessions: `(timestamp, id)`.
EventKey = tuple[datetime, str]


@dataclass(frozen=True)
class Scope:
    """The sessions a policy lets maintenance touch (soft delete, pruning)."""

    exempt_statuses: frozenset[SessionStatus]
    exempt_tags: frozenset[str]
    #: Sessions soft-deleted before this are due for hard delete; pruning leaves them to it.
    purge_before: datetime | None


@dataclass(frozen=True)
class Expiry:
    """When a session is old enough to be soft-deleted."""

    created_before: datetime | None
    ended_before: datetime | None
    ended_statuses: frozenset[SessionStatus] = TERMINAL_SESSION_STATUSES

    @property
    def active(self) -> bool:
        return self.created_before is not None or self.ended_before is not None


@dataclass
class Tally:
    """Counts that grow as batches commit, so a step that fails midway still reports its work.

    With a `listener`, every change (and every new step) is reported as `MaintenanceProgress`.
    """

    values: dict[str, int] = field(default_factory=dict)
    listener: ProgressCallback | None = None
    step: Step = STEPS[0]

    def begin(self, step: Step) -> None:
        self.step = step
        self._report()

    def add(self, name: str, count: int) -> None:
        self.values[name] = self.values.get(name, 0) + count
        self._report()

    def _report(self) -> None:
        if self.listener is not None:
            number = STEPS.index(self.step) + 1
            self.listener(MaintenanceProgress(self.step, number, len(STEPS), dict(self.values)))


def _expired(expires_at: Any, now: datetime) -> bool:
    """Whether a state document's `expires_at` is a time-zone-aware ISO-8601 time at or before `now`."""
    if not isinstance(expires_at, str):
        return False
    try:
        when = datetime.fromisoformat(expires_at)
    except ValueError:
        return False
    return when.tzinfo is not None and when <= now


def _days_before(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


@dataclass(frozen=True)
class Take:
    """Part of a pruning batch: up to `count` of a session's oldest events after sequence `after`."""

    session_id: str
    count: int
    after: int


class BatchedMaintenance(ABC):
    """`Maintenance` for any backend that implements the primitives below."""

    #: How many sessions one pruning statement may serve.
    sessions_per_statement = MAX_PAGE_SIZE

    def __init__(
        self,
        store: SessionStore,
        artifacts: ArtifactStore | None = None,
        *,
        unregistered_blob_grace: timedelta | None = None,
    ) -> None:
        if unregistered_blob_grace is not None and (
            not isinstance(unregistered_blob_grace, timedelta) or unregistered_blob_grace < timedelta(0)
        ):
            raise ValidationError(
                "unregistered_blob_grace must be a timedelta >= 0 (or None)",
                details={"field": "unregistered_blob_grace"},
            )
        if unregistered_blob_grace is not None and artifacts is None:
            raise ValidationError(
                "unregistered_blob_grace needs the artifact store to sweep", details={"field": "artifacts"}
            )
        self.store = store
        self.artifacts = artifacts
        self.unregistered_blob_grace = unregistered_blob_grace

    # -- primitives -----------------------------------------------------------------------------

    @abstractmethod
    async def _expired_sessions(
        self, expiry: Expiry, scope: Scope, after: str | None, limit: int
    ) -> list[str]:
        """Ids (ascending, after `after`) of live sessions that `expiry` and `scope` let us soft-delete."""

    @abstractmethod
    async def _mark_deleted(self, ids: Sequence[str], expiry: Expiry, scope: Scope, now: datetime) -> int:
        """Set `deleted_at = now` on those of `ids` that still qualify, in one transaction."""

    @abstractmethod
    async def _purgeable_sessions(self, before: datetime, after: str | None, limit: int) -> list[str]:
        """Ids (ascending, after `after`) of sessions soft-deleted before `before`."""

    @abstractmethod
    async def _event_counts(
        self, more_than: int, scope: Scope, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        """`(session id, event count)` of sessions in `scope` that may hold more than `more_than` events
        (ascending ids after `after`; the count is exact, the candidates may include smaller sessions)."""

    @abstractmethod
    async def _session_event_count(self, session_id: str) -> int:
        """The number of events one session holds now."""

    @abstractmethod
    async def _count_events(self, purge_before: datetime | None) -> int:
        """Every event of the store, except those of sessions soft-deleted before `purge_before` (hard
        delete removes them first, so a dry run must not count them either)."""

    @abstractmethod
    async def _count_prunable(self, scope: Scope) -> int:
        """Events of unprotected types that no session outside `scope` owns (those of sessions that are
        gone count: store-wide pruning may take them)."""

    @abstractmethod
    async def _prunable_counts(self, session_ids: Sequence[str]) -> dict[str, int]:
        """Events of unprotected types in each of these sessions (missing: none)."""

    @abstractmethod
    async def _oldest_in_sessions(
        self, requests: Sequence[Take], types: frozenset[EventType] | None
    ) -> list[Event]:
        """For each request, the session's `count` oldest events after sequence `after` whose type is in
        `types` (None: any unprotected type), in one statement."""

    @abstractmethod
    async def _delete_oldest_in_sessions(
        self, requests: Sequence[Take], types: frozenset[EventType] | None
    ) -> list[tuple[str, int]]:
        """Delete what `_oldest_in_sessions` would return, in one statement; `(session, sequence)` of
        each event deleted."""

    @abstractmethod
    async def _oldest_events(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int
    ) -> list[Event]:
        """The `limit` oldest events by `(timestamp, id)` after `after` that no session outside `scope`
        owns, whose type is in `types` (None: any unprotected type)."""

    @abstractmethod
    async def _delete_oldest(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int
    ) -> list[EventKey]:
        """Delete what `_oldest_events` would return, in one statement; the positions deleted."""

    @abstractmethod
    async def _delete_events(self, events: Sequence[Event]) -> int:
        """Delete these events in one transaction; returns how many were still there."""

    @abstractmethod
    async def _orphan_artifact_records(self, after: str | None, limit: int) -> list[ArtifactRecord]:
        """Artifact records (ascending key after `after`) whose session no longer exists."""

    @abstractmethod
    async def _orphan_counters(self, after: str | None, limit: int) -> list[str]:
        """Session ids (ascending after `after`) of sequence counters without a session."""

    @abstractmethod
    async def _delete_counters(self, session_ids: Sequence[str]) -> int:
        """Delete those counters whose session still does not exist, in one transaction."""

    @abstractmethod
    async def health_check(self) -> list[HealthIssue]: ...

    # -- the port -------------------------------------------------------------------------------

    async def execute(
        self,
        policy: RetentionPolicy,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> MaintenanceReport:
        policy = _checked(policy)
        when = utc_now() if now is None else ensure_utc(now, "now")
        started = time.perf_counter()
        tally = Tally(listener=on_progress)
        errors: list[StepError] = []
        steps: dict[Step, Callable[[], Awaitable[None]]] = {
            "soft_delete": lambda: self._soft_delete(policy, when, dry_run, tally),
            "hard_delete": lambda: self._hard_delete(policy, when, dry_run, tally),
            "prune": lambda: self._prune(policy, when, dry_run, tally),
            "orphans": lambda: self._orphans(policy.batch_size, when, dry_run, tally),
            "expired_states": lambda: self._expire_states(policy.batch_size, when, dry_run, tally),
        }
        for name in STEPS:
            step = steps[name]
            tally.begin(name)
            try:
                await step()
            except ASMError as exc:
                errors.append(StepError(step=name, code=exc.code, message=exc.message))
            except Exception as exc:
                errors.append(StepError(step=name, code="internal_error", message=type(exc).__name__))
        return MaintenanceReport(
            dry_run=dry_run,
            duration_ms=(time.perf_counter() - started) * 1000,
            errors=errors,
            **tally.values,
        )

    async def soft_delete_expired_sessions(
        self, policy: RetentionPolicy, *, dry_run: bool = False, now: datetime | None = None
    ) -> int:
        tally = Tally()
        when = utc_now() if now is None else ensure_utc(now, "now")
        await self._soft_delete(_checked(policy), when, dry_run, tally)
        return tally.values.get("sessions_soft_deleted", 0)

    async def hard_delete_expired_sessions(
        self, policy: RetentionPolicy, *, dry_run: bool = False, now: datetime | None = None
    ) -> int:
        tally = Tally()
        when = utc_now() if now is None else ensure_utc(now, "now")
        await self._hard_delete(_checked(policy), when, dry_run, tally)
        return tally.values.get("sessions_hard_deleted", 0)

    async def prune_session_events(
        self, session_id: str, policy: RetentionPolicy, *, dry_run: bool = False
    ) -> int:
        policy = _checked(policy)
        await self.store.get_session(session_id)
        cap = policy.max_events_per_session
        if cap is None:
            return 0
        count = await self._session_event_count(session_id)
        tally = Tally()
        if count > cap:
            await self._prune_sessions([(session_id, count - cap)], policy, dry_run, tally)
        return tally.values.get("events_pruned", 0)

    async def clean_orphaned_artifacts(self, *, dry_run: bool = False) -> int:
        tally = Tally()
        await self._orphan_artifacts(MAX_PAGE_SIZE, dry_run, tally)
        return tally.values.get("artifacts_cleaned", 0)

    # -- steps ----------------------------------------------------------------------------------

    async def _soft_delete(self, policy: RetentionPolicy, now: datetime, dry_run: bool, tally: Tally) -> None:
        expiry = Expiry(
            created_before=_days_before(now, policy.max_session_age_days),
            ended_before=_days_before(now, policy.max_completed_session_age_days),
        )
        if not expiry.active:
            return
        scope = _scope(policy, now)
        after: str | None = None
        while ids := await self._expired_sessions(expiry, scope, after, policy.batch_size):
            count = len(ids) if dry_run else await self._mark_deleted(ids, expiry, scope, now)
            tally.add("sessions_soft_deleted", count)
            after = ids[-1]
            await asyncio.sleep(0)

    async def _hard_delete(self, policy: RetentionPolicy, now: datetime, dry_run: bool, tally: Tally) -> None:
        before = _days_before(now, policy.hard_delete_after_days)
        if before is None:
            return
        after: str | None = None
        while ids := await self._purgeable_sessions(before, after, policy.batch_size):
            for session_id in ids:
                records = await self._records_of(session_id)
                if not dry_run:
                    await self.store.delete_session(session_id)
                tally.add("sessions_hard_deleted", 1)
                for record in records:
                    await self._delete_blob(record, dry_run, tally)
            after = ids[-1]
            await asyncio.sleep(0)

    async def _prune(self, policy: RetentionPolicy, now: datetime, dry_run: bool, tally: Tally) -> None:
        scope = _scope(policy, now)
        cap = policy.max_events_per_session
        if cap is not None:
            after: str | None = None
            while counts := await self._event_counts(cap, scope, after, policy.batch_size):
                over = [(session_id, count - cap) for session_id, count in counts if count > cap]
                await self._prune_sessions(over, policy, dry_run, tally)
                after = counts[-1][0]
        total_cap = policy.max_total_events
        if total_cap is None:
            return
        pruned = tally.values.get("events_pruned", 0)
        total = await self._count_events(scope.purge_before)
        excess = total - total_cap - (pruned if dry_run else 0)
        if excess <= 0:
            return
        if dry_run:
            prunable = await self._count_prunable(scope) - pruned
            tally.add("events_pruned", max(0, min(excess, prunable)))
            return
        await self._prune_store(scope, excess, policy, tally)

    def _phases(self, policy: RetentionPolicy) -> list[frozenset[EventType] | None]:
        """`prune_event_types_first`, then any unprotected type."""
        first = frozenset(policy.prune_event_types_first)
        return [first, None] if first else [None]

    async def _prune_sessions(
        self, quotas: Sequence[tuple[str, int]], policy: RetentionPolicy, dry_run: bool, tally: Tally
    ) -> None:
        """Prune up to `quota` of the oldest unprotected events of each session, preferred types first.

        Sessions are served together: one statement takes up to `batch_size` events from as many
        sessions as fit (at most `sessions_per_statement`), each from its own index range."""
        if not quotas:
            return
        if dry_run:
            prunable = await self._prunable_counts([session_id for session_id, _ in quotas])
            tally.add("events_pruned", sum(min(q, prunable.get(sid, 0)) for sid, q in quotas))
            return
        remaining = dict(quotas)
        for types in self._phases(policy):
            positions: dict[str, int] = {}
            waiting = deque(sid for sid, quota in remaining.items() if quota > 0)
            while waiting:
                requests: list[Take] = []
                budget = policy.batch_size
                while waiting and budget > 0 and len(requests) < self.sessions_per_statement:
                    session_id = waiting.popleft()
                    count = min(remaining[session_id], budget)
                    requests.append(Take(session_id, count, positions.get(session_id, 0)))
                    budget -= count
                taken = await self._take_from_sessions(requests, types, policy, tally)
                for request in requests:
                    numbers = taken.get(request.session_id, [])
                    remaining[request.session_id] -= len(numbers)
                    if numbers:
                        positions[request.session_id] = max(numbers)
                    if len(numbers) == request.count and remaining[request.session_id] > 0:
                        waiting.append(request.session_id)
                await asyncio.sleep(0)

    async def _take_from_sessions(
        self,
        requests: Sequence[Take],
        types: frozenset[EventType] | None,
        policy: RetentionPolicy,
        tally: Tally,
    ) -> dict[str, list[int]]:
        """One batch of `_prune_sessions`: archive (if asked) and delete; the numbers taken per session."""
        taken: dict[str, list[int]] = {}
        if policy.archive_before_prune:
            batch = await self._oldest_in_sessions(requests, types)
            if batch:
                tally.add("events_archived", await self._archive(policy, batch))
                tally.add("events_pruned", await self._delete_events(batch))
            pairs = [(e.session_id, e.sequence_number or 0) for e in batch]
        else:
            pairs = await self._delete_oldest_in_sessions(requests, types)
            tally.add("events_pruned", len(pairs))
        for session_id, number in pairs:
            taken.setdefault(session_id, []).append(number)
        return taken

    async def _prune_store(self, scope: Scope, quota: int, policy: RetentionPolicy, tally: Tally) -> None:
        """Prune up to `quota` of the store's oldest unprotected events (by timestamp) in `scope`."""
        done = 0
        for types in self._phases(policy):
            after: EventKey | None = None
            while done < quota:
                limit = min(policy.batch_size, quota - done)
                if policy.archive_before_prune:
                    batch = await self._oldest_events(scope, types, after, limit)
                    if not batch:
                        break
                    tally.add("events_archived", await self._archive(policy, batch))
                    deleted = await self._delete_events(batch)
                    after = (batch[-1].timestamp, batch[-1].id)
                else:
                    positions = await self._delete_oldest(scope, types, after, limit)
                    if not positions:
                        break
                    deleted = len(positions)
                    after = max(positions)
                tally.add("events_pruned", deleted)
                done += deleted
                await asyncio.sleep(0)

    async def _orphans(self, batch_size: int, now: datetime, dry_run: bool, tally: Tally) -> None:
        await self._orphan_artifacts(batch_size, dry_run, tally)
        if self.artifacts is not None and self.unregistered_blob_grace is not None:
            await self._sweep_blobs(self.artifacts, now - self.unregistered_blob_grace, dry_run, tally)
        after: str | None = None
        while ids := await self._orphan_counters(after, batch_size):
            count = len(ids) if dry_run else await self._delete_counters(ids)
            tally.add("orphaned_sequences_cleaned", count)
            after = ids[-1]
            await asyncio.sleep(0)

    async def _expire_states(self, batch_size: int, now: datetime, dry_run: bool, tally: Tally) -> None:
        """Delete the state documents that say they expired: a top-level `expires_at` (ISO-8601 with a
        time zone) at or before `now`, as LangGraph's `ASMStore` writes for items with a TTL."""
        limit = min(batch_size, MAX_PAGE_SIZE)
        async for page in pages(lambda cursor: self.store.list_states(None, limit=limit, cursor=cursor)):
            expired = [s.scope for s in page.items if _expired(s.value.get("expires_at"), now)]
            deleted = len(expired) if dry_run else sum([await self.store.delete_state(s) for s in expired])
            tally.add("states_expired", deleted)

    async def _orphan_artifacts(self, batch_size: int, dry_run: bool, tally: Tally) -> None:
        after: str | None = None
        while records := await self._orphan_artifact_records(after, batch_size):
            for record in records:
                if not dry_run:
                    await self._registry().delete_artifact_record(record.key)
                tally.add("artifacts_cleaned", 1)
                await self._delete_blob(record, dry_run, tally)
            after = records[-1].key
            await asyncio.sleep(0)

    # -- helpers --------------------------------------------------------------------------------

    def _registry(self) -> ArtifactRegistry:
        if not isinstance(self.store, ArtifactRegistry):
            raise ValidationError(
                f"{type(self.store).__name__} keeps no artifact records", details={"field": "store"}
            )
        return self.store

    async def _records_of(self, session_id: str) -> list[ArtifactRecord]:
        if self.artifacts is None or not isinstance(self.store, ArtifactRegistry):
            return []
        registry = self.store
        return await all_items(
            lambda cursor: registry.list_artifact_records(session_id, limit=MAX_PAGE_SIZE, cursor=cursor)
        )

    async def _delete_blob(self, record: ArtifactRecord, dry_run: bool, tally: Tally) -> None:
        """Delete the blob of `record` if it lives in our artifact store (same `storage_ref`)."""
        if self.artifacts is None or self.artifacts.storage_ref(record.key) != record.storage_ref:
            return
        if not dry_run:
            await self.artifacts.delete(record.key)
        tally.add("blobs_deleted", 1)

    async def _sweep_blobs(
        self, artifacts: ArtifactStore, before: datetime, dry_run: bool, tally: Tally
    ) -> None:
        """Delete blobs that no record names and that were last written before `before` (left by a crash
        between a blob's write and its record's, or by a record's removal before its blob's)."""
        registry = self._registry()
        async for page in pages(lambda cursor: artifacts.list("", limit=MAX_PAGE_SIZE, cursor=cursor)):
            for key in page.items:
                try:
                    record = await registry.get_artifact_record(key)
                except NotFound:
                    record = None
                if record is not None and record.storage_ref == artifacts.storage_ref(key):
                    continue
                try:
                    written = (await artifacts.stat(key)).modified_at
                except NotFound:
                    continue
                if written < before:
                    if not dry_run:
                        await artifacts.delete(key)
                    tally.add("blobs_deleted", 1)
            await asyncio.sleep(0)

    async def _archive(self, policy: RetentionPolicy, events: Sequence[Event]) -> int:
        """Write `events` to the archive store as JSON Lines, one object per session, each registered as
        an artifact record without a session (so it outlives the session, and no sweep takes it)."""
        archive: ArtifactStore = policy.archive_store
        by_session: dict[str, list[Event]] = {}
        for event in events:
            by_session.setdefault(event.session_id, []).append(event)
        for session_id, group in by_session.items():
            group.sort(key=lambda e: e.sequence_number or 0)
            first, last = group[0].sequence_number or 0, group[-1].sequence_number or 0
            # The first event's id tells batches apart whose numbers repeat (a session imported again is
            # renumbered from 1): a later batch never overwrites an earlier one; a rerun writes the same key.
            tag = sha256_hex(group[0].id.encode())[:12]
            key = f"{policy.archive_prefix}/{session_id}/{first:012d}-{last:012d}-{tag}.jsonl"
            data = b"".join(event_line(event) for event in group)
            info = await archive.put(key, data, content_type=ARCHIVE_CONTENT_TYPE)
            if isinstance(self.store, ArtifactRegistry):
                await self.store.register_artifact(
                    ArtifactRecord(
                        key=key,
                        content_type=ARCHIVE_CONTENT_TYPE,
                        byte_size=info.size,
                        checksum_sha256=info.sha256,
                        storage_backend=archive.backend,
                        storage_ref=archive.storage_ref(key),
                        metadata={
                            "kind": "event_archive",
                            "session_id": session_id,
                            "first_sequence": first,
                            "last_sequence": last,
                            "events": len(group),
                        },
                    )
                )
        return len(events)


def counter_behind(session_id: str, highest: int, counter: int) -> HealthIssue:
    """The health issue of a sequence counter below the session's highest event number."""
    return HealthIssue(
        kind="counter_behind",
        count=highest - counter,
        session_id=session_id,
        message=f"sequence counter of {session_id} is {counter}, behind its highest event {highest}",
    )


def _checked(policy: RetentionPolicy) -> RetentionPolicy:
    if not isinstance(policy, RetentionPolicy):
        raise ValidationError(
            "expected a RetentionPolicy", details={"got": type(policy).__name__, "field": "policy"}
        )
    return policy


def _scope(policy: RetentionPolicy, now: datetime) -> Scope:
    return Scope(
        exempt_statuses=policy.exempt_statuses,
        exempt_tags=policy.exempt_tags,
        purge_before=_days_before(now, policy.hard_delete_after_days),
    )


__all__ = ["PROTECTED_EVENT_TYPES", "BatchedMaintenance", "Expiry", "Scope", "Tally"]
