"""The SQLite store passes the whole SessionStore contract, plus what only SQLite has (file options, WAL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent_session_manager import open_store
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.sqlite import SQLiteSessionStore
from agent_session_manager.testing import SessionStoreContract


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for each test (migrating costs more than copying)."""
    path = tmp_path_factory.mktemp("template") / "asm.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


class TestSQLiteSessionStore(SessionStoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path, migrated_template: Path) -> None:
        self.path = tmp_path / "asm.db"
        shutil.copyfile(migrated_template, self.path)

    async def new_store(self) -> SessionStore:
        return await open_store(f"sqlite:///{self.path}")


async def test_open_store_sqlite_is_the_sqlite_backend(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/a.db", migrate=True) as store:
        assert isinstance(store, SQLiteSessionStore)
        assert isinstance(store, SessionStore)
        assert store.synchronous == "NORMAL"
