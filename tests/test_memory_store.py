"""The memory backend passes the whole SessionStore contract, plus its own O(1)/isolation checks."""

from __future__ import annotations

import pytest

from agent_session_manager import Event, EventType, Session, ValidationError, open_store
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.memory import InMemorySessionStore
from agent_session_manager.testing import SessionStoreContract


class TestInMemorySessionStore(SessionStoreContract):
    backend = "memory"

    async def new_store(self) -> SessionStore:
        return await open_store("memory://")


async def test_open_store_memory_is_the_memory_backend() -> None:
    async with await open_store("memory://") as store:
        assert isinstance(store, InMemorySessionStore)
        assert isinstance(store, SessionStore)


async def test_reads_start_by_binary_search_not_scan() -> None:
    store = InMemorySessionStore()
    session = await store.save_session(Session(agent_id="a"))
    await store.append_events(
        [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(5000)]
    )
    page = await store.get_events(session.id, after=4990, limit=5)
    assert [e.sequence_number for e in page] == [4991, 4992, 4993, 4994, 4995]


async def test_memory_url_options_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        await open_store("memory://?foo=bar")
    assert "foo" in info.value.message
