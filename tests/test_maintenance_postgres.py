"""The PostgreSQL backend passes the Maintenance contract."""

from __future__ import annotations

import asyncpg
import pytest

from agent_session_manager import open_store
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.schema import TABLE_NAMES
from agent_session_manager.testing.maintenance import MaintenanceContract, SQLStoreFaults

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="session")
def maintenance_pg_url(postgres_url: str) -> str:
    migrations.upgrade(postgres_url)
    return postgres_url


class TestPostgresMaintenance(SQLStoreFaults, MaintenanceContract):
    backend = "postgresql"

    @pytest.fixture(autouse=True)
    def _database(self, maintenance_pg_url: str) -> None:
        self.url = maintenance_pg_url

    async def new_store(self) -> SessionStore:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
        finally:
            await connection.close()
        return await open_store(self.url)
