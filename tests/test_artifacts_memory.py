"""The memory artifact backend passes the whole ArtifactStore contract."""

from __future__ import annotations

from agent_session_manager import open_artifact_store
from agent_session_manager.artifacts.base import ArtifactStore
from agent_session_manager.artifacts.memory import InMemoryArtifactStore
from agent_session_manager.testing import ArtifactStoreContract
from agent_session_manager.testing.artifacts import flip_byte


class TestInMemoryArtifactStore(ArtifactStoreContract):
    backend = "memory"

    async def new_store(self) -> ArtifactStore:
        return await open_artifact_store("memory://")

    async def corrupt(self, store: ArtifactStore, key: str) -> None:
        assert isinstance(store, InMemoryArtifactStore)
        data, info = store._objects[key]
        store._objects[key] = (flip_byte(data, len(data) // 2), info)


async def test_open_artifact_store_memory_is_the_memory_backend() -> None:
    async with await open_artifact_store("memory://") as store:
        assert isinstance(store, InMemoryArtifactStore)
        assert store.storage_ref("a/b") == "memory:///a/b"
