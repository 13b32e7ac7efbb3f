"""`SQLiteSessionStore`: the embedded default (`sqlite:///./.asm/asm.db`), no server needed.

* WAL mode, so readers never wait for the writer; a busy timeout (default 10 s, `?busy_timeout=`), so a
  writer waits for another process's write instead of failing ("database is locked" only surfaces, as a
  retryable `timeout` error, once that time has passed).
* `synchronous=NORMAL` by default: a commit is atomic and consistent, and survives a crash of the
  process, but the last commits before a power loss or OS crash may be lost (WAL is fsynced at
  checkpoints, not per commit). `?synchronous=FULL` fsyncs the WAL on every commit (about 3x slower
  per single append).
* No await per statement: an operation's statements run together, in one place. A write is one
  `BEGIN IMMEDIATE` ... `COMMIT` on a writer thread that owns its connection (one thread hop, ~60 µs
  here), except that small writes (up to 128 events) and bounded reads (a page, one row) run directly
  on the event loop's thread when they need not wait: that connection has no busy timeout, so when
  another writer holds the lock the work goes to the writer thread, which waits for it. Such inline
  work takes tens of microseconds, less than the hop around it would (bench/README.md). Inline commits
  skip automatic checkpoints; the writer thread runs passive ones, and keeps the WAL file under
  `?wal_limit=` bytes (default 64 MiB) by truncating it once it passes half of that (`_committed`).
  `?inline=0` sends everything through
  the threads; `synchronous=FULL` does so anyway (an fsync per commit must not block the loop).
* Long-polls wake at once for appends made through this store, and poll (`?poll_interval=`, default 0.1 s)
  for appends made by other processes or other stores on the same file.
* Sequence numbers stay gapless across processes: the counter upsert and the inserts happen inside one
  `BEGIN IMMEDIATE` transaction, which SQLite serialises across every connection to the file.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ...core.clock import utc_now
from ...core.errors import AlreadyExists, ASMError, MigrationRequired, StorageError, Timeout, ValidationError
from ...core.models import Event, Run, Session
from ...core.urls import check_options
from ..base import EventDeletion, newest_conflict
from ..state import State, StateChange
from . import migrations
from . import statements as q
from .batch import Batch
from .dialect import SQLITE, Dialect
from .rows import (
    Row,
    event_from_row,
    run_params,
    session_params,
)
from .schema import VERSION_TABLE
from .store import SQLSessionStore, refused_without_reason, run_refusal, session_missing, session_refusal
from .urls import sqlite_location

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT = 10.0
DEFAULT_POLL_INTERVAL = 0.1
DEFAULT_READERS = 2
#: The bound on the WAL file (`?wal_limit=` bytes): past half of it, the writer thread checkpoints
#: the WAL and truncates it, waiting for readers if it must (up to the busy timeout).
DEFAULT_WAL_LIMIT = 64 << 20
#: Commits between two looks at the WAL's size (one `stat`).
_WAL_CHECK_EVERY = 4
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_EVENTS_BY_IDS = SQLITE.sql(f"{q.EVENT_SELECT} WHERE id IN (SELECT value FROM json_each($1))")
_RESERVE = SQLITE.sql(q.RESERVE_SEQUENCES)
_LATEST_SEQUENCE = SQLITE.sql(q.LATEST_SEQUENCE)
_RESERVE_EXPECTED = SQLITE.sql(q.RESERVE_EXPECTED_SEQUENCES)
_NEWEST_SEQUENCE = SQLITE.sql(q.NEWEST_SEQUENCE)
_INSERT_EVENT = SQLITE.sql(q.INSERT_EVENT)
#: Appends of at most this many events may run on the event loop's thread (see `_in_transaction`).
_INLINE_EVENTS = 128
#: Inline commits between two passive checkpoints run by the writer thread.
_CHECKPOINT_EVERY = 256
_UPSERT_SESSION = SQLITE.sql(q.UPSERT_SESSION)
_UPSERT_RUN = SQLITE.sql(q.UPSERT_RUN)
_GET_STATE = SQLITE.sql(q.GET_STATE)
_WRITE_STATE = SQLITE.sql(q.WRITE_STATE)
_SESSION_EXISTS = SQLITE.sql(q.SESSION_EXISTS)

#: What a `sqlite:///` URL may set in its query.
_URL_OPTIONS = ("synchronous", "busy_timeout", "poll_interval", "readers", "inline")


class _Threads:
    """Threads that each own one sqlite3 connection and run jobs `fn(connection)` from one queue.

    A job's result (or exception) is handed to the awaiting coroutine with one `call_soon_threadsafe`.
    """

    def __init__(self, name: str, count: int, connect: Callable[[], sqlite3.Connection]) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._connect = connect
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(count)
        ]
        self._started = threading.Barrier(count + 1)
        self._failure: BaseException | None = None
        for thread in self._threads:
            thread.start()
        self._started.wait()
        if self._failure is not None:
            self.stop()
            raise self._failure

    def _serve(self) -> None:
        try:
            connection = self._connect()
        except BaseException as exc:
            self._failure = exc
            self._started.wait()
            return
        self._started.wait()
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                loop, future, fn = job
                try:
                    result = fn(connection)
                except BaseException as exc:
                    loop.call_soon_threadsafe(_fail, future, exc)
                else:
                    loop.call_soon_threadsafe(_succeed, future, result)
        finally:
            connection.close()

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn))
        return future

    def stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class SQLiteSessionStore(SQLSessionStore):
    """The SQL session store on one SQLite file."""

    backend: ClassVar[str] = "sqlite"
    dialect: ClassVar[Dialect] = SQLITE

    def __init__(
        self,
        url: str,
        path: Path,
        *,
        synchronous: str,
        busy_timeout: float,
        readers: int,
        poll_interval: float,
        inline: bool,
        wal_limit: int = DEFAULT_WAL_LIMIT,
    ) -> None:
        super().__init__(url, poll_interval=poll_interval)
        self.wal_limit = wal_limit
        self._wal = Path(f"{path}-wal")
        self._commits = 0
        self._truncating = False
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._writer: _Threads | None = None
        self._readers: _Threads | None = None
        self._readers_count = readers
        self.inline = inline and synchronous in ("OFF", "NORMAL")
        self._inline: sqlite3.Connection | None = None
        self._inline_commits = 0

    @classmethod
    async def from_url(
        cls,
        url: str,
        *,
        migrate: bool = False,
        synchronous: str | None = None,
        busy_timeout: float | None = None,
        readers: int | None = None,
        poll_interval: float | None = None,
        inline: bool | None = None,
        wal_limit: int | None = None,
    ) -> SQLiteSessionStore:
        """Open `sqlite:///path?synchronous=NORMAL|FULL&busy_timeout=SECONDS&poll_interval=SECONDS`.

        `migrate=True` creates or upgrades the schema first; without it a missing or outdated schema
        raises `migration_required`.
        """
        path, query = sqlite_location(url)
        check_options(
            query,
            ("synchronous", "busy_timeout", "poll_interval", "readers", "inline", "wal_limit"),
            "SQLite URL",
        )
        mode = (synchronous or query.get("synchronous") or "NORMAL").upper()
        if mode not in _SYNCHRONOUS:
            raise ValidationError(
                f"synchronous must be one of {_SYNCHRONOUS}", details={"field": "synchronous"}
            )
        store = cls(
            url,
            path,
            synchronous=mode,
            busy_timeout=_number(busy_timeout, query, "busy_timeout", DEFAULT_BUSY_TIMEOUT),
            readers=int(_number(readers, query, "readers", DEFAULT_READERS)),
            poll_interval=_number(poll_interval, query, "poll_interval", DEFAULT_POLL_INTERVAL),
            inline=inline
            if inline is not None
            else query.get("inline", "1").lower() not in ("0", "false", "no"),
            wal_limit=int(_number(wal_limit, query, "wal_limit", DEFAULT_WAL_LIMIT)),
        )
        if migrate:
            await migrations.upgrade_async(url)
        elif not path.exists():
            migrations.check_schema(url, None, ())
        await store._start()
        return store

    async def _start(self) -> None:
        try:
            self._writer = await asyncio.to_thread(_Threads, "asm-sqlite-writer", 1, self._connect_writer)
            self._readers = await asyncio.to_thread(
                _Threads, "asm-sqlite-reader", self._readers_count, self._connect
            )
            if self.inline:
                self._inline = self._connect(busy_timeout=0.0)
                self._inline.execute("PRAGMA wal_autocheckpoint=0")
            rows = await self._fetch(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'asm\\_%' ESCAPE '\\'"
            )
            tables = {row[0] for row in rows}
            current = None
            if VERSION_TABLE in tables:
                version = await self._fetch(f"SELECT version_num FROM {VERSION_TABLE}")
                current = version[0][0] if version else None
            migrations.check_schema(self.url, current, tables)
        except BaseException:
            await self.close()
            raise

    def _connect(self, busy_timeout: float | None = None) -> sqlite3.Connection:
        timeout = self.busy_timeout if busy_timeout is None else busy_timeout
        try:
            connection = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        return connection

    def _connect_writer(self) -> sqlite3.Connection:
        connection = self._connect()
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            connection.close()
            raise self._error(exc) from exc
        return connection

    # -- jobs -----------------------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error) -> ASMError:
        text = str(exc)
        where = str(self.path)
        if _busy(exc):
            return Timeout(
                f"the SQLite database {where} stayed locked by another writer for more than "
                f"{self.busy_timeout:g} s (busy_timeout)",
                details={"path": where},
            )
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in text:
            return AlreadyExists(f"already exists: {text}", details={"path": where})
        if "no such table" in text or "no such column" in text:
            return MigrationRequired(
                f"the SQLite database {where} lacks part of the schema ({text}); run `asm db upgrade`",
                details={"path": where},
            )
        return StorageError(f"SQLite failed on {where}: {text}", details={"path": where})

    async def _job(self, threads: _Threads | None, fn: Callable[[sqlite3.Connection], T]) -> T:
        if threads is None or self._closed:
            raise StorageError("the SQLite store is closed", details={"path": str(self.path)})
        try:
            return await threads.run(fn)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    async def _in_transaction(self, fn: Callable[[sqlite3.Connection], T], *, small: bool = True) -> T:
        """Run `fn` inside `BEGIN IMMEDIATE` ... `COMMIT` (rolled back on error): on the event loop's
        thread when the write lock is free at once and the work is small, else on the writer thread."""
        if small and self._inline is not None and not self._closed and not self._truncating:
            try:
                done = _try_transaction(self._inline, fn)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            if done:
                self._after_inline_commit()
                self._committed()
                return done[0]
        result = await self._job(self._writer, lambda connection: _transaction(connection, fn))
        self._committed()
        return result

    def _after_inline_commit(self) -> None:
        """Inline commits skip automatic checkpoints (they could block the loop for milliseconds); every
        `_CHECKPOINT_EVERY` of them, the writer thread runs a passive checkpoint instead."""
        self._inline_commits += 1
        if self._inline_commits % _CHECKPOINT_EVERY == 0 and self._writer is not None:
            self._writer.run(_checkpoint).add_done_callback(_ignore)

    def _committed(self) -> None:
        """Keep the WAL under `wal_limit`: every `_WAL_CHECK_EVERY` commits, look at its size; past half
        the bound, the writer thread checkpoints it and truncates it to zero bytes.

        `TRUNCATE` waits, up to the busy timeout, for readers still using the WAL (if they outlast that,
        the next look tries again); meanwhile writes queue behind it on the writer thread instead of
        running inline, which would keep it waiting for the write lock. Passive checkpoints alone never
        shrink the file, and a WAL that is never reset only grows (409 MB next to a 15 MB database
        after 6,000 turns, before this).
        """
        self._commits += 1
        if self._commits % _WAL_CHECK_EVERY or self._truncating or self._writer is None:
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size > self.wal_limit // 2:
            self._truncating = True
            self._writer.run(_truncate_wal).add_done_callback(self._truncated)

    def _truncated(self, future: asyncio.Future[Any]) -> None:
        self._truncating = False
        _ignore(future)

    async def _read(self, sql: str, args: Sequence[Any], *, bounded: bool = True) -> list[Row]:
        if bounded and self._inline is not None and not self._closed:
            try:
                return self._inline.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise self._error(exc) from exc
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
        return await self._job(self._readers, lambda c: c.execute(sql, args).fetchall())

    async def _write(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return await self._in_transaction(lambda c: c.execute(sql, args).fetchall())

    async def _transaction(self, steps: Sequence[tuple[str, Sequence[Any]]]) -> None:
        def run(connection: sqlite3.Connection) -> None:
            for sql, args in steps:
                connection.execute(sql, args)

        await self._in_transaction(run, small=False)  # e.g. a cascade over a large session

    async def _append(self, batch: Batch, states: Sequence[StateChange] = ()) -> list[Event]:
        def work(connection: sqlite3.Connection) -> list[Event]:
            stored = _append_batch(connection, batch) if batch.events else []
            if not batch.is_retry():
                _write_states(connection, states)
            return stored

        return await self._in_transaction(work, small=len(batch.unique) <= _INLINE_EVENTS)

    async def _change_state(self, change: StateChange) -> State:
        return (await self._in_transaction(lambda c: _write_states(c, [change])))[0]

    async def _delete_events(self, deletion: EventDeletion, sql: str, args: Sequence[Any]) -> int:
        def work(connection: sqlite3.Connection) -> int:
            if connection.execute(_RESERVE, (deletion.session_id, 0)).fetchone() is None:
                raise session_missing(deletion.session_id)
            if deletion.expected is not None:
                newest = connection.execute(_NEWEST_SEQUENCE, (deletion.session_id,)).fetchone()[0]
                if newest != deletion.expected:
                    raise newest_conflict(deletion.expected, newest)
            return connection.execute(sql, args).rowcount

        small = deletion.ids is not None and len(deletion.ids) <= _INLINE_EVENTS
        return await self._in_transaction(work, small=small)

    async def _flush(self, session: Session, run: Run | None, batch: Batch) -> list[Event]:
        session_args = session_params(SQLITE, session)

        def work(connection: sqlite3.Connection) -> list[Event]:
            if not connection.execute(_UPSERT_SESSION, session_args).fetchall():
                stored = connection.execute(self._q(q.SESSION_STATUS), (session.id,)).fetchone()
                session_refusal(None if stored is None else stored[0], session)
                raise refused_without_reason("session")
            if run is not None and not connection.execute(_UPSERT_RUN, run_params(SQLITE, run)).fetchall():
                owner = connection.execute(self._q(q.RUN_OWNER), (run.id,)).fetchone()
                run_refusal(True, owner, run)
                raise refused_without_reason("run")
            return _append_batch(connection, batch) if batch.events else []

        return await self._in_transaction(work, small=len(batch.unique) <= _INLINE_EVENTS)

    async def _shutdown(self) -> None:
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        writer, readers, self._writer, self._readers = self._writer, self._readers, None, None
        for threads in (writer, readers):
            if threads is not None:
                await asyncio.to_thread(threads.stop)


def _busy(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _finish(connection: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` in the transaction just begun, and commit; roll back if anything fails."""
    try:
        result = fn(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


def _transaction(connection: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn` in a write transaction, waiting up to the busy timeout for the write lock."""
    connection.execute("BEGIN IMMEDIATE")
    return _finish(connection, fn)


def _try_transaction(connection: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> list[T]:
    """`[result]` after running `fn` in a write transaction, or `[]` at once if another connection
    holds the write lock (`connection` has no busy timeout)."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            return []
        raise
    return [_finish(connection, fn)]


def _checkpoint(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _truncate_wal(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _ignore(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _number(given: float | None, query: dict[str, str], name: str, default: float) -> float:
    raw: Any = given if given is not None else query.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number", details={"field": name}) from None
    if value <= 0:
        raise ValidationError(f"{name} must be positive", details={"field": name})
    return value


def _refused(connection: sqlite3.Connection, batch: Batch, session_id: str) -> None:
    """The counter was not the batch's expectation (or the session is gone): the stored events of the
    batch's ids are resolved and, unless all are stored (a retry), `conflict` is raised."""
    row = connection.execute(_LATEST_SEQUENCE, (session_id,)).fetchone()
    if row is None:
        raise session_missing(session_id)
    ids = SQLITE.json_in(list(batch.unique))
    batch.resolve([event_from_row(SQLITE, row) for row in connection.execute(_EVENTS_BY_IDS, (ids,))])
    batch.refuse(int(row[0] or 0))


def _write_new(connection: sqlite3.Connection, batch: Batch) -> list[Event]:
    """Reserve numbers per session and insert the batch's new events (inside the caller's transaction);
    with an expectation, the reservation is conditional on the counter (one statement either way)."""
    counts = batch.counts()
    last: dict[str, int] = {}
    if batch.expected is not None and counts:
        [(session_id, count)] = counts.items()
        row = connection.execute(_RESERVE_EXPECTED, (session_id, count, batch.expected)).fetchone()
        if row is None:
            _refused(connection, batch, session_id)
            return []
        counts = {}
        last[session_id] = row[0]
    for session_id, count in counts.items():
        row = connection.execute(_RESERVE, (session_id, count)).fetchone()
        if row is None:
            raise session_missing(session_id)
        last[session_id] = row[0]
    params, stored = batch.number(last)
    connection.executemany(_INSERT_EVENT, params)
    return stored


def _write_states(connection: sqlite3.Connection, changes: Sequence[StateChange]) -> list[State]:
    """Apply state changes inside the caller's write transaction: read each stored document, check the
    expectation, compute the new value here and write it. `BEGIN IMMEDIATE` serialises writers across
    processes, so nothing can change in between (no lost update)."""
    now = utc_now()
    written: list[State] = []
    for change in changes:
        row = connection.execute(_GET_STATE, (change.scope,)).fetchone()
        version = 0 if row is None else int(row[2])
        session_id = change.session_id
        exists = (
            version > 0
            or session_id is None
            or bool(connection.execute(_SESSION_EXISTS, (session_id,)).fetchone())
        )
        change.refusal(version, exists)
        value = change.value_after(None if row is None else SQLITE.json_out(row[1]))
        connection.execute(
            _WRITE_STATE, (change.scope, SQLITE.json_in(value), version + 1, SQLITE.timestamp_in(now))
        )
        written.append(State(change.scope, value, version + 1, now))
    return written


def _append_batch(connection: sqlite3.Connection, batch: Batch) -> list[Event]:
    """Optimistic append (see `batch.py`): on an existing id, undo, read the stored events, write the rest."""
    connection.execute("SAVEPOINT asm_append")
    try:
        written = _write_new(connection, batch)
    except sqlite3.IntegrityError as exc:
        connection.execute("ROLLBACK TO asm_append")
        connection.execute("RELEASE asm_append")
        if "asm_events.id" not in str(exc):
            raise
        ids = SQLITE.json_in(list(batch.unique))
        batch.resolve([event_from_row(SQLITE, row) for row in connection.execute(_EVENTS_BY_IDS, (ids,))])
        written = _write_new(connection, batch)
    else:
        connection.execute("RELEASE asm_append")
    return batch.result(written)
