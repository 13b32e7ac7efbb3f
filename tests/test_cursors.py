"""List cursors are bound to the listing that made them, on every backend: reusing one with other
filters is `invalid_cursor`, never a silently different (or empty) page."""

from __future__ import annotations

import pytest

from agent_session_manager import InvalidCursor, Run, Session
from agent_session_manager.sessions.base import SessionStore


async def test_a_run_cursor_is_bound_to_its_session_and_statuses(store: SessionStore) -> None:
    first = await store.save_session(Session(agent_id="a"))
    second = await store.save_session(Session(agent_id="a"))
    for session in (first, second):
        for _ in range(3):
            await store.save_run(Run(session_id=session.id))
    page = await store.list_runs(first.id, limit=1)
    assert page.next_cursor is not None
    assert len((await store.list_runs(first.id, limit=5, cursor=page.next_cursor)).items) == 2
    with pytest.raises(InvalidCursor):
        await store.list_runs(second.id, limit=5, cursor=page.next_cursor)
    with pytest.raises(InvalidCursor):
        await store.list_runs(first.id, status="running", limit=5, cursor=page.next_cursor)


async def test_a_session_cursor_is_bound_to_its_agent(store: SessionStore) -> None:
    for agent in ("a", "a", "b", "b"):
        await store.save_session(Session(agent_id=agent))
    page = await store.list_sessions(agent_id="a", limit=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursor):
        await store.list_sessions(agent_id="b", limit=5, cursor=page.next_cursor)
