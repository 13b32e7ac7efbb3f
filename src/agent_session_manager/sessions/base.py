"""The `SessionStore` port: the contract every session backend passes.

Semantics decided once for every backend :

* Saves are upserts by id. Reads of a missing id raise `SessionNotFound` / `RunNotFound`.
* A status change on save must follow the state machine in `core.models` (`invalid_transition`); the first
  save of an id may use any status (imports). A run belongs to one session for life.
* `delete_session` removes the session, its runs, events, sequence counter and artifact records, atomically,
  and is idempotent.
* `append_event` returns the stored event with its `sequence_number`: per session 1, 2, 3, ... with no gap
  and no duplicate whatever the number of writers, processes or machines. Re-appending an id the session
  already has returns the stored event unchanged (safe retries); the same id in another session raises
  `already_exists`. Appending to a missing session raises `SessionNotFound`.
* `append_events` is atomic: contiguous numbers in input order; duplicates (also within the batch) map to
  the stored event; one invalid event and nothing is written.
* `expected_sequence` (optimistic concurrency): an append writes only if the session's counter (the
  highest number ever assigned, 0 for none) equals it, checked in the same statement or transaction as
  the write; otherwise `ConflictError` (`conflict`, details `expected` / `actual`) and nothing is
  written. A batch whose ids are all stored already returns the stored events whatever the expectation
  (a retry after a lost reply must not fail). The counter never goes down, so no deletion can make an
  old expectation of an append true again.
* `delete_events` deletes physically and atomically the events matching all its filters (`ids`, `after`,
  `run_id`; none: every event) and returns how many it deleted. Numbers are never reused: the counter
  keeps its value. Its `expected_sequence` is compared with the newest *stored* event's number (0 for
  none; what `get_events(last=1)` returns), under the same lock as appends, so "pop the newest item" is
  `last=1` then `delete_events(ids=[e.id], expected_sequence=e.sequence_number)`: of concurrent poppers
  exactly one deletes it, the others get `conflict`, and an append in between makes the pop a
  `conflict` too. `flush` saves session, run and events
  atomically.
* `get_events`: ascending sequence; `after`/`before` exclusive on sequence; `since`/`until` inclusive on
  timestamp; `limit` keeps the oldest matches, `last` the newest (one indexed query read backwards, so
  `before=S, last=N` pages backwards); `wait` long-polls: when nothing matches, block until a matching
  event is appended or `wait` seconds pass (then `[]`). `iter_events` streams the same selection in
  batches, holding one batch at a time.
* `list_sessions` / `list_runs` page with opaque keyset cursors in a deterministic order: sessions by
  `(created_at, id)` or `(updated_at, id)`, ascending or descending (see `filters.SessionListing`), runs
  by `(started_at, id)` ascending.
* Every save that replaces a stored session sets its `updated_at` to the time of the save; the first
  save of an id keeps the given value (imports).
* State documents (`get_state`, `put_state`, `merge_state`, `delete_state`, `list_states`, and
  `append_events(state_updates=)`) follow `sessions.state`; `delete_session` deletes the session's
  `session:<id>` document with it.
* `subscribe` yields the session's events live and in order, forever; resuming with `after=` the last
  sequence seen continues with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from ..core.clock import ensure_utc
from ..core.errors import ConflictError, ValidationError
from ..core.ids import validate_id
from ..core.json import JSONObject
from ..core.models import (
    Event,
    EventType,
    Run,
    RunStatus,
    Session,
    SessionStatus,
    checked_text,
    event_types,
)
from ..core.pagination import DEFAULT_PAGE_SIZE, Page
from .state import State

#: How long one long-poll of `subscribe` waits before it asks again (seconds).
SUBSCRIBE_POLL_SECONDS = 30.0
#: How many events `subscribe` reads per round trip.
SUBSCRIBE_BATCH = 500
#: How many events `iter_events` reads per round trip by default.
ITER_BATCH = 1000
#: Sequence numbers, limits and expectations are 64-bit signed integers in every backend.
MAX_SEQUENCE = 2**63 - 1


def check_count(value: Any, name: str, *, minimum: int = 0) -> int:
    """`value` if it is an int from `minimum` to 2**63-1 (what every backend stores), else
    `validation_error` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SEQUENCE:
        raise ValidationError(
            f"{name} must be an integer from {minimum} to 2**63-1",
            details={"field": name, "value": repr(value)},
        )
    return value


def expected_sequence_of(expected: Any, events: Sequence[Any]) -> int | None:
    """The validated `expected_sequence` of an append of `events` (None: no expectation). An
    expectation is about one session's counter, so every event of the batch must belong to one."""
    if expected is None:
        return None
    check_count(expected, "expected_sequence")
    sessions = {getattr(event, "session_id", None) for event in events}
    if len(sessions) > 1:
        raise ValidationError(
            "expected_sequence needs every event of the batch in one session",
            details={"field": "expected_sequence"},
        )
    return int(expected)


def sequence_conflict(
    expected: int, actual: int, what: str = "the session's last assigned sequence number"
) -> ConflictError:
    """The error of an append (or, with `what`, a deletion) whose `expected_sequence` does not hold."""
    return ConflictError(
        f"expected {what} to be {expected}, but it is {actual}",
        details={"expected": expected, "actual": actual},
    )


def newest_conflict(expected: int, actual: int) -> ConflictError:
    """The error of a deletion whose `expected_sequence` is not the newest stored event's number."""
    return sequence_conflict(expected, actual, "the newest stored event's sequence number")


@dataclass(frozen=True, slots=True)
class EventDeletion:
    """The validated arguments of `delete_events`, shared by every backend."""

    session_id: str
    ids: frozenset[str] | None = None
    after: int | None = None
    run_id: str | None = None
    expected: int | None = None

    @classmethod
    def build(
        cls,
        session_id: str,
        *,
        ids: Iterable[str] | None = None,
        after: int | None = None,
        run_id: str | None = None,
        expected_sequence: int | None = None,
    ) -> EventDeletion:
        if ids is not None and (isinstance(ids, str) or not isinstance(ids, Iterable)):
            raise ValidationError("ids must be a list of event ids", details={"field": "ids"})
        return cls(
            session_id=validate_id(session_id, "session_id"),
            ids=None if ids is None else frozenset(validate_id(i, "ids") for i in ids),
            after=None if after is None else check_count(after, "after"),
            run_id=None if run_id is None else validate_id(run_id, "run_id"),
            expected=None
            if expected_sequence is None
            else check_count(expected_sequence, "expected_sequence"),
        )

    def matches(self, event: Event) -> bool:
        """Whether `event` (of this session) is to be deleted."""
        return (
            (self.ids is None or event.id in self.ids)
            and (self.after is None or (event.sequence_number or 0) > self.after)
            and (self.run_id is None or event.run_id == self.run_id)
        )


#: The longest `get_events(wait=)` (one day; a longer wait is one more call away).
MAX_WAIT_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The validated arguments of `get_events`, shared by every backend."""

    session_id: str
    after: int | None = None
    before: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    run_id: str | None = None
    types: frozenset[EventType | str] | None = None
    limit: int | None = None
    #: Keep the newest `last` matches instead of the oldest `limit` (still returned in ascending order).
    last: int | None = None
    wait: float | None = None

    @classmethod
    def build(
        cls,
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
    ) -> EventQuery:
        for name, value, minimum in (
            ("after", after, 0),
            ("before", before, 0),
            ("limit", limit, 1),
            ("last", last, 1),
        ):
            if value is not None:
                check_count(value, name, minimum=minimum)
        if limit is not None and last is not None:
            raise ValidationError(
                "limit (the oldest matches) and last (the newest) exclude each other",
                details={"field": "last"},
            )
        if wait is not None and not (
            isinstance(wait, int | float) and not isinstance(wait, bool) and 0 <= wait <= MAX_WAIT_SECONDS
        ):
            raise ValidationError(
                f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}", details={"field": "wait"}
            )
        return cls(
            session_id=checked_text(session_id, "session_id"),
            after=after,
            before=before,
            since=None if since is None else _timestamp(since, "since"),
            until=None if until is None else _timestamp(until, "until"),
            run_id=None if run_id is None else checked_text(run_id, "run_id"),
            types=None if types is None else event_types(types),
            limit=limit,
            last=last,
            wait=wait or None,
        )

    def matches(self, event: Event) -> bool:
        """Whether `event` (already stored, so numbered) passes every filter of this query."""
        seq = event.sequence_number or 0
        return (
            event.session_id == self.session_id
            and (self.after is None or seq > self.after)
            and (self.before is None or seq < self.before)
            and (self.since is None or event.timestamp >= self.since)
            and (self.until is None or event.timestamp <= self.until)
            and (self.run_id is None or event.run_id == self.run_id)
            and (self.types is None or event.type in self.types)
        )


def _timestamp(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime", details={"field": field})
    return ensure_utc(value, field)


@runtime_checkable
class SessionStore(Protocol):
    """Durable sessions, runs and per-session event logs. Every method is a coroutine."""

    async def save_session(self, session: Session) -> Session:
        """Insert or replace `session` (upsert by id); status changes follow the state machine."""
        ...

    async def get_session(self, session_id: str) -> Session:
        """The session, or `SessionNotFound`."""
        ...

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
        """Sessions by `(order_by, id)` (`created_at` or `updated_at`; `descending` for newest first),
        filtered by agent, owner, status and tags (all of them), one keyset page at a time. The cursor
        is bound to the order and the filters."""
        ...

    async def delete_session(self, session_id: str) -> None:
        """Remove the session with its runs, events, counter and artifact records; idempotent."""
        ...

    async def save_run(self, run: Run) -> Run:
        """Insert or replace `run`; its session must exist (`SessionNotFound`)."""
        ...

    async def get_run(self, run_id: str) -> Run:
        """The run, or `RunNotFound`."""
        ...

    async def list_runs(
        self,
        session_id: str,
        *,
        status: RunStatus | str | Iterable[RunStatus | str] | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Run]:
        """A session's runs by `(started_at, id)` ascending, one keyset page at a time."""
        ...

    async def get_active_run(self, session_id: str) -> Run | None:
        """The most recently started run in status `running`, or `None`."""
        ...

    async def append_event(self, event: Event, *, expected_sequence: int | None = None) -> Event:
        """Store `event` and return it numbered; a retried id returns the stored event. With
        `expected_sequence`, `conflict` unless the session's counter equals it."""
        ...

    async def append_events(
        self,
        events: Sequence[Event],
        *,
        expected_sequence: int | None = None,
        state_updates: Mapping[str, JSONObject] | None = None,
    ) -> list[Event]:
        """Store a batch atomically with contiguous numbers in input order; `expected_sequence` as in
        `append_event` (the batch must then belong to one session).

        `state_updates={scope: delta}` merges each delta into its state document (as `merge_state`) in
        the same transaction: the events and the state changes are stored both or neither.
        """
        ...

    async def flush(self, session: Session, run: Run | None, events: Sequence[Event]) -> list[Event]:
        """Save `session`, `run` and append `events` in one atomic step; return the stored events."""
        ...

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
        """A session's events in ascending sequence, filtered; the oldest `limit` or the newest `last`
        of them; `wait` seconds of long-poll if none."""
        ...

    def iter_events(
        self,
        session_id: str,
        *,
        after: int = 0,
        before: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
        batch_size: int = ITER_BATCH,
    ) -> AsyncIterator[Event]:
        """The events `get_events` would return, in ascending sequence, read `batch_size` at a time."""
        ...

    async def get_latest_sequence(self, session_id: str) -> int:
        """The session's counter: the highest sequence number ever assigned (0 for none)."""
        ...

    async def delete_events(
        self,
        session_id: str,
        *,
        ids: Iterable[str] | None = None,
        after: int | None = None,
        run_id: str | None = None,
        expected_sequence: int | None = None,
    ) -> int:
        """Delete the session's events matching every given filter, atomically; how many were deleted.
        With `expected_sequence`, `conflict` (and nothing deleted) unless the newest stored event has
        that number (0: none)."""
        ...

    async def get_state(self, scope: str) -> State | None:
        """The state document of `scope`, or `None` when it holds none (see `sessions.state`)."""
        ...

    async def put_state(self, scope: str, value: JSONObject, *, expected_version: int | None = None) -> State:
        """Replace the document of `scope` with `value` (version + 1, or 1 when new); with
        `expected_version` (0: none yet), only if the stored version is that one (`ConflictError`)."""
        ...

    async def merge_state(
        self, scope: str, delta: JSONObject, *, expected_version: int | None = None
    ) -> State:
        """Shallow-merge `delta` into the document of `scope` (a `None` value removes its key), atomically;
        `expected_version` as for `put_state`. Creates the document (version 1) when there is none."""
        ...

    async def delete_state(self, scope: str) -> bool:
        """Remove the document of `scope`; whether there was one. A later document starts at version 1."""
        ...

    async def list_states(
        self, prefix: str | None = None, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[State]:
        """Documents whose scope starts with `prefix`, by scope ascending, one keyset page at a time."""
        ...

    def subscribe(
        self,
        session_id: str,
        *,
        after: int = 0,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
    ) -> AsyncIterator[Event]:
        """Yield the session's events with sequence > `after`, live and in order, until closed."""
        ...

    async def close(self) -> None:
        """Release connections and wake waiting readers; idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Wakeups:
    """Per-session wake-up signals of one store: writers `wake` a session, long-polls `poll` it.

    This is the in-process half of `get_events(wait=)`; a backend whose writers may live in other
    processes also passes `recheck`, so that a poll looks again at least that often.
    """

    def __init__(self) -> None:
        self._signals: dict[str, asyncio.Event] = {}
        self.closed = False

    def wake(self, session_id: str) -> None:
        """Events arrived for `session_id` (or it was deleted): let its long-polls look again."""
        signal = self._signals.pop(session_id, None)
        if signal is not None:
            signal.set()

    def wake_all(self) -> None:
        for session_id in list(self._signals):
            self.wake(session_id)

    def close(self) -> None:
        """End every poll now (each returns what it has) and every later one after its first look."""
        self.closed = True
        self.wake_all()

    async def poll(
        self,
        session_id: str,
        select: Callable[[], Awaitable[list[Event]]],
        wait: float,
        recheck: float | None = None,
    ) -> list[Event]:
        """`select()` until it finds something, `wait` seconds pass, or the store closes."""
        deadline = time.monotonic() + wait
        while True:
            # Taken before the look, so that a write between the look and the sleep still wakes us.
            signal = self._signals.setdefault(session_id, asyncio.Event())
            found = await select()
            remaining = deadline - time.monotonic()
            if found or remaining <= 0 or self.closed:
                return found
            timeout = remaining if recheck is None else min(remaining, recheck)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout)


class LongPollSubscription:
    """`subscribe` and async context management for any store whose `get_events` can `wait`.

    Mixed into backends so that "follow a session" is written once: read a batch after the last
    sequence seen, long-polling when there is none. Live delivery is as fast as the backend's wake-up
    (an in-process condition, LISTEN/NOTIFY), and resuming from a sequence can neither skip nor repeat.
    """

    async def get_events(  # pragma: no cover - provided by the backend
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
        wait: float | None = None,
    ) -> list[Event]:
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - provided by the backend
        raise NotImplementedError

    async def subscribe(
        self,
        session_id: str,
        *,
        after: int = 0,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
    ) -> AsyncIterator[Event]:
        query = EventQuery.build(session_id, after=after, run_id=run_id, types=types)
        wanted = query.types
        position = after
        while True:
            batch = await self.get_events(
                session_id,
                after=position,
                limit=SUBSCRIBE_BATCH,
                wait=SUBSCRIBE_POLL_SECONDS,
            )
            for event in batch:
                position = event.sequence_number or position
                if (run_id is None or event.run_id == run_id) and (wanted is None or event.type in wanted):
                    yield event
            await asyncio.sleep(0)

    async def iter_events(
        self,
        session_id: str,
        *,
        after: int = 0,
        before: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
        batch_size: int = ITER_BATCH,
    ) -> AsyncIterator[Event]:
        """Keyset pages of `get_events` after the last sequence seen: one batch in memory at a time,
        each an indexed range read."""
        query = EventQuery.build(
            session_id,
            after=after,
            before=before,
            since=since,
            until=until,
            run_id=run_id,
            types=types,
            limit=check_count(batch_size, "batch_size", minimum=1),
        )
        position = after
        while True:
            batch = await self.get_events(
                session_id,
                after=position,
                before=query.before,
                since=query.since,
                until=query.until,
                run_id=query.run_id,
                types=query.types,
                limit=batch_size,
            )
            for event in batch:
                yield event
            if len(batch) < batch_size:
                return
            position = batch[-1].sequence_number or position

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
