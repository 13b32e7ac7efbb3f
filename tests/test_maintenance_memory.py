"""The memory backend passes the Maintenance contract."""

from __future__ import annotations

from agent_session_manager import open_store
from agent_session_manager.maintenance import maintenance_api
from agent_session_manager.maintenance.memory import MemoryMaintenance
from agent_session_manager.query.memory import MemoryView
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.memory import InMemorySessionStore
from agent_session_manager.testing.maintenance import MaintenanceContract


class TestMemoryMaintenance(MaintenanceContract):
    async def new_store(self) -> SessionStore:
        return await open_store("memory://")

    async def drop_session_row(self, store: SessionStore, session_id: str) -> None:
        assert isinstance(store, InMemorySessionStore)
        store._sessions.pop(session_id)

    async def set_counter(self, store: SessionStore, session_id: str, value: int) -> None:
        assert isinstance(store, InMemorySessionStore)
        MemoryView(store).counters()[session_id] = value


async def test_maintenance_api_picks_the_memory_implementation() -> None:
    async with await open_store("memory://") as store:
        assert isinstance(maintenance_api(store), MemoryMaintenance)
