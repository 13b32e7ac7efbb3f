"""Export and import in the `QueryAPI` contract: everything in order, identical round trips, all or
nothing. Part of `QueryAPIContract`.
"""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from ..artifacts.registry import ArtifactRegistry
from ..core.errors import (
    AlreadyExists,
    SessionNotFound,
    ValidationError,
)
from ..core.models import ArtifactRecord, Event, EventType, Run, RunStatus, Session, SessionStatus
from ..query.base import QueryAPI
from ..query.export import SessionExport, import_session, stream_session_jsonl
from ..sessions.base import SessionStore
from .query_corpus import T0, QueryContract


class ExportContract(QueryContract):
    """`export_session`, JSON Lines streaming and `import_session`."""

    # -- export and import ----------------------------------------------------------------------

    async def _rich_session(self, store: SessionStore) -> Session:
        session = await store.save_session(
            Session(
                agent_id="exporter",
                status=SessionStatus.COMPLETED,
                tags=["b", "a"],
                metadata={"z": 1, "a": {"nested": [1, 2.5, None, "é"]}},
                created_at=T0,
                updated_at=T0 + timedelta(hours=1),
            )
        )
        run = await store.save_run(
            Run(
                session_id=session.id,
                status=RunStatus.COMPLETED,
                token_usage={"input_tokens": 3},
                cost_usd=0.1,
                started_at=T0,
                ended_at=T0 + timedelta(minutes=1),
                provider="anthropic",
            )
        )
        await store.append_events(
            [
                Event(
                    type=EventType.MESSAGE_SENT,
                    session_id=session.id,
                    run_id=run.id,
                    timestamp=T0 + timedelta(microseconds=i),
                    data={"i": i, "text": "ü" * i},
                    correlation_id="c",
                )
                for i in range(25)
            ]
        )
        register = getattr(store, "register_artifact", None)
        if register is not None:
            await register(
                ArtifactRecord(
                    session_id=session.id,
                    run_id=run.id,
                    key=f"{session.id}/out.txt",
                    byte_size=3,
                    checksum_sha256="a" * 64,
                    storage_backend="memory",
                    storage_ref="memory://out.txt",
                    created_at=T0,
                )
            )
        return session

    async def test_export_lists_everything_in_order(self, api: QueryAPI, store: SessionStore) -> None:
        session = await self._rich_session(store)
        export = await api.export_session(session.id)
        assert export.session == await store.get_session(session.id)
        assert [e.sequence_number for e in export.events] == list(range(1, 26))
        assert export.events == await store.get_events(session.id)
        assert len(export.runs) == 1
        document = orjson.loads(export.to_json())
        assert set(document) == {"format", "version", "session", "runs", "events", "artifacts"}
        lines = b"".join([chunk async for chunk in stream_session_jsonl(store, session.id)])
        assert lines == b"".join(export.to_jsonl())
        assert SessionExport.from_jsonl(lines.splitlines()) == export
        assert SessionExport.from_json(export.to_json()) == export

    async def test_export_import_export_is_identical(self, api: QueryAPI, store: SessionStore) -> None:
        session = await self._rich_session(store)
        before = await api.export_session(session.id)
        await store.delete_session(session.id)
        result = await import_session(store, before.to_json())
        assert (result.runs, result.events, result.renumbered) == (1, 25, False)
        after = await api.export_session(session.id)
        assert after.to_json() == before.to_json()
        await store.delete_session(session.id)
        streamed = await import_session(store, iter(before.to_jsonl()))
        assert streamed.events == 25
        assert (await api.export_session(session.id)).to_json() == before.to_json()
        await store.delete_session(session.id)
        blob = b"".join(before.to_jsonl())
        sliced = await import_session(store, iter([blob[i : i + 97] for i in range(0, len(blob), 97)]))
        assert sliced.events == 25
        assert (await api.export_session(session.id)).to_json() == before.to_json()

    async def test_import_is_all_or_nothing(self, api: QueryAPI, store: SessionStore) -> None:
        session = await self._rich_session(store)
        export = await api.export_session(session.id)
        lines = export.to_jsonl()
        with pytest.raises(AlreadyExists):
            await import_session(store, export)
        assert (await api.export_session(session.id)).to_json() == export.to_json()
        await store.delete_session(session.id)
        for broken in (lines[:-1], lines[:10] + lines[11:], [lines[1], lines[0], *lines[2:]]):
            with pytest.raises(ValidationError):
                await import_session(store, iter(broken))
            with pytest.raises(SessionNotFound):
                await store.get_session(session.id)
        other = await store.save_session(Session(agent_id="other"))
        await store.append_event(export.events[7].model_copy(update={"session_id": other.id}))
        with pytest.raises(AlreadyExists):
            await import_session(store, export)
        with pytest.raises(SessionNotFound):
            await store.get_session(session.id)
        await store.delete_session(other.id)
        if isinstance(store, ArtifactRegistry) and export.artifacts:  # another session's key stays its own
            owner = await store.save_session(Session(agent_id="owner"))
            taken = export.artifacts[0].model_copy(update={"session_id": owner.id, "run_id": None})
            await store.register_artifact(taken)
            with pytest.raises(AlreadyExists):
                await import_session(store, export)
            with pytest.raises(SessionNotFound):
                await store.get_session(session.id)
            assert await store.get_artifact_record(taken.key) == taken
        with pytest.raises(ValidationError):
            await import_session(store, b"{not json")
        with pytest.raises(ValidationError):
            await import_session(store, b'{"format": "something-else", "version": 1}')
