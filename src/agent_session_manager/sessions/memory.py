"""`InMemorySessionStore`: the whole contract in process memory, for tests, demos and ephemeral agents.

Appends are O(1) (a per-session list plus a global id index, so no read scans other sessions' events),
reads find their start by binary search on the sequence, and long-polls wake on an in-process signal.
Stored models are deep copies: mutating what you passed in, or what you got back, never changes the
store. A store belongs to the event loop that uses it (use `sync` from threads).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel

from ..artifacts.registry import ArtifactTotals
from ..core.clock import utc_now
from ..core.errors import AlreadyExists, NotFound, RunNotFound, SessionNotFound, ValidationError
from ..core.json import JSONObject, dumps, loads
from ..core.models import (
    ArtifactRecord,
    Event,
    EventType,
    Run,
    RunStatus,
    Session,
    SessionStatus,
    check_run_transition,
    check_session_transition,
    checked_text,
    validated,
    validated_events,
)
from ..core.pagination import (
    DEFAULT_PAGE_SIZE,
    Page,
    check_limit,
    decode_time_cursor,
    encode_time_cursor,
)
from .base import (
    EventDeletion,
    EventQuery,
    LongPollSubscription,
    Wakeups,
    expected_sequence_of,
    newest_conflict,
    sequence_conflict,
)
from .filters import SessionListing, run_scope, run_statuses
from .state import (
    State,
    StateChange,
    StateWrites,
    check_prefix,
    check_scope,
    check_state_updates,
    decode_state_cursor,
    encode_state_cursor,
    session_scope,
)

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..maintenance.base import Maintenance
    from ..query.base import QueryAPI

M = TypeVar("M", bound=BaseModel)


def detached(model: M) -> M:
    """A deep copy, so callers never share an object with the store."""
    return model.model_copy(deep=True)


class InMemorySessionStore(LongPollSubscription, StateWrites):
    """A `SessionStore` that keeps everything in dicts and lists of this process."""

    backend = "memory"

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._runs: dict[str, Run] = {}
        self._runs_by_session: dict[str, dict[str, None]] = {}
        self._events: dict[str, list[Event]] = {}
        self._sequences: dict[str, list[int]] = {}
        self._event_by_id: dict[str, Event] = {}
        self._counters: dict[str, int] = {}
        self._wakeups = Wakeups()
        self._artifacts: dict[str, ArtifactRecord] = {}
        self._artifacts_by_session: dict[str, dict[str, None]] = {}
        self._states: dict[str, State] = {}

    @classmethod
    async def from_url(
        cls, url: str = "memory://", *, migrate: bool = False, **options: Any
    ) -> InMemorySessionStore:
        """`memory://`: a fresh, empty store (`migrate` is accepted and moot: there is no schema)."""
        given = sorted(
            {*options, *(name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True))}
        )
        if given:
            raise ValidationError(
                f"memory:// takes no options, got {given}",
                details={"options": given},
            )
        return cls()

    # -- sessions -------------------------------------------------------------------------------

    async def save_session(self, session: Session) -> Session:
        session = self._check_session(session)
        return detached(self._put_session(session))

    async def get_session(self, session_id: str) -> Session:
        checked_text(session_id, "session_id")
        return detached(self._session(session_id))

    async def list_sessions(
        self,
        *,
        agent_id: str | None = None,
        user_id: str | None = None,
        status: SessionStatus | str | Iterable[SessionStatus | str] | None = None,
        tags: str | Iterable[str] | None = None,
        order_by: str = "created_at",
        descending: bool = False,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Session]:
        listing = SessionListing.build(
            agent_id=agent_id,
            user_id=user_id,
            status=status,
            tags=tags,
            order_by=order_by,
            descending=descending,
            limit=limit,
            cursor=cursor,
        )
        rows = sorted(
            (s for s in self._sessions.values() if listing.matches(s)),
            key=listing.key,
            reverse=listing.descending,
        )
        page = [detached(s) for s in rows[: listing.limit]]
        next_cursor = listing.cursor_after(page[-1]) if len(rows) > listing.limit else None
        return Page(page, next_cursor)

    async def delete_session(self, session_id: str) -> None:
        checked_text(session_id, "session_id")
        self._sessions.pop(session_id, None)
        for run_id in self._runs_by_session.pop(session_id, {}):
            self._runs.pop(run_id, None)
        for event in self._events.pop(session_id, []):
            self._event_by_id.pop(event.id, None)
        self._sequences.pop(session_id, None)
        self._counters.pop(session_id, None)
        for key in self._artifacts_by_session.pop(session_id, {}):
            self._artifacts.pop(key, None)
        self._states.pop(session_scope(session_id), None)
        self._wakeups.wake(session_id)

    # -- runs -----------------------------------------------------------------------------------

    async def save_run(self, run: Run) -> Run:
        run = self._check_run(run)
        self._session(run.session_id)
        self._put_run(run)
        return detached(run)

    async def get_run(self, run_id: str) -> Run:
        checked_text(run_id, "run_id")
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(f"run {run_id!r} not found", details={"run_id": run_id})
        return detached(run)

    async def list_runs(
        self,
        session_id: str,
        *,
        status: RunStatus | str | Iterable[RunStatus | str] | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Run]:
        checked_text(session_id, "session_id")
        check_limit(limit)
        statuses = run_statuses(status)
        rows = [
            self._runs[run_id]
            for run_id in self._runs_by_session.get(session_id, {})
            if statuses is None or self._runs[run_id].status in statuses
        ]
        scope = run_scope(session_id, statuses)
        return _keyset_page(rows, lambda r: (r.started_at, r.id), scope, limit, cursor)

    async def get_active_run(self, session_id: str) -> Run | None:
        checked_text(session_id, "session_id")
        running = [
            self._runs[run_id]
            for run_id in self._runs_by_session.get(session_id, {})
            if self._runs[run_id].status is RunStatus.RUNNING
        ]
        if not running:
            return None
        return detached(max(running, key=lambda r: (r.started_at, r.id)))

    # -- events ---------------------------------------------------------------------------------

    async def append_event(self, event: Event, *, expected_sequence: int | None = None) -> Event:
        return (await self.append_events([event], expected_sequence=expected_sequence))[0]

    async def append_events(
        self,
        events: Sequence[Event],
        *,
        expected_sequence: int | None = None,
        state_updates: Mapping[str, JSONObject] | None = None,
    ) -> list[Event]:
        planned = self._plan(events, extra_sessions=())
        expected = expected_sequence_of(expected_sequence, events)
        changes = check_state_updates(state_updates)
        # Every check before the first write (no await in between): both or neither. A retry (every
        # event already stored) changes nothing: its state updates were applied with the original.
        retry = bool(planned) and not any(is_new for _, is_new in planned)
        if expected is not None and planned and not retry:
            actual = self._counters.get(planned[0][0].session_id, 0)
            if actual != expected:
                raise sequence_conflict(expected, actual)
        states = {} if retry else self._plan_states(changes, {event.session_id for event, _ in planned})
        stored = self._commit(planned)
        self._states.update(states)
        return stored

    async def flush(self, session: Session, run: Run | None, events: Sequence[Event]) -> list[Event]:
        session = self._check_session(session)
        if run is not None:
            run = self._check_run(run)
            if run.session_id != session.id:
                raise ValidationError("flush: the run belongs to another session", details={"run_id": run.id})
        planned = self._plan(events, extra_sessions=(session.id,), flush_session=session.id)
        self._put_session(session)
        if run is not None:
            self._put_run(run)
        return self._commit(planned)

    async def get_events(
        self,
        session_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
        limit: int | None = None,
        last: int | None = None,
        wait: float | None = None,
    ) -> list[Event]:
        query = EventQuery.build(
            session_id,
            after=after,
            before=before,
            since=since,
            until=until,
            run_id=run_id,
            types=types,
            limit=limit,
            last=last,
            wait=wait,
        )
        if query.wait is None:
            return self._select(query)

        async def select() -> list[Event]:
            return self._select(query)

        return await self._wakeups.poll(session_id, select, query.wait)

    async def get_latest_sequence(self, session_id: str) -> int:
        checked_text(session_id, "session_id")
        self._session(session_id)
        return self._counters.get(session_id, 0)

    async def delete_events(
        self,
        session_id: str,
        *,
        ids: Iterable[str] | None = None,
        after: int | None = None,
        run_id: str | None = None,
        expected_sequence: int | None = None,
    ) -> int:
        deletion = EventDeletion.build(
            session_id, ids=ids, after=after, run_id=run_id, expected_sequence=expected_sequence
        )
        self._session(session_id)
        events = self._events.get(session_id, [])
        if deletion.expected is not None:
            newest = events[-1].sequence_number or 0 if events else 0
            if newest != deletion.expected:
                raise newest_conflict(deletion.expected, newest)
        kept = [event for event in events if not deletion.matches(event)]
        if len(kept) < len(events):
            for event in events:
                if deletion.matches(event):
                    self._event_by_id.pop(event.id, None)
            self._events[session_id] = kept
            self._sequences[session_id] = [event.sequence_number or 0 for event in kept]
        return len(events) - len(kept)

    # -- state documents ------------------------------------------------------------------------

    async def get_state(self, scope: str) -> State | None:
        state = self._states.get(check_scope(scope))
        return None if state is None else _copy_state(state)

    async def delete_state(self, scope: str) -> bool:
        return self._states.pop(check_scope(scope), None) is not None

    async def list_states(
        self, prefix: str | None = None, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[State]:
        check_limit(limit)
        start = check_prefix(prefix)
        after = decode_state_cursor(cursor, start)
        scopes = sorted(s for s in self._states if s.startswith(start) and (after is None or s > after))
        page = [_copy_state(self._states[s]) for s in scopes[:limit]]
        next_cursor = encode_state_cursor(start, page[-1].scope) if len(scopes) > limit else None
        return Page(page, next_cursor)

    async def _change_state(self, change: StateChange) -> State:
        state = self._plan_states([change], set())[change.scope]
        self._states[change.scope] = state
        return _copy_state(state)

    def _plan_states(self, changes: Sequence[StateChange], sessions: set[str]) -> dict[str, State]:
        """The documents after `changes` (validated, nothing changed yet); `sessions` are known to exist."""
        planned: dict[str, State] = {}
        now = utc_now()
        for change in changes:
            stored = planned.get(change.scope) or self._states.get(change.scope)
            version = 0 if stored is None else stored.version
            change.refusal(version, change.session_id in sessions or change.session_id in self._sessions)
            value = change.value_after(None if stored is None else stored.value)
            planned[change.scope] = State(change.scope, value, version + 1, now)
        return planned

    # -- artifact registry ----------------------------------------------------------------------

    async def register_artifact(self, record: ArtifactRecord) -> ArtifactRecord:
        record = validated(record, ArtifactRecord)
        if record.session_id is not None:
            self._session(record.session_id)
        await self.delete_artifact_record(record.key)
        self._artifacts[record.key] = detached(record)
        if record.session_id is not None:
            self._artifacts_by_session.setdefault(record.session_id, {})[record.key] = None
        return detached(record)

    async def get_artifact_record(self, key: str) -> ArtifactRecord:
        checked_text(key, "key")
        record = self._artifacts.get(key)
        if record is None:
            raise NotFound(f"no artifact record for key {key!r}", details={"key": key})
        return detached(record)

    async def list_artifact_records(
        self, session_id: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[ArtifactRecord]:
        checked_text(session_id, "session_id")
        check_limit(limit)
        self._session(session_id)
        rows = [self._artifacts[key] for key in self._artifacts_by_session.get(session_id, {})]
        return _keyset_page(rows, lambda a: (a.created_at, a.id), "artifacts:created_at_asc", limit, cursor)

    async def artifact_totals(self, session_id: str) -> ArtifactTotals:
        checked_text(session_id, "session_id")
        self._session(session_id)
        records = [self._artifacts[key] for key in self._artifacts_by_session.get(session_id, {})]
        return ArtifactTotals(count=len(records), byte_size=sum(r.byte_size for r in records))

    async def delete_artifact_record(self, key: str) -> None:
        checked_text(key, "key")
        record = self._artifacts.pop(key, None)
        if record is not None and record.session_id is not None:
            self._artifacts_by_session.get(record.session_id, {}).pop(key, None)

    # -- query API and maintenance (what `query_api(store)` / `maintenance_api(store)` return) -------

    def query_api(self) -> QueryAPI:
        """This store's `QueryAPI`: `MemoryQueryAPI`, over its dicts."""
        from ..query.memory import MemoryQueryAPI

        return MemoryQueryAPI(self)

    def maintenance_api(
        self, artifacts: ArtifactStore | None = None, *, unregistered_blob_grace: timedelta | None = None
    ) -> Maintenance:
        """This store's `Maintenance`: `MemoryMaintenance` (arguments as for `maintenance_api`)."""
        from ..maintenance.memory import MemoryMaintenance

        return MemoryMaintenance(self, artifacts, unregistered_blob_grace=unregistered_blob_grace)

    async def close(self) -> None:
        self._wakeups.close()

    # -- internals ------------------------------------------------------------------------------

    def _session(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"session {session_id!r} not found", details={"session_id": session_id})
        return session

    def _check_session(self, session: Session) -> Session:
        session = validated(session, Session)
        stored = self._sessions.get(session.id)
        if stored is not None:
            check_session_transition(stored.status, session.status)
        return session

    def _put_session(self, session: Session) -> Session:
        """Store `session`; replacing a stored one sets `updated_at` to now. Returns what is stored."""
        if session.id in self._sessions:
            session = session.model_copy(update={"updated_at": utc_now()})
        stored = self._sessions[session.id] = detached(session)
        return stored

    def _check_run(self, run: Run) -> Run:
        run = validated(run, Run)
        stored = self._runs.get(run.id)
        if stored is None:
            return run
        if stored.session_id != run.session_id:
            raise AlreadyExists(
                f"run {run.id!r} already belongs to another session", details={"run_id": run.id}
            )
        check_run_transition(stored.status, run.status)
        return run

    def _put_run(self, run: Run) -> None:
        self._runs[run.id] = detached(run)
        self._runs_by_session.setdefault(run.session_id, {})[run.id] = None

    def _plan(
        self, events: Sequence[Event], extra_sessions: Iterable[str], flush_session: str | None = None
    ) -> list[tuple[Event, bool]]:
        """Validate a whole batch and number it, without changing anything; `flush_session`: every
        event must belong to it.

        Returns `(event, is_new)` pairs in input order; new events carry their sequence number.
        """
        known_sessions = set(extra_sessions)
        next_seq: dict[str, int] = {}
        batch: dict[str, Event] = {}
        planned: list[tuple[Event, bool]] = []
        for event in validated_events(events):
            if flush_session is not None and event.session_id != flush_session:
                raise ValidationError(
                    "flush: every event must belong to the flushed session",
                    details={"event_id": event.id},
                )
            if event.session_id not in known_sessions:
                self._session(event.session_id)
                known_sessions.add(event.session_id)
            stored = self._event_by_id.get(event.id)
            if stored is not None:
                if stored.session_id != event.session_id:
                    raise AlreadyExists(
                        f"event {event.id!r} already exists in another session",
                        details={"event_id": event.id},
                    )
                planned.append((stored, False))
                continue
            if event.id in batch:
                earlier = batch[event.id]
                if earlier.session_id != event.session_id:
                    raise AlreadyExists(
                        f"event {event.id!r} appears twice for different sessions",
                        details={"event_id": event.id},
                    )
                planned.append((earlier, False))
                continue
            sid = event.session_id
            seq = next_seq.get(sid, self._counters.get(sid, 0)) + 1
            next_seq[sid] = seq
            numbered = event.model_copy(update={"sequence_number": seq}, deep=True)
            batch[event.id] = numbered
            planned.append((numbered, True))
        return planned

    def _commit(self, planned: list[tuple[Event, bool]]) -> list[Event]:
        touched: set[str] = set()
        for event, is_new in planned:
            if not is_new:
                continue
            sid = event.session_id
            self._events.setdefault(sid, []).append(event)
            self._sequences.setdefault(sid, []).append(event.sequence_number or 0)
            self._event_by_id[event.id] = event
            self._counters[sid] = event.sequence_number or 0
            touched.add(sid)
        for sid in touched:
            self._wakeups.wake(sid)
        return [detached(event) for event, _ in planned]

    def _select(self, query: EventQuery) -> list[Event]:
        """The matches between the `after`/`before` bounds (found by binary search), scanned forwards
        for `limit` or backwards for `last`."""
        self._session(query.session_id)
        events = self._events.get(query.session_id, [])
        sequences = self._sequences.get(query.session_id, [])
        start = 0 if query.after is None else bisect.bisect_right(sequences, query.after)
        end = len(events) if query.before is None else bisect.bisect_left(sequences, query.before)
        window = range(start, end) if query.last is None else range(end - 1, start - 1, -1)
        wanted = query.limit if query.last is None else query.last
        found: list[Event] = []
        for index in window:
            event = events[index]
            if query.matches(event):
                found.append(detached(event))
                if wanted is not None and len(found) >= wanted:
                    break
        if query.last is not None:
            found.reverse()
        return found


def _copy_state(state: State) -> State:
    return State(state.scope, loads(dumps(state.value)), state.version, state.updated_at)


def _keyset_page(rows: list[M], key: Any, scope: str, limit: int, cursor: str | None) -> Page[M]:
    """One page of `rows` in ascending `key` order, after the key held by `cursor`."""
    rows = sorted(rows, key=key)
    if cursor is not None:
        position = decode_time_cursor(cursor, scope)
        rows = [r for r in rows if key(r) > position]
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_time_cursor(scope, key(page[-1]))
    return Page([detached(r) for r in page], next_cursor)


class MemoryView:
    """Narrow access to an `InMemorySessionStore`'s internals (its dicts and per-session event lists),
    for the query API and maintenance over this store: the one place outside the store class that
    touches its private structures, kept beside it so a change there is mended in one spot.

    Readers get the stored objects themselves (frozen models): copy before handing them out. The
    mutators keep the store's parallel structures (event list, sequence list, id index) in step.
    """

    def __init__(self, store: InMemorySessionStore) -> None:
        self.store = store

    def sessions(self) -> Iterable[Session]:
        return self.store._sessions.values()

    def find_session(self, session_id: str) -> Session | None:
        return self.store._sessions.get(session_id)

    def session(self, session_id: str) -> Session:
        """The stored session, or `SessionNotFound`."""
        return self.store._session(session_id)

    def runs(self) -> Iterable[Run]:
        return self.store._runs.values()

    def runs_of(self, session_id: str) -> list[Run]:
        return [self.store._runs[run_id] for run_id in self.store._runs_by_session.get(session_id, {})]

    def events_of(self, session_id: str) -> list[Event]:
        """The session's events in sequence order."""
        return self.store._events.get(session_id, [])

    def events(self) -> Iterator[Event]:
        for events in self.store._events.values():
            yield from events

    def event_session_ids(self) -> Iterable[str]:
        return self.store._events.keys()

    def counters(self) -> dict[str, int]:
        """Session id -> last sequence number handed out."""
        return self.store._counters

    def artifacts(self) -> Iterable[ArtifactRecord]:
        return self.store._artifacts.values()

    def artifacts_of(self, session_id: str) -> list[ArtifactRecord]:
        keys = self.store._artifacts_by_session.get(session_id, {})
        return [self.store._artifacts[key] for key in keys]

    # -- mutators (maintenance) -----------------------------------------------------------------

    def replace_session(self, session: Session) -> None:
        self.store._sessions[session.id] = session

    def remove_events(self, session_id: str, ids: set[str]) -> int:
        """Remove the session's events with these ids; the counter stays (numbers are never reused)."""
        events = self.store._events.get(session_id, [])
        kept = [event for event in events if event.id not in ids]
        removed = len(events) - len(kept)
        if removed:
            self.store._events[session_id] = kept
            self.store._sequences[session_id] = [event.sequence_number or 0 for event in kept]
            for event_id in ids:
                self.store._event_by_id.pop(event_id, None)
        return removed

    def drop_counter(self, session_id: str) -> None:
        self.store._counters.pop(session_id, None)
