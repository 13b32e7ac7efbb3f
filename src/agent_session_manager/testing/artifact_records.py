"""The artifact registry of the `SessionStore` contract: records, listings, totals, and their tie to
their session. Part of `SessionStoreContract`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ..artifacts.registry import ArtifactRegistry, ArtifactTotals
from ..core.errors import (
    NotFound,
    SessionNotFound,
    ValidationError,
)
from ..core.models import ArtifactRecord, Run, Session
from ..sessions.base import SessionStore
from .store import T0, StoreContract


class ArtifactRecordsContract(StoreContract):
    """Artifact records kept by a session store (`ArtifactRegistry`)."""

    # -- artifact registry ----------------------------------------------------------------------

    @staticmethod
    def _record(session: Session | None, key: str, size: int, **fields: Any) -> ArtifactRecord:
        defaults: dict[str, Any] = {
            "checksum_sha256": "ab" * 32,
            "storage_backend": "memory",
            "storage_ref": key,
        }
        return ArtifactRecord(
            session_id=None if session is None else session.id,
            key=key,
            byte_size=size,
            **(defaults | fields),
        )

    async def test_artifact_registry_records_lists_and_totals(self, store: SessionStore) -> None:
        assert isinstance(store, ArtifactRegistry)
        session = await self._session(store)
        other = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        records = [
            self._record(
                session,
                f"sessions/{session.id}/file-{i}.bin",
                100 * (i + 1),
                run_id=run.id,
                content_type="application/octet-stream",
                metadata={"i": i},
                created_at=T0 + timedelta(seconds=i),
            )
            for i in range(5)
        ]
        for record in records:
            assert await store.register_artifact(record) == record
        await store.register_artifact(self._record(other, "elsewhere", 7))
        await store.register_artifact(self._record(None, "global/blob", 3))
        assert await store.get_artifact_record(records[2].key) == records[2]
        assert await store.artifact_totals(session.id) == ArtifactTotals(count=5, byte_size=1500)
        first = await store.list_artifact_records(session.id, limit=3)
        rest = await store.list_artifact_records(session.id, limit=3, cursor=first.next_cursor)
        assert [r.key for r in [*first, *rest]] == [r.key for r in records]
        assert rest.next_cursor is None
        replaced = records[0].model_copy(update={"byte_size": 1})
        await store.register_artifact(replaced)
        assert (await store.get_artifact_record(records[0].key)).byte_size == 1
        assert await store.artifact_totals(session.id) == ArtifactTotals(count=5, byte_size=1401)
        await store.delete_artifact_record(records[1].key)
        await store.delete_artifact_record(records[1].key)
        with pytest.raises(NotFound) as info:
            await store.get_artifact_record(records[1].key)
        assert info.value.code == "not_found"
        assert (await store.artifact_totals(session.id)).count == 4
        assert (await store.get_artifact_record("global/blob")).session_id is None

    async def test_artifact_records_need_their_session_and_die_with_it(self, store: SessionStore) -> None:
        assert isinstance(store, ArtifactRegistry)
        with pytest.raises(SessionNotFound):
            await store.register_artifact(self._record(Session(agent_id="ghost"), "k", 1))
        with pytest.raises(ValidationError):
            self._record(None, "../escape", 1)
        with pytest.raises(ValidationError):
            self._record(None, "k", 1, checksum_sha256="not-hex")
        session = await self._session(store)
        keep = await self._session(store)
        await store.register_artifact(self._record(session, "a/1", 10))
        await store.register_artifact(self._record(keep, "b/1", 20))
        await store.delete_session(session.id)
        with pytest.raises(NotFound):
            await store.get_artifact_record("a/1")
        assert (await store.get_artifact_record("b/1")).byte_size == 20
        with pytest.raises(SessionNotFound):
            await store.artifact_totals(session.id)
