"""The session and run records of the `SessionStore` contract: upserts, round trips, transitions, errors,
listing and paging, deletion. Part of `SessionStoreContract`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ..core.errors import (
    AlreadyExists,
    ASMError,
    InvalidCursor,
    InvalidEventType,
    InvalidStatus,
    InvalidTransition,
    RunNotFound,
    SessionNotFound,
    ValidationError,
)
from ..core.models import Event, EventType, Run, RunStatus, Session, SessionStatus
from ..core.pagination import encode_cursor
from ..sessions.base import SessionStore
from .store import T0, StoreContract


class RecordsContract(StoreContract):
    """Sessions and runs: saved, read, listed, paged and deleted as the port says."""

    # -- sessions -------------------------------------------------------------------------------

    async def test_save_session_is_an_upsert(self, store: SessionStore) -> None:
        first = Session(agent_id="a", metadata={"v": 1}, tags=["x"])
        await store.save_session(first)
        second = first.model_copy(update={"metadata": {"v": 2}, "tags": ["y", "z"]})
        await store.save_session(second)
        got = await store.get_session(first.id)
        assert got.metadata == {"v": 2}
        assert got.tags == ["y", "z"]
        page = await store.list_sessions()
        assert [s.id for s in page.items] == [first.id]

    async def test_session_round_trips_every_field(self, store: SessionStore) -> None:
        plus_two = timezone(timedelta(hours=2))
        created = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=plus_two)
        parent = await self._session(store)
        session = Session(
            agent_id="agent-1",
            status=SessionStatus.ACTIVE,
            parent_session_id=parent.id,
            metadata={"provider": "x", "nested": {"list": [1, 2.5, None, True, "é"]}},
            context={"system_prompt": "be brief"},
            tags=["pinned", "vip"],
            created_at=created,
            updated_at=created + timedelta(seconds=1),
        )
        await store.save_session(session)
        got = await store.get_session(session.id)
        assert got == session
        assert got.created_at == created
        assert got.created_at.utcoffset() == timedelta(0)
        assert got.created_at.microsecond == 891011

    async def test_missing_session_and_run_raise_not_found(self, store: SessionStore) -> None:
        with pytest.raises(SessionNotFound) as info:
            await store.get_session("ses_missing")
        assert info.value.code == "session_not_found"
        with pytest.raises(RunNotFound) as run_info:
            await store.get_run("run_missing")
        assert run_info.value.code == "run_not_found"
        with pytest.raises(SessionNotFound):
            await store.get_events("ses_missing")
        with pytest.raises(SessionNotFound):
            await store.get_latest_sequence("ses_missing")
        with pytest.raises(SessionNotFound):
            await store.save_run(Run(session_id="ses_missing"))
        with pytest.raises(SessionNotFound):
            await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id="ses_missing"))

    async def test_invalid_session_transition_leaves_store_unchanged(self, store: SessionStore) -> None:
        session = await self._session(store, metadata={"v": 1})
        bad = session.model_copy(update={"status": SessionStatus.COMPLETED, "metadata": {"v": 2}})
        with pytest.raises(InvalidTransition) as info:
            await store.save_session(bad)
        assert info.value.code == "invalid_transition"
        got = await store.get_session(session.id)
        assert got.status is SessionStatus.PENDING
        assert got.metadata == {"v": 1}
        active = await store.save_session(session.with_status(SessionStatus.ACTIVE))
        done = await store.save_session(active.with_status(SessionStatus.COMPLETED))
        assert (await store.get_session(session.id)).status is SessionStatus.COMPLETED
        with pytest.raises(InvalidTransition):
            await store.save_session(done.model_copy(update={"status": SessionStatus.ACTIVE}))

    async def test_invalid_run_transition_leaves_store_unchanged(self, store: SessionStore) -> None:
        session = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        running = await store.save_run(run.with_status(RunStatus.RUNNING))
        with pytest.raises(InvalidTransition):
            await store.save_run(running.model_copy(update={"status": RunStatus.PENDING}))
        finished = await store.save_run(running.complete({"ok": True}))
        with pytest.raises(InvalidTransition):
            await store.save_run(finished.model_copy(update={"status": RunStatus.RUNNING}))
        got = await store.get_run(run.id)
        assert got.status is RunStatus.COMPLETED
        assert got.output == {"ok": True}
        assert got.ended_at is not None

    async def test_bad_input_raises_coded_errors(self, store: SessionStore) -> None:
        session = await self._session(store)
        cases: list[tuple[type[ASMError], dict[str, Any]]] = [
            (InvalidEventType, {"type": "not_a_type", "session_id": session.id}),
            (ValidationError, {"type": "message_sent", "session_id": ""}),
            (ValidationError, {"type": "message_sent", "session_id": "x" * 129}),
            (ValidationError, {"type": "message_sent", "session_id": "has space"}),
            (ValidationError, {"type": "message_sent", "session_id": session.id, "id": "a/b"}),
            (
                ValidationError,
                {
                    "type": "message_sent",
                    "session_id": session.id,
                    "timestamp": datetime(2026, 1, 1),
                },
            ),
        ]
        for error, fields in cases:
            with pytest.raises(error):
                Event(**fields)
        with pytest.raises(InvalidStatus):
            Session(agent_id="a", status="sleeping")
        with pytest.raises(ValidationError):
            Session(agent_id="")
        with pytest.raises(ValidationError):
            await store.append_event({"type": "message_sent"})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.save_session({"agent_id": "a"})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.save_run({"session_id": session.id})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.flush(session, {"session_id": session.id}, [])  # type: ignore[arg-type]
        assert await store.get_latest_sequence(session.id) == 0

    async def test_list_sessions_filters_by_agent_and_status(self, store: SessionStore) -> None:
        a1 = await self._session(store, agent_id="a")
        a2 = await self._session(store, agent_id="a", status=SessionStatus.ACTIVE)
        b1 = await self._session(store, agent_id="b", status=SessionStatus.ACTIVE)
        assert [s.id for s in await store.list_sessions(agent_id="a")] == [a1.id, a2.id]
        assert [s.id for s in await store.list_sessions(status="active")] == [a2.id, b1.id]
        both = await store.list_sessions(status=[SessionStatus.PENDING, "active"], agent_id="b")
        assert [s.id for s in both] == [b1.id]
        with pytest.raises(InvalidStatus):
            await store.list_sessions(status="sleeping")
        with pytest.raises(ValidationError):
            await store.list_sessions(limit=0)
        with pytest.raises(ValidationError):
            await store.list_sessions(limit=1001)

    async def test_cursor_paging_visits_each_session_once(self, store: SessionStore) -> None:
        created = [
            Session(agent_id="pager", created_at=T0 + timedelta(seconds=i % 7), id=f"ses_{i:04d}")
            for i in range(1000)
        ]
        await asyncio.gather(*(store.save_session(s) for s in created))
        expected = sorted(created, key=lambda s: (s.created_at, s.id))
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await store.list_sessions(agent_id="pager", limit=73, cursor=cursor)
            seen.extend(s.id for s in page.items)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [s.id for s in expected]
        assert pages == 14
        again = await store.list_sessions(agent_id="pager", limit=73)
        assert [s.id for s in again.items] == seen[:73]

    async def test_tampered_or_foreign_cursor_is_rejected(self, store: SessionStore) -> None:
        session = await self._session(store)
        await self._session(store)
        cursor = (await store.list_sessions(limit=1)).next_cursor
        assert cursor is not None
        tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
        for bad in (tampered, "garbage", cursor + "x"):
            with pytest.raises(InvalidCursor) as info:
                await store.list_sessions(limit=1, cursor=bad)
            assert info.value.code == "invalid_cursor"
        with pytest.raises(InvalidCursor):
            await store.list_runs(session.id, cursor=cursor)
        # Signed with the (public) default key but holding no valid position: still invalid_cursor.
        for key in (["yesterday", "ses_1"], [1, 2], [], ["2026-01-01T00:00:00", "ses_1"]):
            forged = encode_cursor("sessions:created_at_asc", key)
            with pytest.raises(InvalidCursor):
                await store.list_sessions(limit=1, cursor=forged)

    # -- runs -----------------------------------------------------------------------------------

    async def test_runs_upsert_list_page_and_active(self, store: SessionStore) -> None:
        session = await self._session(store)
        other = await self._session(store)
        runs = [
            Run(session_id=session.id, started_at=T0 + timedelta(seconds=i), input={"i": i}) for i in range(5)
        ]
        for run in runs:
            await store.save_run(run)
        await store.save_run(Run(session_id=other.id, status=RunStatus.RUNNING))
        assert await store.get_active_run(session.id) is None
        await store.save_run(runs[1].with_status(RunStatus.RUNNING))
        await store.save_run(runs[3].with_status(RunStatus.RUNNING))
        active = await store.get_active_run(session.id)
        assert active is not None and active.id == runs[3].id
        first = await store.list_runs(session.id, limit=2)
        assert [r.id for r in first] == [runs[0].id, runs[1].id]
        rest = await store.list_runs(session.id, limit=10, cursor=first.next_cursor)
        assert [r.id for r in rest] == [r.id for r in runs[2:]]
        assert rest.next_cursor is None
        running = await store.list_runs(session.id, status="running")
        assert [r.id for r in running] == [runs[1].id, runs[3].id]
        got = await store.get_run(runs[2].id)
        assert got == runs[2]
        with pytest.raises(AlreadyExists):
            await store.save_run(runs[0].model_copy(update={"session_id": other.id}))

    # -- delete ---------------------------------------------------------------------------------

    async def test_delete_session_cascades_and_is_idempotent(self, store: SessionStore) -> None:
        session = await self._session(store)
        keep = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        event = await store.append_event(self._event(session, run_id=run.id))
        kept = await store.append_event(self._event(keep))
        await store.delete_session(session.id)
        await store.delete_session(session.id)
        with pytest.raises(SessionNotFound):
            await store.get_session(session.id)
        with pytest.raises(RunNotFound):
            await store.get_run(run.id)
        with pytest.raises(SessionNotFound):
            await store.get_events(session.id)
        assert [s.id for s in await store.list_sessions()] == [keep.id]
        assert await store.get_events(keep.id) == [kept]
        reborn = await store.save_session(Session(id=session.id, agent_id="again"))
        assert (await store.list_runs(reborn.id)).items == []
        fresh = await store.append_event(self._event(reborn, id=event.id))
        assert fresh.sequence_number == 1
