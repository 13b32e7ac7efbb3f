"""The SQLite store passes the whole SessionStore contract, plus what only SQLite has (file options, WAL)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from agent_session_manager import Event, EventType, Session, ValidationError, open_store
from agent_session_manager.core.errors import StorageError, Timeout
from agent_session_manager.sessions.base import EventQuery, SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.dialect import SQLITE
from agent_session_manager.sessions.sql.rows import event_from_row, event_params, events_from_rows
from agent_session_manager.sessions.sql.sqlite import SQLiteSessionStore
from agent_session_manager.sessions.sql.statements import SESSION_SELECT
from agent_session_manager.sessions.sql.store import events_query
from agent_session_manager.testing import SessionStoreContract


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for each test (migrating costs more than copying)."""
    path = tmp_path_factory.mktemp("template") / "asm.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


class TestSQLiteSessionStore(SessionStoreContract):
    backend = "sqlite"

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path, migrated_template: Path) -> None:
        self.path = tmp_path / "asm.db"
        shutil.copyfile(migrated_template, self.path)

    async def new_store(self) -> SessionStore:
        return await open_store(f"sqlite:///{self.path}")

    def shared_url(self) -> str:
        return f"sqlite:///{self.path}"


async def test_open_store_sqlite_is_the_sqlite_backend(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/a.db", migrate=True) as store:
        assert isinstance(store, SQLiteSessionStore)
        assert isinstance(store, SessionStore)
        assert store.synchronous == "NORMAL"


async def _locked_for(path: Path, seconds: float) -> None:
    """Hold the database's write lock from another connection for `seconds`."""

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    await asyncio.to_thread(hold)


async def test_a_writer_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "asm.db"
    async with await open_store(f"sqlite:///{path}", migrate=True) as store:
        session = await store.save_session(Session(agent_id="a"))
        holder = asyncio.create_task(_locked_for(path, 0.5))
        await asyncio.sleep(0.1)
        stored = await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
        await holder
        assert stored.sequence_number == 1


async def test_a_lock_held_past_the_busy_timeout_is_a_retryable_timeout(tmp_path: Path) -> None:
    path = tmp_path / "asm.db"
    async with await open_store(f"sqlite:///{path}?busy_timeout=0.2", migrate=True) as store:
        session = await store.save_session(Session(agent_id="a"))
        holder = asyncio.create_task(_locked_for(path, 1.0))
        await asyncio.sleep(0.1)
        with pytest.raises(Timeout) as info:
            await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
        await holder
        assert info.value.retryable and info.value.code == "timeout"
        assert "locked" in info.value.message
        stored = await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
        assert stored.sequence_number == 1


async def test_wal_mode_and_synchronous_option(tmp_path: Path) -> None:
    path = tmp_path / "asm.db"
    async with await open_store(f"sqlite:///{path}?synchronous=FULL", migrate=True) as store:
        assert isinstance(store, SQLiteSessionStore)
        assert store.synchronous == "FULL"
        session = await store.save_session(Session(agent_id="a"))
        await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()
    with pytest.raises(ValidationError):
        await open_store(f"sqlite:///{path}?synchronous=SOMETIMES")
    with pytest.raises(ValidationError):
        await open_store(f"sqlite:///{path}?colour=blue")


async def test_the_default_url_is_a_relative_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASM_DATABASE_URL", raising=False)
    async with await open_store(migrate=True) as store:
        assert isinstance(store, SQLiteSessionStore)
        await store.save_session(Session(agent_id="a"))
    assert (tmp_path / ".asm" / "asm.db").exists()


async def test_two_stores_on_one_file_see_each_others_appends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/asm.db"
    async with (
        await open_store(url, migrate=True) as first,
        await open_store(url, poll_interval=0.05) as second,
    ):
        session = await first.save_session(Session(agent_id="a"))
        waiter = asyncio.create_task(second.get_events(session.id, wait=10))
        await asyncio.sleep(0.1)
        await first.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
        got = await asyncio.wait_for(waiter, 15)
        assert [e.sequence_number for e in got] == [1]


async def test_event_pages_and_session_pages_are_index_range_scans(tmp_path: Path) -> None:
    """The queries the store runs for `get_events(after=, limit=)` and keyset pages start in the index,
    so a page costs the same at any depth and any table size."""
    path = tmp_path / "asm.db"
    async with await open_store(f"sqlite:///{path}", migrate=True) as store:
        session = await store.save_session(Session(agent_id="a"))
        await store.append_events(
            [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(50)]
        )
        page = await store.list_sessions(limit=1)
        assert page.items
    events_sql, events_args = events_query(EventQuery.build(session.id, after=40, limit=5), SQLITE)
    connection = sqlite3.connect(path)
    try:
        plan = " ".join(
            row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {SQLITE.sql(events_sql)}", events_args)
        )
        assert (
            "USING INDEX asm_events_session_id_sequence_number (session_id=? AND sequence_number>?)" in plan
        )
        assert "TEMP B-TREE" not in plan
        sessions_sql = SQLITE.sql(
            f"{SESSION_SELECT} WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3"
        )
        plan = " ".join(
            row[3]
            for row in connection.execute(
                f"EXPLAIN QUERY PLAN {sessions_sql}", ("2026-01-01T00:00:00.000000Z", "x", 5)
            )
        )
        assert "asm_sessions_created_at_id" in plan and "TEMP B-TREE" not in plan
    finally:
        connection.close()


async def test_a_reader_that_cannot_connect_stops_the_writer_thread_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the writer thread connects, a reader thread then fails to."""
    url = f"sqlite:///{tmp_path}/asm.db"
    await (await open_store(url, migrate=True)).close()
    connect = SQLiteSessionStore._connect

    def failing_readers(self: SQLiteSessionStore, busy_timeout: float | None = None) -> sqlite3.Connection:
        if threading.current_thread().name.startswith("asm-sqlite-reader"):
            raise StorageError("injected reader failure")
        return connect(self, busy_timeout)

    monkeypatch.setattr(SQLiteSessionStore, "_connect", failing_readers)
    with pytest.raises(StorageError, match="injected"):
        await open_store(url)
    assert not [t for t in threading.enumerate() if t.name.startswith("asm-sqlite-")]


@pytest.mark.parametrize("inline", ["1", "0"])
async def test_the_wal_stays_under_its_bound_with_writers_and_readers(tmp_path: Path, inline: str) -> None:
    limit = 1 << 20
    url = f"sqlite:///{tmp_path}/wal.db?wal_limit={limit}&inline={inline}"
    wal = tmp_path / "wal.db-wal"
    async with await open_store(url, migrate=True) as store:
        session = await store.save_session(Session(agent_id="a"))
        stop = asyncio.Event()
        largest = 0

        async def read() -> None:
            while not stop.is_set():
                await store.get_events(session.id, limit=50)
                await asyncio.sleep(0)

        def watch() -> None:
            nonlocal largest
            while not stop.is_set():
                largest = max(largest, wal.stat().st_size if wal.exists() else 0)
                time.sleep(0.001)

        readers = [asyncio.create_task(read()) for _ in range(2)]
        watcher = asyncio.create_task(asyncio.to_thread(watch))
        payload = {"text": "x" * 2000}
        for _ in range(40):  # ~8 MB of events: eight times the bound
            await store.append_events(
                [Event(type=EventType.MESSAGE_SENT, session_id=session.id, data=payload) for _ in range(50)]
            )
            for _ in range(50):
                await store.append_event(
                    Event(type=EventType.MESSAGE_SENT, session_id=session.id, data=payload)
                )
                await asyncio.sleep(0)  # inline appends never suspend: let the readers in
        stop.set()
        await asyncio.gather(*readers, watcher)
        assert await store.get_latest_sequence(session.id) == 4000
    assert 0 < largest <= limit


def test_events_from_rows_build_what_validation_builds() -> None:
    events = [
        Event(type="langgraph.checkpoint", session_id="s", data={"a": [1, {"b": None}]}, run_id="r1"),
        Event(
            type=EventType.MESSAGE_SENT, session_id="s", metadata={"k": "ü"}, provider="p", correlation_id="c"
        ),
    ]
    rows = [event_params(SQLITE, event, n) for n, event in enumerate(events, 1)]
    built = events_from_rows(SQLITE, rows)
    assert built == [e.model_copy(update={"sequence_number": n}) for n, e in enumerate(events, 1)]
    assert built[1].type is EventType.MESSAGE_SENT and built[0].type == "langgraph.checkpoint"
    assert built[0].model_fields_set == set(Event.model_fields)
    assert built[0].model_copy(update={"run_id": "r2"}).run_id == "r2" and built[0].run_id == "r1"
    assert event_from_row(SQLITE, rows[1]) == built[1]
