"""The memory backend passes the QueryAPI contract."""

from __future__ import annotations

from agent_session_manager import open_store
from agent_session_manager.query import query_api
from agent_session_manager.query.memory import MemoryQueryAPI
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.testing.query import QueryAPIContract


class TestMemoryQueryAPI(QueryAPIContract):
    backend = "memory"

    async def new_store(self) -> SessionStore:
        return await open_store("memory://")


async def test_query_api_picks_the_memory_implementation() -> None:
    async with await open_store("memory://") as store:
        assert isinstance(query_api(store), MemoryQueryAPI)
