"""The SQLite backend passes the Maintenance contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_session_manager import open_store
from agent_session_manager.maintenance import maintenance_api
from agent_session_manager.maintenance.sql import SQLMaintenance
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.testing.maintenance import MaintenanceContract, SQLStoreFaults


class TestSQLiteMaintenance(SQLStoreFaults, MaintenanceContract):
    backend = "sqlite"

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.path = tmp_path / "asm.db"

    async def new_store(self) -> SessionStore:
        return await open_store(f"sqlite:///{self.path}", migrate=True)


async def test_maintenance_api_picks_the_sql_implementation(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/m.db", migrate=True) as store:
        assert isinstance(maintenance_api(store), SQLMaintenance)
