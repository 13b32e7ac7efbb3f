"""Migrations on SQLite and PostgreSQL: empty -> head -> base -> head, refusal without them, atomicity,
concurrency, and that the migrated schema is exactly `schema.py`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from agent_session_manager import Event, EventType, MigrationRequired, Session, open_store
from agent_session_manager.core.errors import StorageConnectionFailed, StorageError, ValidationError
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.schema import TABLE_NAMES, VERSION_TABLE, metadata
from agent_session_manager.sessions.sql.urls import sqlalchemy_url
from agent_session_manager.testing.services import postgres_admin_url, unavailable

ASM = str(Path(sys.executable).with_name("asm"))


def _admin(sql: str) -> None:
    import asyncpg

    async def go() -> None:
        connection = await asyncpg.connect(postgres_admin_url(), timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(go())
    except (OSError, TimeoutError) as exc:
        unavailable(f"PostgreSQL at {postgres_admin_url()} does not answer: {exc}")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/asm.db"
        return
    name = f"asm_mig_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_admin_url())
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _tables(url: str) -> set[str]:
    def names(connection: sa.Connection) -> set[str]:
        return {n for n in sa.inspect(connection).get_table_names() if n.startswith("asm_")}

    return await _with_connection(url, names)


async def _with_connection(url: str, work: Callable[[sa.Connection], set[str]]) -> set[str]:
    target = sqlalchemy_url(url)
    if target.startswith("sqlite"):
        engine = sa.create_engine(target)
        try:
            with engine.connect() as connection:
                return work(connection)
        finally:
            engine.dispose()
    from sqlalchemy.ext.asyncio import create_async_engine

    async_engine = create_async_engine(target)
    try:
        async with async_engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await async_engine.dispose()


async def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    head = migrations.head()
    assert await migrations.status_async(empty_url) == (None, head)
    await migrations.upgrade_async(empty_url)
    assert await migrations.status_async(empty_url) == (head, head)
    assert await _tables(empty_url) == {*TABLE_NAMES, VERSION_TABLE}
    await migrations.upgrade_async(empty_url)
    assert await migrations.status_async(empty_url) == (head, head)
    await migrations.downgrade_async(empty_url, "base")
    assert await migrations.status_async(empty_url) == (None, head)
    assert await _tables(empty_url) <= {VERSION_TABLE}
    await migrations.upgrade_async(empty_url)
    async with await open_store(empty_url) as store:
        session = await store.save_session(Session(agent_id="after-migrations"))
        assert (await store.get_session(session.id)).agent_id == "after-migrations"


async def test_opening_an_empty_database_names_what_is_missing(empty_url: str) -> None:
    with pytest.raises(MigrationRequired) as info:
        await open_store(empty_url)
    assert info.value.code == "migration_required"
    assert info.value.details["current"] is None
    assert sorted(info.value.details["missing_tables"]) == sorted(TABLE_NAMES)
    assert "asm db upgrade" in info.value.message and "asm_events" in info.value.message
    assert await migrations.status_async(empty_url) == (None, migrations.head())
    async with await open_store(empty_url, migrate=True) as store:
        assert await store.list_sessions() is not None


def test_opening_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "asm.db"
    with pytest.raises(MigrationRequired):
        asyncio.run(open_store(f"sqlite:///{path}"))
    assert not path.exists()


async def test_a_schema_from_an_unknown_revision_is_refused(empty_url: str) -> None:
    await migrations.upgrade_async(empty_url)

    def forge(connection: sa.Connection) -> set[str]:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d'"))
        connection.commit()
        return set()

    await _with_connection(empty_url, forge)
    with pytest.raises(MigrationRequired) as info:
        await open_store(empty_url)
    assert info.value.details["current"] == "f00d"
    assert "does not know" in info.value.message


async def test_a_failed_upgrade_changes_nothing(empty_url: str) -> None:
    """Migrations run in one transaction: a clash on the last table rolls back the first four."""

    def clash(connection: sa.Connection) -> set[str]:
        connection.execute(sa.text("CREATE TABLE asm_artifacts (x INTEGER)"))
        connection.commit()
        return set()

    await _with_connection(empty_url, clash)
    with pytest.raises(StorageError):
        await migrations.upgrade_async(empty_url)
    assert await _tables(empty_url) == {"asm_artifacts"}
    assert await migrations.status_async(empty_url) == (None, migrations.head())


def test_two_processes_migrating_at_once(empty_url: str) -> None:
    script = (
        "import sys; from agent_session_manager.sessions.sql import migrations; "
        "migrations.upgrade(sys.argv[1])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, empty_url], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert migrations.status(empty_url) == (migrations.head(), migrations.head())


async def test_migrated_schema_is_exactly_schema_py(empty_url: str) -> None:
    await migrations.upgrade_async(empty_url)

    def diff(connection: sa.Connection) -> set[str]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return {repr(change) for change in compare_metadata(context, metadata)}

    assert await _with_connection(empty_url, diff) == set()


def test_asm_db_upgrade_and_status_print_the_revisions(tmp_path: Path) -> None:
    asm = str(Path(sys.executable).with_name("asm"))
    url = f"sqlite:///{tmp_path}/cli.db"
    before = subprocess.run([asm, "db", "status", url], capture_output=True, text=True, timeout=120)
    assert before.returncode == 0, before.stderr
    assert (
        "current:  (empty: no schema)" in before.stdout and f"head:     {migrations.head()}" in before.stdout
    )
    done = subprocess.run([asm, "db", "upgrade", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"current:  {migrations.head()}" in done.stdout and "up to date" in done.stdout
    assert migrations.status(url) == (migrations.head(), migrations.head())


def test_migrating_an_unreachable_server_names_the_host_not_the_password() -> None:
    with pytest.raises(StorageConnectionFailed) as info:
        migrations.status("postgresql://asm:hunter2-secret@127.0.0.1:1/db")
    assert "127.0.0.1:1" in info.value.message
    assert "hunter2" not in f"{info.value} {info.value.details}"


async def test_an_outdated_schema_names_the_pending_migrations(empty_url: str) -> None:
    await migrations.upgrade_async(empty_url, "0001")
    assert await migrations.status_async(empty_url) == ("0001", migrations.head())
    with pytest.raises(MigrationRequired) as info:
        await open_store(empty_url)
    pending = info.value.details["pending"]
    assert info.value.details["current"] == "0001"
    assert pending and pending[-1].startswith(migrations.head())
    assert all(step.split()[0] in info.value.message for step in pending)
    async with await open_store(empty_url, migrate=True) as store:
        assert (await store.list_sessions()).items == []
    assert await migrations.status_async(empty_url) == (migrations.head(), migrations.head())


async def test_a_database_with_data_gains_state_documents_in_place(empty_url: str) -> None:
    # A database of the previous release, with data: write through today's store, then take the schema
    # back to 0002 (which drops only asm_states), as a database created before state documents.
    await migrations.upgrade_async(empty_url)
    async with await open_store(empty_url) as store:
        session = await store.save_session(Session(agent_id="old"))
        await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
    await migrations.downgrade_async(empty_url, "0002_query_indexes")
    assert "asm_states" not in await _tables(empty_url)
    async with await open_store(empty_url, migrate=True) as store:
        assert (await store.get_session(session.id)).agent_id == "old"
        assert await store.get_latest_sequence(session.id) == 1
        state = await store.merge_state(f"session:{session.id}", {"upgraded": True})
        assert (state.version, state.value) == (1, {"upgraded": True})


async def test_a_database_from_before_owners_upgrades_in_place(empty_url: str) -> None:
    await migrations.upgrade_async(empty_url, "0003_state_documents")

    def insert(connection: sa.Connection) -> set[str]:
        connection.execute(
            sa.text(
                "INSERT INTO asm_sessions "
                "(id, agent_id, status, metadata, context, tags, created_at, updated_at) "
                "VALUES ('ses_old', 'a', 'active', '{}', '{}', "
                + ("'{}'" if connection.dialect.name == "postgresql" else "'[]'")
                + ", '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')"
            )
        )
        connection.commit()
        return set()

    await _with_connection(empty_url, insert)
    await migrations.upgrade_async(empty_url, "0004_session_owners")
    async with await open_store(empty_url) as store:
        old = await store.get_session("ses_old")
        assert (old.agent_id, old.user_id) == ("a", None)
        await store.save_session(old.model_copy(update={"user_id": "u1"}))
        page = await store.list_sessions(user_id="u1", order_by="updated_at")
        assert [s.id for s in page] == ["ses_old"]


@pytest.mark.parametrize("migrate", [True, False])
async def test_a_sqlite_path_under_a_regular_file_is_storage_error(tmp_path: Path, migrate: bool) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    with pytest.raises(StorageError) as info:
        await open_store(f"sqlite:///{blocker}/asm.db", migrate=migrate)
    assert info.value.code == "storage_error"
    assert "not-a-directory" in info.value.message
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("url", ["sqlite:/oops", "sqlite:oops"])
async def test_a_sqlite_url_without_slashes_is_refused_and_creates_nothing(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError) as info:
        await open_store(url, migrate=True)
    assert "sqlite:///" in info.value.message
    assert os.listdir(tmp_path) == []


async def test_downgrading_to_base_leaves_no_table_behind(empty_url: str) -> None:
    await migrations.upgrade_async(empty_url)
    await migrations.downgrade_async(empty_url, "base")
    assert await _tables(empty_url) == set()
    await migrations.upgrade_async(empty_url)
    assert await _tables(empty_url) == {*TABLE_NAMES, VERSION_TABLE}


def test_cli_db_downgrade_asks_first(empty_url: str, tmp_path: Path) -> None:
    migrations.upgrade(empty_url)
    refused = subprocess.run(
        [ASM, "db", "downgrade", "base", empty_url], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: [validation_error] not confirmed")
    assert migrations.status(empty_url)[0] == migrations.head()
    done = subprocess.run(
        [ASM, "db", "downgrade", "base", empty_url, "--yes"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert migrations.status(empty_url)[0] is None
