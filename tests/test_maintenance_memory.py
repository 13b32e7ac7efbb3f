"""The memory backend passes the Maintenance contract."""

from __future__ import annotations

from datetime import UTC, datetime

from agent_session_manager import RetentionPolicy, Session, SessionStatus, open_store, query_api
from agent_session_manager.artifacts.memory import InMemoryArtifactStore
from agent_session_manager.composite import CompositeSessionStore
from agent_session_manager.maintenance import maintenance_api
from agent_session_manager.maintenance.memory import MemoryMaintenance
from agent_session_manager.query.memory import MemoryQueryAPI
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.memory import InMemorySessionStore, MemoryView
from agent_session_manager.testing.maintenance import MaintenanceContract


class TestMemoryMaintenance(MaintenanceContract):
    backend = "memory"

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


async def test_a_composite_store_brings_its_artifact_store() -> None:
    sessions, blobs = InMemorySessionStore(), InMemoryArtifactStore()
    composite = CompositeSessionStore(sessions, blobs)
    assert isinstance(query_api(composite), MemoryQueryAPI)
    maint = maintenance_api(composite)
    assert isinstance(maint, MemoryMaintenance) and maint.artifacts is blobs and maint.store is sessions
    session = await composite.save_session(
        Session(agent_id="a", status=SessionStatus.COMPLETED, deleted_at=datetime(2020, 1, 1, tzinfo=UTC))
    )
    record = await composite.put_artifact(session.id, f"{session.id}/out.txt", b"hello")
    report = await maint.execute(RetentionPolicy())
    assert (report.sessions_hard_deleted, report.blobs_deleted) == (1, 1)
    assert not await blobs.exists(record.key)


async def test_soft_and_hard_delete_expired_sessions_each_run_their_own_step() -> None:
    async with await open_store("memory://") as store:
        old = datetime(2020, 1, 1, tzinfo=UTC)
        await store.save_session(Session(agent_id="a", status=SessionStatus.COMPLETED, deleted_at=old))
        ended = await store.save_session(
            Session(agent_id="a", status=SessionStatus.COMPLETED, created_at=old, updated_at=old)
        )
        maint = maintenance_api(store)
        policy = RetentionPolicy(max_completed_session_age_days=30)
        assert await maint.hard_delete_expired_sessions(policy, dry_run=True) == 1
        assert await maint.soft_delete_expired_sessions(policy) == 1
        assert (await store.get_session(ended.id)).deleted_at is not None
        assert await maint.hard_delete_expired_sessions(policy) == 1
        assert [s.id for s in (await store.list_sessions()).items] == [ended.id]
