from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_session_manager import open_store
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations

pytest_plugins = ["agent_session_manager.testing.fixtures"]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy (copying is cheaper than migrating)."""
    path = tmp_path_factory.mktemp("migrated") / "asm.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> str:
    """The session's PostgreSQL database, migrated once."""
    migrations.upgrade(postgres_url)
    return postgres_url


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated store URL of each kind: memory, a fresh SQLite file, the session's PostgreSQL database.
    (Modules that define their own `store_url` or `store` use theirs.)"""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "asm.db")
        return f"sqlite:///{tmp_path}/asm.db"
    url: str = request.getfixturevalue("migrated_postgres")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SessionStore]:
    """The store at `store_url`, open for one test."""
    async with await open_store(store_url) as opened:
        yield opened
