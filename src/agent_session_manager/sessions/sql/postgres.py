"""`PostgresSessionStore`: the multi-machine engine (`postgresql://user@host/db`), on asyncpg directly.

* One append is one round trip: a data-modifying CTE checks the session, finds a retried event id,
  upserts the counter and inserts the event (`APPEND_ONE`). Batches are one transaction: one counter
  upsert for all sessions of the batch, then binary COPY.
* Any number of processes and machines can append to the same session: the counter row lock orders them
  and the number is taken in the same statement or transaction as the insert, so a failure leaves no gap.
* Long-polls LISTEN on channel `asm_events` on a dedicated connection (payload: session id). Appends
  NOTIFY right after their commit from another dedicated connection, batching session ids and with
  `synchronous_commit=off` (a notification needs no durability). NOTIFY is not part of the append
  statement on purpose: PostgreSQL serialises the commits of notifying transactions under one global
  lock, including their WAL flush, which takes group commit away from concurrent writers (measured:
  16 writers fell from ~9,600 to ~3,300 appends/s). Listening connections are named `asm-listener`;
  a writer that saw none in the database during the last second sends no NOTIFY at all. A long-poll
  that misses a notification (a listener that just started, a dropped connection) still finds new
  events within `poll_interval` (default 1 s).
* A pool of connections (`pool_size`, default 10; a small pool of our own, see `_Pool`). When the
  server drops connections, the call is retried on a fresh connection (every operation is idempotent:
  appends by event id, saves by id), and `storage_connection_failed` (retryable) is raised only when
  the server stays unreachable.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg

from ...core.clock import utc_now
from ...core.errors import (
    AlreadyExists,
    ASMError,
    MigrationRequired,
    StorageAccessRefused,
    StorageConnectionFailed,
    StorageError,
    ValidationError,
)
from ...core.models import Event, Run, Session, validated
from ...core.urls import redact_url
from ..base import EventDeletion, expected_sequence_of, newest_conflict, sequence_conflict
from ..state import State, StateChange
from . import migrations
from . import statements as q
from .batch import Batch
from .dialect import POSTGRES, Dialect
from .rows import (
    EVENT_COLUMNS,
    Row,
    event_from_row,
    event_params,
    run_params,
    session_params,
    stored_event,
)
from .schema import VERSION_TABLE
from .store import SQLSessionStore, refused_without_reason, run_refusal, session_missing, session_refusal
from .urls import host_of, postgres_dsn

T = TypeVar("T")
#: An async factory of new connections (`connect=`).
Connect = Callable[[], Awaitable[asyncpg.Connection]]

CHANNEL = "asm_events"
DEFAULT_POOL_SIZE = 10
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Attempts of one operation when the server drops connections under it.
_ATTEMPTS = 3

_NULL_EVENT = ", ".join(f"NULL::{cast}" for cast in q.EVENT_CASTS)


#: One append in one statement. Returns `('new', seq, NULLs)`, `('stored', NULL, <stored event>)` for a
#: retried id (in any session: the caller tells same-session retry from `already_exists`), or
#: `('missing', ...)` when the session does not exist. Nothing is written unless the event is new.
#: `FOR KEY SHARE` on the session row orders the append against `delete_session`, which deletes that row
#: first: an append waits for a delete in progress and then finds no session (the statement's snapshot
#: alone would still show it), and a delete waits for the appends in progress and then removes their
#: events. Appends do not block each other on it, nor does `save_session` (no key column changes).
def _append_one(insert_guard: str = "", update_guard: str = "") -> str:
    return f"""
WITH s AS (SELECT id FROM asm_sessions WHERE id = $4::text FOR KEY SHARE),
x AS ({q.EVENT_SELECT} WHERE id = $1::text),
c AS (
    INSERT INTO asm_session_sequences AS q (session_id, last_sequence)
    SELECT s.id, 1 FROM s WHERE NOT EXISTS (SELECT 1 FROM x){insert_guard}
    ON CONFLICT (session_id) DO UPDATE SET last_sequence = q.last_sequence + 1{update_guard}
    RETURNING last_sequence
),
i AS (
    INSERT INTO asm_events ({q.column_list(EVENT_COLUMNS)})
    SELECT $1::text, $2::text, $3::timestamptz, $4::text, $5::text, c.last_sequence,
           $6::jsonb, $7::jsonb, $8::integer, $9::text, $10::text FROM c
    RETURNING sequence_number
)
SELECT 'new', i.sequence_number, {_NULL_EVENT} FROM i
UNION ALL SELECT 'stored', NULL::bigint, x.* FROM x
UNION ALL SELECT 'missing', NULL::bigint, {_NULL_EVENT} WHERE NOT EXISTS (SELECT 1 FROM s)
"""


APPEND_ONE = _append_one()

#: `APPEND_ONE` with `expected_sequence` as `$11` (see `statements.counter_guards`): no row at all means
#: the counter was not `$11` (nothing written).
APPEND_ONE_EXPECTED = _append_one(*q.counter_guards("$11", "$4"))

#: Reserve `$2` numbers for session `$1` if its counter is `$3`. No row: no session, or another counter.
RESERVE_EXPECTED = f"""
WITH s AS (SELECT id FROM asm_sessions WHERE id = $1::text FOR KEY SHARE)
INSERT INTO asm_session_sequences AS q (session_id, last_sequence)
SELECT s.id, $2::bigint FROM s WHERE true{q.counter_guards("$3", "$1")[0]}
ON CONFLICT (session_id) DO UPDATE SET last_sequence = q.last_sequence + excluded.last_sequence
{q.counter_guards("$3", "$1")[1]}
RETURNING session_id, last_sequence
"""

#: Reserve numbers for every session of a batch at once (sorted: the lock order). No row: no session.
#: The sessions are key-share locked first, as in `APPEND_ONE`.
RESERVE_MANY = """
WITH s AS (SELECT id FROM asm_sessions WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE)
INSERT INTO asm_session_sequences AS q (session_id, last_sequence)
SELECT s.id, t.n FROM unnest($1::text[], $2::bigint[]) AS t(sid, n) JOIN s ON s.id = t.sid
ORDER BY s.id
ON CONFLICT (session_id) DO UPDATE SET last_sequence = q.last_sequence + excluded.last_sequence
RETURNING session_id, last_sequence
"""
EVENTS_BY_IDS = f"{q.EVENT_SELECT} WHERE id = ANY($1::text[])"
NOTIFY_MANY = f"SELECT pg_notify('{CHANNEL}', s) FROM unnest($1::text[]) AS s"
#: Listening connections name themselves so that writers can skip NOTIFY when nobody listens.
LISTENER_NAME = "asm-listener"
LISTENERS_PRESENT = (
    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
    f"WHERE datname = current_database() AND application_name = '{LISTENER_NAME}')"
)
#: How long a writer trusts its last look at whether anybody listens (seconds).
LISTENER_CHECK_INTERVAL = 1.0
TABLES = (
    "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = current_schema() AND table_name LIKE 'asm\\_%'"
)

_CONNECTION_LOST = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a protocol left in a broken state by a dropped connection
)
_REFUSED = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)


def refusal_in(exc: BaseException) -> BaseException | None:
    """The server's refusal of the role or database among `exc` and its causes (SQLAlchemy wraps it)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, _REFUSED):
            refusal: BaseException = seen
            return refusal
        wrapped = getattr(seen, "orig", None)
        seen = wrapped if isinstance(wrapped, BaseException) else seen.__cause__
    return None


def access_refused(url: str, exc: BaseException) -> StorageAccessRefused:
    """The error of a server that refused the role, its password or the database (not retryable)."""
    reason = str(exc)
    password = _password(url)
    if password:
        reason = reason.replace(password, "***")
    return StorageAccessRefused(
        f"PostgreSQL at {host_of(url)} refused access ({redact_url(url)}): {reason}",
        details={"host": host_of(url), "url": redact_url(url), "sqlstate": getattr(exc, "sqlstate", None)},
    )


class _Pool:
    """A minimal connection pool for the hot path: acquiring an idle connection costs no await.

    asyncpg's own pool costs an extra task per release and, by default, a `RESET ALL` round trip; the
    store never changes session state on its connections, so neither is needed. Even with `reset=`
    tuned away, asyncpg's pool (still one task per release) measured slower with 16 writers (by
    15-60%) and no faster for single appends (`python -m bench sql`, "our pool / asyncpg's"); `pool=`
    uses an application's anyway.
    Connections are opened lazily up to `size`; a broken one is dropped and replaced on the next
    acquire. Once closed, the pool opens nothing more and closes what operations still in flight give
    back.
    """

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[asyncpg.Connection] = []
        self._opened = 0
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection | None]] = collections.deque()
        self._closed = False

    async def acquire(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise StorageError("the PostgreSQL store is closed")
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._opened -= 1
            if self._opened < self._size:
                self._opened += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._opened -= 1
                    self._hand_over(None)
                    raise
            waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self.release(waiter.result())
                raise
            if handed is not None:
                return handed

    def release(self, connection: asyncpg.Connection | None, *, broken: bool = False) -> None:
        """Give `connection` back; a broken one (or one left in a transaction) is closed instead."""
        if connection is None:
            self._hand_over(None)
            return
        if broken or self._closed or connection.is_closed() or connection.is_in_transaction():
            connection.terminate()
            self._opened -= 1
            self._hand_over(None)
            return
        if not self._hand_over(connection):
            self._idle.append(connection)

    def _hand_over(self, connection: asyncpg.Connection | None) -> bool:
        """Wake the first live waiter with `connection` (None: "a slot is free, open one")."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def drop_idle(self) -> None:
        """Close idle connections (after the server dropped one, the others are likely gone too)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.terminate()
            self._opened -= 1

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)
            self._opened -= 1
        self._hand_over(None)  # a waiter wakes up and finds the pool closed


class _SharedPool:
    """An application's own asyncpg pool, used as the store's pool (`open_store(url, pool=...)`).

    The pool stays the application's: closing the store leaves it open. asyncpg releases a connection
    with a coroutine, so each release here is a task (awaited on close); pass `reset=` to
    `asyncpg.create_pool` to skip its `RESET ALL` round trip, which the store does not need.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._releasing: set[asyncio.Task[None]] = set()

    async def acquire(self) -> asyncpg.Connection:
        connection: asyncpg.Connection = await self._pool.acquire()
        return connection

    def release(self, connection: asyncpg.Connection | None, *, broken: bool = False) -> None:
        if connection is None:
            return
        if broken or connection.is_in_transaction():
            connection.terminate()
        task = asyncio.get_running_loop().create_task(self._pool.release(connection))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def drop_idle(self) -> None:
        """Nothing to do: asyncpg's pool replaces a closed connection when it is next acquired."""

    async def close(self) -> None:
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)


class PostgresSessionStore(SQLSessionStore):
    """The SQL session store on a PostgreSQL database."""

    backend: ClassVar[str] = "postgresql"
    dialect: ClassVar[Dialect] = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        pool_size: int,
        poll_interval: float,
        connect_timeout: float,
        pool: asyncpg.Pool | None = None,
        connect: Connect | None = None,
    ) -> None:
        super().__init__(url, poll_interval=poll_interval)
        self._dsn = postgres_dsn(url)
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._given_pool = pool
        self._given_connect = connect
        self._pool: _Pool | _SharedPool | None = None
        self._listener: asyncpg.Connection | None = None
        self._listening = asyncio.Lock()
        self._notifier: asyncpg.Connection | None = None
        self._notify_task: asyncio.Task[None] | None = None
        self._to_notify: set[str] = set()
        self._notify_wanted = asyncio.Event()
        self._listeners_checked = -LISTENER_CHECK_INTERVAL
        self._listeners_present = True

    @classmethod
    async def from_url(
        cls,
        url: str,
        *,
        migrate: bool = False,
        pool_size: int = DEFAULT_POOL_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        pool: asyncpg.Pool | None = None,
        connect: Connect | None = None,
    ) -> PostgresSessionStore:
        """Connect to `postgresql://user:password@host:port/db`.

        Args:
            url: the database; also what the listener and notifier connections of long-polls open
                (they hold session state, so they are always the store's own) and what migrations use.
            migrate: upgrade the schema first; otherwise a missing or outdated schema raises
                `migration_required`.
            pool_size: connections of the store's own pool.
            pool: an application's `asyncpg.Pool` to run every statement on instead of a pool of the
                store's own (left open when the store closes).
            connect: an async factory of `asyncpg.Connection`s for the store's own pool (instead of
                connecting to `url`), e.g. to set up codecs or SSL your way.

        Raises:
            ValidationError: a bad option, or both `pool` and `connect`.
            MigrationRequired, StorageConnectionFailed: as for `open_store`.

        Example:
            >>> app_pool = await asyncpg.create_pool(url, reset=no_reset)  # doctest: +SKIP
            >>> store = await open_store(url, pool=app_pool)  # doctest: +SKIP
        """
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValidationError("pool_size must be a positive integer", details={"field": "pool_size"})
        if pool is not None and connect is not None:
            raise ValidationError("give pool= or connect=, not both", details={"field": "pool"})
        if pool is not None and not isinstance(pool, asyncpg.Pool):
            raise ValidationError(
                f"pool must be an asyncpg.Pool, not {type(pool).__name__}", details={"field": "pool"}
            )
        if connect is not None and not callable(connect):
            raise ValidationError("connect must be an async function", details={"field": "connect"})
        store = cls(
            url,
            pool_size=pool_size,
            poll_interval=poll_interval,
            connect_timeout=connect_timeout,
            pool=pool,
            connect=connect,
        )
        if migrate:
            await migrations.upgrade_async(url)
        await store._start()
        return store

    # -- connections ----------------------------------------------------------------------------

    def _unreachable(self, exc: BaseException) -> StorageError:
        if isinstance(exc, _REFUSED):
            return access_refused(self.url, exc)
        host = host_of(self.url)
        reason = f"{type(exc).__name__}: {exc}"
        password = _password(self.url)
        if password:
            reason = reason.replace(password, "***")
        return StorageConnectionFailed(
            f"could not reach PostgreSQL at {host} ({redact_url(self.url)}): {reason}",
            details={"host": host, "url": redact_url(self.url)},
        )

    def _error(self, exc: asyncpg.PostgresError) -> ASMError:
        if isinstance(exc, asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError):
            return MigrationRequired(
                f"the database at {redact_url(self.url)} lacks part of the schema ({exc}); "
                "run `asm db upgrade`",
                details={"url": redact_url(self.url)},
            )
        if isinstance(exc, asyncpg.UniqueViolationError):
            return AlreadyExists(
                f"already exists: {exc.detail or exc}", details={"constraint": exc.constraint_name}
            )
        return StorageError(f"PostgreSQL failed: {exc.sqlstate} {exc}", details={"sqlstate": exc.sqlstate})

    async def _connect(self, **settings: str) -> asyncpg.Connection:
        try:
            connection = await asyncpg.connect(
                self._dsn, timeout=self._connect_timeout, server_settings=settings or None
            )
        except (*_CONNECTION_LOST, *_REFUSED) as exc:
            raise self._unreachable(exc) from exc
        return connection

    async def _pooled(self) -> asyncpg.Connection:
        """A new connection of the store's own pool: from `connect=` if given, else from the URL."""
        if self._given_connect is None:
            return await self._connect()
        try:
            return await self._given_connect()
        except (*_CONNECTION_LOST, *_REFUSED) as exc:
            raise self._unreachable(exc) from exc

    async def _start(self) -> None:
        if self._given_pool is not None:
            self._pool = _SharedPool(self._given_pool)
        else:
            self._pool = _Pool(self._pooled, self._pool_size)
        try:
            tables = {row[0] for row in await self._fetch(TABLES)}
            current = None
            if VERSION_TABLE in tables:
                version = await self._fetch(f"SELECT version_num FROM {VERSION_TABLE}")
                current = version[0][0] if version else None
            migrations.check_schema(self.url, current, tables)
        except BaseException:
            await self.close()
            raise

    async def _use(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `work` on a pooled connection, on a fresh one if the server dropped it."""
        if self._pool is None or self._closed:
            raise StorageError("the PostgreSQL store is closed", details={"url": redact_url(self.url)})
        pool = self._pool
        lost: BaseException | None = None
        for attempt in range(_ATTEMPTS):
            connection = await pool.acquire()
            try:
                result = await work(connection)
            except _CONNECTION_LOST as exc:
                pool.release(connection, broken=True)
                pool.drop_idle()
                lost = exc
                await asyncio.sleep(0.05 * attempt)
                continue
            except BaseException as exc:
                pool.release(connection)
                if isinstance(exc, _REFUSED):
                    raise self._unreachable(exc) from exc
                if isinstance(exc, asyncpg.PostgresError):
                    raise self._error(exc) from exc
                raise
            pool.release(connection)
            return result
        assert lost is not None
        raise self._unreachable(lost) from lost

    # -- primitives -----------------------------------------------------------------------------

    async def _read(self, sql: str, args: Sequence[Any], *, bounded: bool = True) -> list[Row]:
        rows: list[Row] = await self._use(lambda c: c.fetch(sql, *args))
        return rows

    async def _write(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return await self._read(sql, args)

    async def _transaction(self, steps: Sequence[tuple[str, Sequence[Any]]]) -> None:
        async def work(connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                for sql, args in steps:
                    await connection.execute(sql, *args)

        await self._use(work)

    async def append_event(self, event: Event, *, expected_sequence: int | None = None) -> Event:
        """One event, one statement: no batch planning on the most frequent call."""
        event = validated(event, Event)
        expected = expected_sequence_of(expected_sequence, [event])
        stored = await self._append_one(event, expected)
        self._wakeups.wake(event.session_id)
        return stored

    async def _append(self, batch: Batch, states: Sequence[StateChange] = ()) -> list[Event]:
        if len(batch.unique) == 1 and not states:
            stored = await self._append_one(batch.events[0], batch.expected)
            return [stored] * len(batch.events)
        now = utc_now()

        async def work(connection: asyncpg.Connection) -> list[Event]:
            async with connection.transaction():
                stored = await _append_batch(connection, batch) if batch.events else []
                for change in () if batch.is_retry() else states:
                    if await connection.fetchrow(*_state_statement(change, now)) is None:
                        await _state_refusal(connection, change)
                        raise refused_without_reason("state")
                return stored

        stored_events = await self._use(work)
        self._notify(batch)
        return stored_events

    async def _append_one(self, event: Event, expected: int | None) -> Event:
        params = event_params(POSTGRES, event, None)
        args = params[:5] + params[6:]
        sql = APPEND_ONE
        if expected is not None:
            sql, args = APPEND_ONE_EXPECTED, (*args, expected)
        for _ in range(_ATTEMPTS):
            try:
                rows = await self._use(lambda c: c.fetch(sql, *args))
            except AlreadyExists:
                continue  # the same id was inserted concurrently: read it on the next attempt
            kinds = {row[0]: row for row in rows}
            if "missing" in kinds:
                raise session_missing(event.session_id)
            if not kinds:
                raise sequence_conflict(expected or 0, await self.get_latest_sequence(event.session_id))
            if "new" in kinds:
                self._notify_session(event.session_id)
                return stored_event(event, kinds["new"][1])
            stored = event_from_row(POSTGRES, kinds["stored"][2:])
            if stored.session_id != event.session_id:
                raise AlreadyExists(
                    f"event {event.id!r} already exists in another session", details={"event_id": event.id}
                )
            return stored
        raise StorageError("append kept conflicting with concurrent appends of the same id")

    async def _delete_events(self, deletion: EventDeletion, sql: str, args: Sequence[Any]) -> int:
        session_id = deletion.session_id

        async def work(connection: asyncpg.Connection) -> int:
            async with connection.transaction():
                # A no-op counter upsert: locks the session (key share) and its counter row as appends do.
                if not await connection.fetch(RESERVE_MANY, [session_id], [0]):
                    raise session_missing(session_id)
                if deletion.expected is not None:
                    newest = await connection.fetchval(q.NEWEST_SEQUENCE, session_id)
                    if newest != deletion.expected:
                        raise newest_conflict(deletion.expected, newest)
                status: str = await connection.execute(sql, *args)
                return int(status.rsplit(" ", 1)[-1])

        return await self._use(work)

    async def _change_state(self, change: StateChange) -> State:
        now = utc_now()
        statement = _state_statement(change, now)
        for _ in range(_ATTEMPTS):
            row = await self._use(lambda c: c.fetchrow(*statement))
            if row is not None:
                value = change.delta.sets if change.replace else POSTGRES.json_out(row[1])
                return State(change.scope, value, row[0], now)
            await self._use(lambda c: _state_refusal(c, change))
        raise refused_without_reason("state")

    async def _flush(self, session: Session, run: Run | None, batch: Batch) -> list[Event]:
        session_args = session_params(POSTGRES, session)
        run_args = None if run is None else run_params(POSTGRES, run)

        async def work(connection: asyncpg.Connection) -> list[Event]:
            async with connection.transaction():
                if not await connection.fetch(q.UPSERT_SESSION, *session_args):
                    stored = await connection.fetchrow(q.SESSION_STATUS, session.id)
                    session_refusal(None if stored is None else stored[0], session)
                    raise refused_without_reason("session")
                if run is not None and not await connection.fetch(q.UPSERT_RUN, *(run_args or ())):
                    run_refusal(True, await connection.fetchrow(q.RUN_OWNER, run.id), run)
                    raise refused_without_reason("run")
                return await _append_batch(connection, batch) if batch.events else []

        stored = await self._use(work)
        self._notify(batch)
        return stored

    # -- notifications --------------------------------------------------------------------------

    def _notify(self, batch: Batch) -> None:
        for session_id in {event.session_id for event in batch.events}:
            self._notify_session(session_id)

    def _notify_session(self, session_id: str) -> None:
        """Queue a NOTIFY for `session_id`; the notifier task sends queued ids together."""
        if (
            not self._listeners_present
            and time.monotonic() - self._listeners_checked < LISTENER_CHECK_INTERVAL
        ):
            return
        self._to_notify.add(session_id)
        self._notify_wanted.set()
        if self._notify_task is None and not self._closed:
            self._notify_task = asyncio.get_running_loop().create_task(self._notify_loop())

    async def _notify_loop(self) -> None:
        """Send queued notifications until the store is closed and nothing is left to send."""
        while True:
            if not self._to_notify:
                if self._closed:
                    return
                await self._notify_wanted.wait()
                self._notify_wanted.clear()
                continue
            session_ids, self._to_notify = sorted(self._to_notify), set()
            try:
                await self._send_notifications(session_ids)
            except (ASMError, *_CONNECTION_LOST, asyncpg.PostgresError):
                notifier, self._notifier = self._notifier, None
                if notifier is not None:
                    notifier.terminate()  # listeners fall back to polling until the next notification

    async def _send_notifications(self, session_ids: list[str]) -> None:
        """NOTIFY, unless no connection of this database has listened for a while: then long-polls
        elsewhere find new events by polling, and appends pay nothing for notifications."""
        if self._notifier is None or self._notifier.is_closed():
            self._notifier = await self._connect(synchronous_commit="off")
        now = time.monotonic()
        if now - self._listeners_checked >= LISTENER_CHECK_INTERVAL:
            self._listeners_present = bool(await self._notifier.fetchval(LISTENERS_PRESENT))
            self._listeners_checked = now
        if self._listeners_present:
            await self._notifier.execute(NOTIFY_MANY, session_ids)

    async def _prepare_wait(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        async with self._listening:
            if self._listener is not None and not self._listener.is_closed():
                return
            listener = await self._connect(application_name=LISTENER_NAME)
            try:
                await listener.add_listener(CHANNEL, self._on_notification)
            except BaseException as exc:
                listener.terminate()
                if isinstance(exc, _CONNECTION_LOST):
                    raise self._unreachable(exc) from exc
                if isinstance(exc, asyncpg.PostgresError):
                    raise self._error(exc) from exc
                raise
            listener.add_termination_listener(self._on_listener_lost)
            self._listener = listener

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._wakeups.wake(payload)

    def _on_listener_lost(self, connection: Any) -> None:
        """Notifications may have been missed: every long-poll looks again (and listens anew)."""
        self._listener = None
        self._wakeups.wake_all()

    async def _shutdown(self) -> None:
        task, self._notify_task = self._notify_task, None
        if task is not None:
            self._notify_wanted.set()  # send what is queued, then stop
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task, self._connect_timeout)
        for connection in (self._listener, self._notifier):
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=5)
        self._listener = self._notifier = None
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


def _state_statement(change: StateChange, now: datetime) -> tuple[Any, ...]:
    """`(sql, *args)`: the one statement that applies `change` (six shapes, each prepared once).

    Without an expectation it is an upsert: the conflicting row is locked and re-read, so concurrent
    merges each apply to the latest value and none is lost. Expecting 0 it only inserts; expecting a
    version it only updates that version. The server computes the new value: a put's value, or the
    stored value minus the removed keys concatenated with the set keys (`||`: a shallow merge). A
    `session:` document is created only while its session exists, the session row `FOR KEY SHARE`-locked
    as in `APPEND_ONE`, so `delete_session` cannot miss it. No row returned: refused (`_state_refusal`).
    """
    args: list[Any] = [change.scope, POSTGRES.json_in(change.delta.sets)]

    def param(value: Any, cast: str) -> str:
        args.append(value)
        return f"${len(args)}::{cast}"

    at = param(now, "timestamptz")
    returning = "RETURNING s.version" + ("" if change.replace else ", s.value")

    def new_value(sets: str) -> str:
        return sets if change.replace else f"(s.value - {param(change.delta.removes, 'text[]')}) || {sets}"

    if change.expected:
        sql = (
            f"UPDATE asm_states AS s SET value = {new_value('$2::jsonb')}, version = s.version + 1, "
            f"updated_at = {at} WHERE s.scope = $1 AND s.version = {param(change.expected, 'bigint')} "
            f"{returning}"
        )
        return (sql, *args)
    session = param(change.session_id, "text")
    insert = (
        "INSERT INTO asm_states AS s (scope, value, version, updated_at) "
        f"SELECT $1::text, $2::jsonb, 1, {at} WHERE {session} IS NULL "
        f"OR EXISTS (SELECT 1 FROM asm_sessions WHERE id = {session} FOR KEY SHARE)"
    )
    if change.expected == 0:
        return (f"{insert} ON CONFLICT (scope) DO NOTHING {returning}", *args)
    sql = (
        f"{insert} ON CONFLICT (scope) DO UPDATE SET value = {new_value('excluded.value')}, "
        f"version = s.version + 1, updated_at = excluded.updated_at {returning}"
    )
    return (sql, *args)


async def _state_refusal(connection: asyncpg.Connection, change: StateChange) -> None:
    """Raise why a state statement returned no row, read in the caller's connection."""
    stored = await connection.fetchrow(q.STATE_VERSION, change.scope)
    exists = change.session_id is None or await connection.fetchrow(q.SESSION_EXISTS, change.session_id)
    change.refusal(0 if stored is None else stored[0], bool(exists))


def _password(url: str) -> str | None:
    password = urlsplit(url).password
    return unquote(password) if password else None


async def _write_new(connection: asyncpg.Connection, batch: Batch) -> list[Event]:
    counts = batch.counts()
    if batch.expected is not None and counts:
        [(session_id, count)] = counts.items()
        rows = await connection.fetch(RESERVE_EXPECTED, session_id, count, batch.expected)
        if not rows:
            return await _refused(connection, batch, session_id)
    else:
        rows = await connection.fetch(RESERVE_MANY, list(counts), list(counts.values()))
    last = {row[0]: row[1] for row in rows}
    for session_id in counts:
        if session_id not in last:
            raise session_missing(session_id)
    params, stored = batch.number(last)
    await connection.copy_records_to_table("asm_events", records=params, columns=EVENT_COLUMNS)
    return stored


async def _refused(connection: asyncpg.Connection, batch: Batch, session_id: str) -> list[Event]:
    """The counter was not the batch's expectation (or the session is gone): nothing new is written;
    the stored events, if every id is stored already, else `conflict` (see `Batch.refuse`)."""
    latest = await connection.fetchrow(q.LATEST_SEQUENCE, session_id)
    if latest is None:
        raise session_missing(session_id)
    rows = await connection.fetch(EVENTS_BY_IDS, list(batch.unique))
    batch.resolve([event_from_row(POSTGRES, row) for row in rows])
    batch.refuse(int(latest[0] or 0))
    return []


async def _append_batch(connection: asyncpg.Connection, batch: Batch) -> list[Event]:
    """Optimistic append inside the caller's transaction (see `batch.py`)."""
    try:
        async with connection.transaction():
            written = await _write_new(connection, batch)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "asm_events_pkey":
            raise
        rows = await connection.fetch(EVENTS_BY_IDS, list(batch.unique))
        batch.resolve([event_from_row(POSTGRES, row) for row in rows])
        written = await _write_new(connection, batch)
    return batch.result(written)
