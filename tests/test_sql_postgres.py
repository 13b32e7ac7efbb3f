"""The PostgreSQL store passes the whole SessionStore contract, plus connection loss and bad URLs."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agent_session_manager import (
    Event,
    EventType,
    Session,
    SessionNotFound,
    StorageAccessRefused,
    StorageConnectionFailed,
    ValidationError,
    open_store,
)
from agent_session_manager.sessions.base import EventQuery, SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.dialect import POSTGRES
from agent_session_manager.sessions.sql.postgres import APPEND_ONE, PostgresSessionStore
from agent_session_manager.sessions.sql.rows import event_params
from agent_session_manager.sessions.sql.schema import TABLE_NAMES
from agent_session_manager.sessions.sql.statements import DELETE_SESSION, SESSION_SELECT
from agent_session_manager.sessions.sql.store import events_query
from agent_session_manager.testing import SessionStoreContract

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="session")
def pg_store_url(postgres_url: str) -> str:
    """The test database, migrated once."""
    migrations.upgrade(postgres_url)
    return postgres_url


async def _truncate(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
    finally:
        await connection.close()


class TestPostgresSessionStore(SessionStoreContract):
    backend = "postgresql"

    @pytest.fixture(autouse=True)
    def _database(self, pg_store_url: str) -> None:
        self.url = pg_store_url

    async def new_store(self) -> SessionStore:
        await _truncate(self.url)
        return await open_store(self.url)

    def shared_url(self) -> str:
        return self.url


@pytest.fixture
async def pg_store(pg_store_url: str) -> AsyncIterator[PostgresSessionStore]:
    await _truncate(pg_store_url)
    store = await open_store(pg_store_url)
    assert isinstance(store, PostgresSessionStore)
    try:
        yield store
    finally:
        await store.close()


async def test_open_store_postgresql_is_the_postgres_backend(pg_store: PostgresSessionStore) -> None:
    assert isinstance(pg_store, SessionStore)


async def _terminate_backends(url: str) -> int:
    """Drop every other connection to the test database, as a server restart or failover would."""
    connection = await asyncpg.connect(url)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await connection.close()


async def test_after_the_server_drops_connections_the_next_call_reconnects(
    pg_store: PostgresSessionStore, pg_store_url: str
) -> None:
    session = await pg_store.save_session(Session(agent_id="a"))
    first = await pg_store.append_events(
        [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(3)]
    )
    assert await _terminate_backends(pg_store_url) >= 1
    after = await pg_store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
    assert after.sequence_number == 4
    assert [e.id for e in await pg_store.get_events(session.id)] == [*(e.id for e in first), after.id]


async def test_no_acknowledged_event_is_lost_while_connections_drop(
    pg_store: PostgresSessionStore, pg_store_url: str
) -> None:
    session = await pg_store.save_session(Session(agent_id="a"))
    acked: dict[str, int] = {}
    failures: list[StorageConnectionFailed] = []

    async def writer() -> None:
        for _ in range(100):
            try:
                stored = await pg_store.append_event(
                    Event(type=EventType.MESSAGE_SENT, session_id=session.id)
                )
            except StorageConnectionFailed as exc:
                failures.append(exc)
                continue
            acked[stored.id] = stored.sequence_number or 0

    async def saboteur() -> None:
        for _ in range(3):
            await asyncio.sleep(0.05)
            await _terminate_backends(pg_store_url)

    await asyncio.gather(writer(), writer(), writer(), saboteur())
    stored = {e.id: e.sequence_number for e in await pg_store.get_events(session.id)}
    assert all(stored.get(event_id) == seq for event_id, seq in acked.items())
    assert sorted(stored.values()) == list(range(1, len(stored) + 1))
    assert all(f.retryable and f.code == "storage_connection_failed" for f in failures)


async def test_long_poll_survives_a_dropped_listener(
    pg_store: PostgresSessionStore, pg_store_url: str
) -> None:
    session = await pg_store.save_session(Session(agent_id="a"))
    await pg_store.get_events(session.id, wait=0.05)
    await _terminate_backends(pg_store_url)
    waiter = asyncio.create_task(pg_store.get_events(session.id, wait=20))
    await asyncio.sleep(0.2)
    async with await open_store(pg_store_url) as other:
        await other.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
    got = await asyncio.wait_for(waiter, 25)
    assert [e.sequence_number for e in got] == [1]


async def test_an_unreachable_server_is_a_retryable_connection_error() -> None:
    with pytest.raises(StorageConnectionFailed) as info:
        await open_store("postgresql://asm:hunter2-secret@127.0.0.1:1/db", connect_timeout=5)
    error = info.value
    assert error.code == "storage_connection_failed" and error.retryable
    assert "127.0.0.1:1" in error.message
    shown = f"{error} {error!r} {error.details} {error.to_dict()}"
    assert "hunter2" not in shown
    assert "***" in error.message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://no_such_role_x:hunter2-secret@127.0.0.1:5432/postgres", "no_such_role_x"),
        ("postgresql://postgres:hunter2-secret@127.0.0.1:5432/no_such_db_x", "no_such_db_x"),
    ],
)
@pytest.mark.parametrize("migrate", [False, True])
async def test_a_refused_role_or_database_is_one_non_retryable_error(
    url: str, says: str, migrate: bool
) -> None:
    with pytest.raises(StorageAccessRefused) as info:
        await open_store(url, migrate=migrate, connect_timeout=5)
    error = info.value
    assert error.code == "storage_access_refused" and not error.retryable
    assert says in error.message and "127.0.0.1:5432" in error.message
    shown = f"{error} {error!r} {error.details} {error.to_dict()}"
    assert "hunter2" not in shown


async def test_event_pages_and_session_pages_are_index_range_scans(
    pg_store: PostgresSessionStore, pg_store_url: str
) -> None:
    sessions = [await pg_store.save_session(Session(agent_id="a")) for _ in range(20)]
    for session in sessions:
        await pg_store.append_events(
            [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(200)]
        )
    events_sql, events_args = events_query(EventQuery.build(sessions[3].id, after=150, limit=10), POSTGRES)
    connection = await asyncpg.connect(pg_store_url)
    try:
        await connection.execute(
            "INSERT INTO asm_sessions (id, agent_id, status, tags, created_at, updated_at) "
            "SELECT 'ses_bulk_' || g, 'a', 'pending', '{}', now() + g * interval '1 ms', now() "
            "FROM generate_series(1, 5000) AS g; ANALYZE asm_events; ANALYZE asm_sessions"
        )
        plan = "\n".join(row[0] for row in await connection.fetch(f"EXPLAIN {events_sql}", *events_args))
        assert "Index Scan using asm_events_session_id_sequence_number" in plan, plan
        assert "Sort" not in plan, plan
        sessions_sql = f"{SESSION_SELECT} WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3"
        rows = await connection.fetch(f"EXPLAIN {sessions_sql}", sessions[10].created_at, sessions[10].id, 5)
        plan = "\n".join(row[0] for row in rows)
        assert "asm_sessions_created_at_id" in plan and "Sort" not in plan, plan
    finally:
        await connection.close()


async def _session_rows(url: str, session_id: str) -> dict[str, int]:
    """How many rows each table still holds for `session_id`."""
    connection = await asyncpg.connect(url)
    try:
        return {
            table: int(
                await connection.fetchval(f"SELECT count(*) FROM {table} WHERE session_id = $1", session_id)
            )
            for table in ("asm_events", "asm_session_sequences")
        }
    finally:
        await connection.close()


@pytest.mark.parametrize("batch", [False, True], ids=["append_event", "append_events"])
async def test_an_append_that_meets_a_delete_in_progress_finds_no_session(
    pg_store: PostgresSessionStore, pg_store_url: str, batch: bool
) -> None:
    """The append starts while the delete's transaction is open (its snapshot still shows the
    session) and must wait for it, then refuse, leaving no orphan event or counter behind."""
    session = await pg_store.save_session(Session(agent_id="a"))
    await pg_store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
    events = [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(3 if batch else 1)]
    deleter = await asyncpg.connect(pg_store_url)
    try:
        transaction = deleter.transaction()
        await transaction.start()
        for sql in DELETE_SESSION:
            await deleter.execute(sql, session.id)
        appending = asyncio.create_task(
            pg_store.append_events(events) if batch else pg_store.append_event(events[0])
        )
        await asyncio.sleep(0.3)
        await transaction.commit()
        with pytest.raises(SessionNotFound):
            await appending
    finally:
        await deleter.close()
    assert await _session_rows(pg_store_url, session.id) == {"asm_events": 0, "asm_session_sequences": 0}


async def test_a_delete_that_meets_an_append_in_progress_removes_its_event(
    pg_store: PostgresSessionStore, pg_store_url: str
) -> None:
    """The delete starts while an append's transaction is open and must remove the appended event too."""
    session = await pg_store.save_session(Session(agent_id="a"))
    event = Event(type=EventType.MESSAGE_SENT, session_id=session.id)
    params = event_params(POSTGRES, event, None)
    appender = await asyncpg.connect(pg_store_url)
    try:
        transaction = appender.transaction()
        await transaction.start()
        await appender.fetch(APPEND_ONE, *params[:5], *params[6:])
        delete = asyncio.create_task(pg_store.delete_session(session.id))
        await asyncio.sleep(0.3)
        await transaction.commit()
        await delete
    finally:
        await appender.close()
    assert await _session_rows(pg_store_url, session.id) == {"asm_events": 0, "asm_session_sequences": 0}


async def test_closing_with_operations_in_flight_leaves_no_connection_open(pg_store_url: str) -> None:
    """An operation still running when the store closes gives its connection back afterwards: closed,
    not parked in a pool that nobody will close again (asyncpg warns of such a connection when the
    garbage collector finds it)."""
    store = await open_store(pg_store_url, pool_size=4)
    assert isinstance(store, PostgresSessionStore)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        slow = [asyncio.create_task(store._use(lambda c: c.fetch("SELECT pg_sleep(0.3)"))) for _ in range(3)]
        await asyncio.sleep(0.1)
        await store.close()
        await asyncio.gather(*slow)
        del slow, store
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_a_listener_lost_while_it_starts_listening_is_a_connection_error(
    pg_store: PostgresSessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the listening connection dies between connecting and LISTEN."""
    session = await pg_store.save_session(Session(agent_id="a"))
    connect = pg_store._connect
    opened: list[asyncpg.Connection] = []

    async def dying(**settings: str) -> asyncpg.Connection:
        connection = await connect(**settings)
        opened.append(connection)
        await _terminate_backends(pg_store.url)
        return connection

    monkeypatch.setattr(pg_store, "_connect", dying)
    with pytest.raises(StorageConnectionFailed) as info:
        await pg_store.get_events(session.id, wait=1)
    assert isinstance(info.value.__cause__, Exception)
    assert all(connection.is_closed() for connection in opened)
    monkeypatch.undo()
    assert await pg_store.get_events(session.id, wait=0.05) == []


async def _no_reset(connection: asyncpg.Connection) -> None:
    """asyncpg's `reset=`: the store changes no session state, so nothing needs resetting."""


async def test_an_application_pool_runs_every_statement_and_stays_open(pg_store_url: str) -> None:
    await _truncate(pg_store_url)
    pool = await asyncpg.create_pool(pg_store_url, min_size=1, max_size=3, reset=_no_reset)
    try:
        async with await open_store(pg_store_url, pool=pool) as store:
            sessions = [await store.save_session(Session(agent_id="app")) for _ in range(8)]

            async def chat(session: Session) -> None:
                for n in range(10):
                    await store.append_event(
                        Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={"n": n})
                    )

            await asyncio.gather(*(chat(s) for s in sessions))
            assert [len(await store.get_events(s.id)) for s in sessions] == [10] * 8
            assert len((await store.list_sessions(agent_id="app")).items) == 8
        assert await pool.fetchval("SELECT count(*) FROM asm_events") == 80
    finally:
        await pool.close()


async def test_a_connection_factory_opens_the_store_pool(pg_store_url: str) -> None:
    await _truncate(pg_store_url)
    opened: list[asyncpg.Connection] = []

    async def connect() -> asyncpg.Connection:
        connection = await asyncpg.connect(pg_store_url)
        opened.append(connection)
        return connection

    async with await open_store(pg_store_url, connect=connect, pool_size=2) as store:
        session = await store.save_session(Session(agent_id="factory"))
        await asyncio.gather(
            *(store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id)) for _ in range(6))
        )
        assert [e.sequence_number for e in await store.get_events(session.id)] == [1, 2, 3, 4, 5, 6]
    assert 1 <= len(opened) <= 2
    assert all(connection.is_closed() for connection in opened)


async def test_pool_and_connect_are_checked(pg_store_url: str) -> None:
    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(pg_store_url)

    pool = await asyncpg.create_pool(pg_store_url, min_size=1, max_size=1)
    try:
        with pytest.raises(ValidationError, match="not both"):
            await open_store(pg_store_url, pool=pool, connect=connect)
    finally:
        await pool.close()
    with pytest.raises(ValidationError, match=r"pool must be an asyncpg\.Pool"):
        await open_store(pg_store_url, pool="postgresql://elsewhere")
