"""The SQLite backend passes the QueryAPI contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_session_manager import open_store, query_api
from agent_session_manager.query.sql import SQLQueryAPI
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.testing.query import QueryAPIContract


class TestSQLiteQueryAPI(QueryAPIContract):
    backend = "sqlite"

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.path = tmp_path / "asm.db"

    async def new_store(self) -> SessionStore:
        return await open_store(f"sqlite:///{self.path}", migrate=True)


async def test_query_api_picks_the_sql_implementation(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/q.db", migrate=True) as store:
        assert isinstance(query_api(store), SQLQueryAPI)
