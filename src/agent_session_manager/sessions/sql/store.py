"""`SQLSessionStore`: the whole `SessionStore` contract over SQL, written once for SQLite and PostgreSQL.

An engine subclass supplies a handful of primitives (read rows, write one statement, run statements in
one transaction, append a `Batch`, flush) and how it is woken when events arrive; validation, SQL, row
conversion, keyset paging, long-poll and the artifact registry live here. Every input the contract
rejects is rejected here, before any SQL runs, so both engines refuse the same things the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ...artifacts.registry import ArtifactTotals
from ...core.errors import (
    AlreadyExists,
    NotFound,
    RunNotFound,
    SessionNotFound,
    StorageError,
    ValidationError,
)
from ...core.json import JSONObject
from ...core.models import (
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
)
from ...core.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Page,
    check_limit,
    decode_time_cursor,
    encode_time_cursor,
)
from ..base import EventDeletion, EventQuery, LongPollSubscription, Wakeups
from ..filters import SessionListing, run_scope, run_statuses
from ..state import (
    State,
    StateChange,
    StateWrites,
    check_prefix,
    check_scope,
    check_state_updates,
    decode_state_cursor,
    encode_state_cursor,
    prefix_end,
)
from . import statements as q
from .batch import Batch
from .dialect import Dialect, SqlText
from .rows import (
    Row,
    artifact_from_row,
    artifact_params,
    events_from_rows,
    run_from_row,
    run_params,
    session_from_row,
    session_params,
    state_from_row,
)

if TYPE_CHECKING:
    from ...artifacts.base import ArtifactStore
    from ...maintenance.base import Maintenance
    from ...query.base import QueryAPI

M = TypeVar("M")

#: How often a refused upsert is retried when the reason vanished before it could be read (a race).
_REFUSAL_RETRIES = 5


def session_refusal(stored_status: str | None, session: Session) -> None:
    """Raise why the upsert of `session` was refused, given the stored status (None: row gone)."""
    if stored_status is not None:
        check_session_transition(SessionStatus(stored_status), session.status)


def run_refusal(session_exists: bool, stored: Row | None, run: Run) -> None:
    """Raise why the upsert of `run` was refused: missing session, other owner, or transition."""
    if not session_exists:
        raise SessionNotFound(f"session {run.session_id!r} not found", details={"session_id": run.session_id})
    if stored is None:
        return
    if stored[0] != run.session_id:
        raise AlreadyExists(f"run {run.id!r} already belongs to another session", details={"run_id": run.id})
    check_run_transition(RunStatus(stored[1]), run.status)


def refused_without_reason(what: str) -> StorageError:
    """A refused upsert whose reason vanished inside its own transaction (should not happen: the
    refused row stays locked); nothing was written, and the call can be retried."""
    return StorageError(f"the {what} upsert was refused but no reason was found; nothing was written")


def session_missing(session_id: str) -> SessionNotFound:
    return SessionNotFound(f"session {session_id!r} not found", details={"session_id": session_id})


def events_query(query: EventQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """SQL (`$n` style) and arguments of `get_events`, built with the dialect's `SqlText`.

    With `last`, the `(session_id, sequence_number)` index is read backwards (`ORDER BY ... DESC
    LIMIT`): the rows come newest first, and the caller reverses them."""
    sql = dialect.text()
    sql.where(f"session_id = {sql.param(query.session_id)}")
    if query.after is not None:
        sql.where(f"sequence_number > {sql.param(query.after)}")
    if query.before is not None:
        sql.where(f"sequence_number < {sql.param(query.before)}")
    if query.since is not None:
        sql.where(f'"timestamp" >= {sql.ts(query.since)}')
    if query.until is not None:
        sql.where(f'"timestamp" <= {sql.ts(query.until)}')
    if query.run_id is not None:
        sql.where(f"run_id = {sql.param(query.run_id)}")
    if query.types is not None:
        sql.where(sql.one_of("type", sorted(str(t) for t in query.types)))
    tail = " ORDER BY sequence_number"
    if query.last is not None:
        tail += f" DESC LIMIT {sql.param(query.last)}"
    elif query.limit is not None:
        tail += f" LIMIT {sql.param(query.limit)}"
    return sql.sql(q.EVENT_SELECT, tail), sql.args


class SQLSessionStore(LongPollSubscription, StateWrites, abc.ABC):
    """The SQL session store; `SQLiteSessionStore` and `PostgresSessionStore` run it on their engine."""

    backend: ClassVar[str]
    dialect: ClassVar[Dialect]

    def __init__(self, url: str, *, poll_interval: float) -> None:
        self.url = url
        self._poll_interval = poll_interval
        self._wakeups = Wakeups()
        self._sql: dict[str, str] = {}
        self._closed = False

    # -- what an engine provides ----------------------------------------------------------------

    @abc.abstractmethod
    async def _read(self, sql: str, args: Sequence[Any], *, bounded: bool = True) -> list[Row]:
        """Rows of one query (driver SQL, already converted by `_q`); `bounded`: at most a page of rows."""

    @abc.abstractmethod
    async def _write(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """Run one statement in its own transaction and return its rows."""

    @abc.abstractmethod
    async def _transaction(self, steps: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run statements in one transaction."""

    @abc.abstractmethod
    async def _append(self, batch: Batch, states: Sequence[StateChange] = ()) -> list[Event]:
        """Write `batch` atomically (see `batch.py`) and return the stored events in input order; apply
        the state `states` changes in the same transaction (`_change_state`'s rules), all or nothing."""

    @abc.abstractmethod
    async def _delete_events(self, deletion: EventDeletion, sql: str, args: Sequence[Any]) -> int:
        """In one transaction holding the session's counter row (as appends do): `session_missing` if the
        session is gone, `newest_conflict` if `deletion.expected` is not `NEWEST_SEQUENCE`, else run the
        DELETE `sql` (driver SQL) and return how many rows it deleted."""

    @abc.abstractmethod
    async def _flush(self, session: Session, run: Run | None, batch: Batch) -> list[Event]:
        """Save session, run and append `batch` in one transaction."""

    async def _prepare_wait(self) -> None:
        """Called before a long-poll starts waiting (PostgreSQL starts listening here)."""

    @abc.abstractmethod
    async def _shutdown(self) -> None:
        """Release the engine's connections and threads."""

    # -- helpers --------------------------------------------------------------------------------

    def _q(self, sql: str) -> str:
        """`sql` as the driver takes it (converted once, then cached)."""
        converted = self._sql.get(sql)
        if converted is None:
            converted = self._sql[sql] = self.dialect.sql(sql)
        return converted

    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._read(self._q(sql), args)

    async def _one(self, sql: str, *args: Any) -> Row | None:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None

    # -- SQL access for the query API, maintenance and your own reports --------------------------

    async def sql_read(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """Rows of one `$n`-style read on this store's engine (build it with `self.dialect.text()`).

        The query API and maintenance run every statement through this and `sql_write`, so they use
        the store's own connections (pool, or SQLite reader threads) and its engine's placeholders.
        """
        return await self._read(self._q(sql), args)

    async def sql_write(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """One `$n`-style statement in its own transaction, and its rows (as `sql_read`, for writes)."""
        return await self._write(self._q(sql), args)

    # -- sessions -------------------------------------------------------------------------------

    async def save_session(self, session: Session) -> Session:
        session = validated(session, Session)
        params = session_params(self.dialect, session)
        for _ in range(_REFUSAL_RETRIES):
            saved = await self._write(self._q(q.UPSERT_SESSION), params)
            if saved:
                updated_at = self.dialect.timestamp_out(saved[0][0])
                return session.model_copy(update={"updated_at": updated_at}, deep=True)
            stored = await self._one(q.SESSION_STATUS, session.id)
            session_refusal(None if stored is None else stored[0], session)
        raise AssertionError("session upsert kept being refused without a reason")  # pragma: no cover

    async def get_session(self, session_id: str) -> Session:
        checked_text(session_id, "session_id")
        row = await self._one(q.GET_SESSION, session_id)
        if row is None:
            raise session_missing(session_id)
        return session_from_row(self.dialect, row)

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
        sql = self.dialect.text()
        if listing.agent_id is not None:
            sql.where(f"agent_id = {sql.param(listing.agent_id)}")
        if listing.user_id is not None:
            sql.where(f"user_id = {sql.param(listing.user_id)}")
        if listing.statuses is not None:
            sql.where(sql.one_of("status", sorted(listing.statuses)))
        if listing.tags is not None:
            sql.where(sql.has_all_tags("tags", listing.tags))
        if listing.bound is not None:
            sql.where(f"updated_at <= {sql.ts(listing.bound)}")
        order = sql.keyset([listing.order_by, "id"], listing.after, descending=listing.descending)
        tail = f" ORDER BY {order} LIMIT {sql.param(listing.limit + 1)}"
        rows = await self._fetch(sql.sql(q.SESSION_SELECT, tail), *sql.args)
        page = [session_from_row(self.dialect, row) for row in rows[: listing.limit]]
        next_cursor = listing.cursor_after(page[-1]) if len(rows) > listing.limit else None
        return Page(page, next_cursor)

    async def delete_session(self, session_id: str) -> None:
        checked_text(session_id, "session_id")
        await self._transaction([(self._q(sql), (session_id,)) for sql in q.DELETE_SESSION])
        self._wakeups.wake(session_id)

    # -- runs -----------------------------------------------------------------------------------

    async def save_run(self, run: Run) -> Run:
        run = validated(run, Run)
        params = run_params(self.dialect, run)
        for _ in range(_REFUSAL_RETRIES):
            if await self._write(self._q(q.UPSERT_RUN), params):
                return run.model_copy(deep=True)
            exists = await self._one(q.SESSION_EXISTS, run.session_id) is not None
            run_refusal(exists, await self._one(q.RUN_OWNER, run.id), run)
        raise AssertionError("run upsert kept being refused without a reason")  # pragma: no cover

    async def get_run(self, run_id: str) -> Run:
        checked_text(run_id, "run_id")
        row = await self._one(q.GET_RUN, run_id)
        if row is None:
            raise RunNotFound(f"run {run_id!r} not found", details={"run_id": run_id})
        return run_from_row(self.dialect, row)

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
        sql = self.dialect.text()
        sql.where(f"session_id = {sql.param(session_id)}")
        if statuses is not None:
            sql.where(sql.one_of("status", sorted(s.value for s in statuses)))
        return await self._keyset_page(
            q.RUN_SELECT,
            sql,
            "started_at",
            run_scope(session_id, statuses),
            limit,
            cursor,
            lambda row: run_from_row(self.dialect, row),
            lambda r: (r.started_at, r.id),
        )

    async def get_active_run(self, session_id: str) -> Run | None:
        checked_text(session_id, "session_id")
        row = await self._one(q.ACTIVE_RUN, session_id)
        return None if row is None else run_from_row(self.dialect, row)

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
        batch = Batch.plan(self.dialect, events, expected_sequence=expected_sequence)
        states = check_state_updates(state_updates)
        if not batch.events and not states:
            return []
        stored = await self._append(batch, states)
        self._woken_by(batch)
        return stored

    async def flush(self, session: Session, run: Run | None, events: Sequence[Event]) -> list[Event]:
        session = validated(session, Session)
        if run is not None:
            run = validated(run, Run)
            if run.session_id != session.id:
                raise ValidationError("flush: the run belongs to another session", details={"run_id": run.id})
        batch = Batch.plan(self.dialect, events, flush_session=session.id)
        stored = await self._flush(session, run, batch)
        self._woken_by(batch)
        return stored

    def _woken_by(self, batch: Batch) -> None:
        for session_id in {event.session_id for event in batch.events}:
            self._wakeups.wake(session_id)

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
        sql, converted = events_query(query, self.dialect)
        if query.wait is None:
            return await self._select_events(sql, converted, query)
        await self._prepare_wait()
        return await self._wakeups.poll(
            session_id,
            lambda: self._select_events(sql, converted, query),
            query.wait,
            recheck=self._poll_interval,
        )

    async def _select_events(self, sql: str, args: Sequence[Any], query: EventQuery) -> list[Event]:
        count = query.limit if query.last is None else query.last
        rows = await self._read(self._q(sql), args, bounded=count is not None and count <= MAX_PAGE_SIZE)
        if not rows and await self._one(q.SESSION_EXISTS, query.session_id) is None:
            raise session_missing(query.session_id)
        events = events_from_rows(self.dialect, rows)
        if query.last is not None:
            events.reverse()
        return events

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
        sql = self.dialect.text()
        sql.where(f"session_id = {sql.param(deletion.session_id)}")
        if deletion.ids is not None:
            sql.where(sql.one_of("id", sorted(deletion.ids)))
        if deletion.after is not None:
            sql.where(f"sequence_number > {sql.param(deletion.after)}")
        if deletion.run_id is not None:
            sql.where(f"run_id = {sql.param(deletion.run_id)}")
        return await self._delete_events(deletion, self._q(sql.sql("DELETE FROM asm_events")), sql.args)

    async def get_latest_sequence(self, session_id: str) -> int:
        checked_text(session_id, "session_id")
        row = await self._one(q.LATEST_SEQUENCE, session_id)
        if row is None:
            raise session_missing(session_id)
        return int(row[0] or 0)

    # -- state documents ------------------------------------------------------------------------

    async def get_state(self, scope: str) -> State | None:
        row = await self._one(q.GET_STATE, check_scope(scope))
        return None if row is None else state_from_row(self.dialect, row)

    async def delete_state(self, scope: str) -> bool:
        return bool(await self._write(self._q(q.DELETE_STATE), (check_scope(scope),)))

    async def list_states(
        self, prefix: str | None = None, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[State]:
        check_limit(limit)
        start = check_prefix(prefix)
        after = decode_state_cursor(cursor, start)
        end = prefix_end(start)
        where: list[str] = ["scope >= $1"]
        args: list[Any] = [start]
        if end is not None:
            args.append(end)
            where.append(f"scope < ${len(args)}")
        elif start:
            where.append("substr(scope, 1, length($1)) = $1")
        if after is not None:
            args.append(after)
            where.append(f"scope > ${len(args)}")
        args.append(limit + 1)
        sql = f"{q.STATE_SELECT} WHERE {' AND '.join(where)} ORDER BY scope LIMIT ${len(args)}"
        states = [state_from_row(self.dialect, row) for row in await self._fetch(sql, *args)]
        next_cursor = encode_state_cursor(start, states[limit - 1].scope) if len(states) > limit else None
        return Page(states[:limit], next_cursor)

    # -- artifact registry ----------------------------------------------------------------------

    async def register_artifact(self, record: ArtifactRecord) -> ArtifactRecord:
        record = validated(record, ArtifactRecord)
        rows = await self._write(self._q(q.REGISTER_ARTIFACT), artifact_params(self.dialect, record))
        if not rows:
            raise session_missing(str(record.session_id))
        return record.model_copy(deep=True)

    async def get_artifact_record(self, key: str) -> ArtifactRecord:
        checked_text(key, "key")
        row = await self._one(q.GET_ARTIFACT, key)
        if row is None:
            raise NotFound(f"no artifact record for key {key!r}", details={"key": key})
        return artifact_from_row(self.dialect, row)

    async def list_artifact_records(
        self, session_id: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[ArtifactRecord]:
        checked_text(session_id, "session_id")
        check_limit(limit)
        if await self._one(q.SESSION_EXISTS, session_id) is None:
            raise session_missing(session_id)
        sql = self.dialect.text()
        sql.where(f"session_id = {sql.param(session_id)}")
        return await self._keyset_page(
            q.ARTIFACT_SELECT,
            sql,
            "created_at",
            "artifacts:created_at_asc",
            limit,
            cursor,
            lambda row: artifact_from_row(self.dialect, row),
            lambda a: (a.created_at, a.id),
        )

    async def artifact_totals(self, session_id: str) -> ArtifactTotals:
        checked_text(session_id, "session_id")
        row = await self._one(q.ARTIFACT_TOTALS, session_id)
        if row is None:
            raise session_missing(session_id)
        return ArtifactTotals(count=int(row[0]), byte_size=int(row[1]))

    async def delete_artifact_record(self, key: str) -> None:
        checked_text(key, "key")
        await self._write(self._q(q.DELETE_ARTIFACT), (key,))

    # -- paging and closing ---------------------------------------------------------------------

    async def _keyset_page(
        self,
        select: str,
        sql: SqlText,
        time_column: str,
        scope: str,
        limit: int,
        cursor: str | None,
        build: Callable[[Row], M],
        key: Callable[[M], tuple[datetime, str]],
    ) -> Page[M]:
        """One page in `(time_column, id)` order after `cursor` (`sql` holds the filters): an index
        range scan, never an offset."""
        after = None if cursor is None else decode_time_cursor(cursor, scope)
        order = sql.keyset([time_column, "id"], after, descending=False)
        text = sql.sql(select, f" ORDER BY {order} LIMIT {sql.param(limit + 1)}")
        rows = await self._fetch(text, *sql.args)
        items = [build(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_time_cursor(scope, key(items[-1]))
        return Page(items, next_cursor)

    # -- query API and maintenance (what `query_api(store)` / `maintenance_api(store)` return) -------

    def query_api(self) -> QueryAPI:
        """This store's `QueryAPI`: `SQLQueryAPI`, every filter in the database."""
        from ...query.sql import SQLQueryAPI

        return SQLQueryAPI(self)

    def maintenance_api(
        self, artifacts: ArtifactStore | None = None, *, unregistered_blob_grace: timedelta | None = None
    ) -> Maintenance:
        """This store's `Maintenance`: `SQLMaintenance` (arguments as for `maintenance_api`)."""
        from ...maintenance.sql import SQLMaintenance

        return SQLMaintenance(self, artifacts, unregistered_blob_grace=unregistered_blob_grace)

    async def close(self) -> None:
        """Close connections and threads, and end waiting long-polls; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wakeups.close()
        await self._shutdown()
