"""A session backend from outside the library, registered by URL scheme, gets `query_api` and
`maintenance_api` through the same mechanism as ours (the store's `query_api()` / `maintenance_api()`
methods), from async code and through the sync facade."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

import agent_session_manager as asm
from agent_session_manager import sync
from agent_session_manager.artifacts.base import ArtifactStore
from agent_session_manager.maintenance.base import Maintenance
from agent_session_manager.maintenance.memory import MemoryMaintenance
from agent_session_manager.open import _SESSION_BACKENDS
from agent_session_manager.query.base import QueryAPI
from agent_session_manager.query.memory import MemoryQueryAPI
from agent_session_manager.sessions.memory import InMemorySessionStore

SCHEME = "toy"


class ToyStore:
    """A third party's store: not a subclass of any store of ours. It keeps its data in an in-memory
    store it owns (every `SessionStore` method is delegated) and declares its query API and
    maintenance the way our backends do, counting how often each was asked for."""

    def __init__(self) -> None:
        self.inner = InMemorySessionStore()
        self.provided: list[str] = []

    @classmethod
    async def from_url(cls, url: str, **options: Any) -> ToyStore:
        return cls()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __aenter__(self) -> ToyStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.close()

    def query_api(self) -> QueryAPI:
        self.provided.append("query")
        return MemoryQueryAPI(self.inner)

    def maintenance_api(
        self, artifacts: ArtifactStore | None = None, *, unregistered_blob_grace: timedelta | None = None
    ) -> Maintenance:
        self.provided.append("maintenance")
        return MemoryMaintenance(self.inner, artifacts, unregistered_blob_grace=unregistered_blob_grace)


class Opaque:
    """A store that declares neither."""

    async def close(self) -> None:
        return None


@pytest.fixture
def toy_scheme() -> Iterator[str]:
    asm.register_session_backend(SCHEME, f"{__name__}:ToyStore")
    try:
        yield SCHEME
    finally:
        _SESSION_BACKENDS.pop(SCHEME, None)


@pytest.fixture
async def toy(toy_scheme: str) -> AsyncIterator[ToyStore]:
    async with await asm.open_store(f"{toy_scheme}://") as store:
        assert isinstance(store, ToyStore)
        yield store


async def _chatty_session(store: Any, agent_id: str, events: int) -> asm.Session:
    session = await store.save_session(asm.Session(agent_id=agent_id))
    for n in range(events):
        await store.append_event(
            asm.Event(type=asm.EventType.MESSAGE_SENT, session_id=session.id, data={"n": n})
        )
    return session


async def test_a_registered_backend_gets_the_query_api_it_declares(toy: ToyStore) -> None:
    ours = await _chatty_session(toy, "support-bot", 3)
    await _chatty_session(toy, "other-bot", 1)
    api = asm.query_api(toy)
    page = await api.search_sessions(agent_id="support-bot")
    assert [s.id for s in page.items] == [ours.id]
    assert await api.count_events() == 4
    assert toy.provided == ["query"]


async def test_a_registered_backend_gets_the_maintenance_it_declares(toy: ToyStore) -> None:
    session = await _chatty_session(toy, "support-bot", 5)
    report = await asm.maintenance_api(toy).execute(asm.RetentionPolicy(max_events_per_session=2))
    assert report.events_pruned == 3
    kept = await toy.get_events(session.id)
    assert [e.data["n"] for e in kept] == [3, 4]
    assert toy.provided == ["maintenance"]


def test_the_sync_facade_wraps_the_backend_query_api_and_maintenance(toy_scheme: str) -> None:
    with sync.open_store(f"{toy_scheme}://") as store:
        session = store.save_session(asm.Session(agent_id="sync-bot"))
        for n in range(4):
            store.append_event(
                asm.Event(type=asm.EventType.MESSAGE_SENT, session_id=session.id, data={"n": n})
            )
        page = asm.query_api(store).search_sessions(agent_id="sync-bot")
        assert [s.id for s in page.items] == [session.id]
        assert store.query_api().count_events() == 4
        report = asm.maintenance_api(store).execute(asm.RetentionPolicy(max_events_per_session=1))
        assert report.events_pruned == 3
        assert [e.data["n"] for e in store.get_events(session.id)] == [3]
        assert store.wrapped.provided == ["query", "query", "maintenance"]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_sync_facade_supports_query_and_maintenance_on_our_backends(backend: str, tmp_path: Any) -> None:
    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path / 'asm.db'}"
    with sync.open_store(url, **({} if backend == "memory" else {"migrate": True})) as store:
        session = store.save_session(asm.Session(agent_id="bot"))
        assert store.query_api().get_session_stats(session.id).event_count == 0
        assert store.maintenance_api().health_check() == []


async def test_a_store_that_declares_neither_is_refused_with_a_clear_error() -> None:
    with pytest.raises(asm.ValidationError, match=r"Opaque provides no QueryAPI.*query_api\(\)"):
        asm.query_api(Opaque())
    with pytest.raises(asm.ValidationError, match=r"Opaque provides no Maintenance.*maintenance_api\(\)"):
        asm.maintenance_api(Opaque())
