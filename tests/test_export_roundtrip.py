"""Export from SQLite, import into PostgreSQL (and memory), export again: identical bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from agent_session_manager import Event, EventType, Run, RunStatus, Session, SessionStatus, open_store
from agent_session_manager.core.models import ArtifactRecord
from agent_session_manager.maintenance import RetentionPolicy, maintenance_api
from agent_session_manager.query import export_session, import_session, stream_session_jsonl
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.schema import TABLE_NAMES

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SessionStore]:
    store = await open_store(f"sqlite:///{tmp_path}/source.db", migrate=True)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[SessionStore]:
    await migrations.upgrade_async(postgres_url)
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
    finally:
        await connection.close()
    store = await open_store(postgres_url)
    try:
        yield store
    finally:
        await store.close()


#: Every core type and two namespaced ones: all are stored, exported and imported alike.
_TYPES: list[EventType | str] = [*EventType, "langgraph.checkpoint", "adk.state_delta"]


async def _rich(store: SessionStore) -> Session:
    parent = await store.save_session(Session(agent_id="parent", created_at=T0, updated_at=T0))
    session = await store.save_session(
        Session(
            agent_id="exporter",
            user_id="user:export-1",
            status=SessionStatus.COMPLETED,
            parent_session_id=parent.id,
            tags=["zeta", "alpha", "ünï"],
            metadata={"b": [1, 2.5, None, True, "é"], "a": {"nested": {"deep": -7}}, "big": 2**62},
            context={"system_prompt": "be brief\nand exact"},
            created_at=T0,
            updated_at=T0 + timedelta(hours=1),
            deleted_at=T0 + timedelta(days=3),
        )
    )
    runs = []
    for i in range(3):
        runs.append(
            await store.save_run(
                Run(
                    session_id=session.id,
                    status=RunStatus.FAILED if i == 1 else RunStatus.COMPLETED,
                    input={"prompt": f"question {i}"},
                    output=None if i == 1 else {"answer": i * 0.1},
                    error={"code": "boom", "message": "failed"} if i == 1 else None,
                    metadata={"attempt": i},
                    turn_count=i,
                    token_usage={"input_tokens": 10 * i, "output_tokens": 3, "cache_read_input_tokens": 1},
                    cost_usd=0.1 * i if i else None,
                    started_at=T0 + timedelta(minutes=i),
                    ended_at=T0 + timedelta(minutes=i, seconds=30),
                    provider="anthropic",
                    provider_metadata={"model": "claude-sonnet-4", "provider_session_id": f"p{i}"},
                )
            )
        )
    events = [
        Event(
            type=_TYPES[i % len(_TYPES)],
            session_id=session.id,
            run_id=runs[i % 3].id if i % 4 else None,
            timestamp=T0 + timedelta(microseconds=7 * i),
            data={"i": i, "text": "ü" * (i % 5), "float": i / 3, "list": [i, {"k": None}]},
            metadata={"_validation_warnings": []} if i % 2 else {},
            schema_version=1 + i % 2,
            provider="anthropic" if i % 3 else None,
            correlation_id=f"corr-{i % 4}",
        )
        for i in range(2500)
    ]
    await store.append_events(events)
    await store.register_artifact(  # type: ignore[attr-defined]
        ArtifactRecord(
            session_id=session.id,
            run_id=runs[0].id,
            key=f"{session.id}/report.pdf",
            content_type="application/pdf",
            byte_size=12345,
            checksum_sha256="ab" * 32,
            storage_backend="s3",
            storage_ref=f"s3://bucket/{session.id}/report.pdf",
            metadata={"pages": 3},
            created_at=T0,
        )
    )
    return session


@pytest.mark.postgres
async def test_sqlite_to_postgres_to_memory_exports_identically(
    sqlite_store: SessionStore, pg_store: SessionStore
) -> None:
    session = await _rich(sqlite_store)
    source = await export_session(sqlite_store, session.id)
    document = source.to_json()
    lines = b"".join([chunk async for chunk in stream_session_jsonl(sqlite_store, session.id)])
    assert lines == b"".join(source.to_jsonl())
    assert len(source.events) == 2500 and len(source.runs) == 3 and len(source.artifacts) == 1

    await pg_store.save_session(await sqlite_store.get_session(session.parent_session_id or ""))
    result = await import_session(pg_store, stream_session_jsonl(sqlite_store, session.id))
    assert (result.runs, result.events, result.artifacts, result.renumbered) == (3, 2500, 1, False)
    assert (await export_session(pg_store, session.id)).to_json() == document
    assert b"".join([c async for c in stream_session_jsonl(pg_store, session.id)]) == lines

    async with await open_store("memory://") as memory:
        await import_session(memory, document)
        assert (await export_session(memory, session.id)).to_json() == document


async def test_a_pruned_session_imports_renumbered_in_order(sqlite_store: SessionStore) -> None:
    session = await sqlite_store.save_session(Session(agent_id="a", status=SessionStatus.COMPLETED))
    await sqlite_store.append_events(
        [Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={"i": i}) for i in range(10)]
    )
    policy = RetentionPolicy(
        max_events_per_session=4, max_completed_session_age_days=None, hard_delete_after_days=None
    )
    assert (await maintenance_api(sqlite_store).execute(policy)).events_pruned == 6
    export = await export_session(sqlite_store, session.id)
    assert [e.sequence_number for e in export.events] == [7, 8, 9, 10]
    async with await open_store("memory://") as memory:
        result = await import_session(memory, export)
        assert result.renumbered
        again = await export_session(memory, session.id)
        assert [e.id for e in again.events] == [e.id for e in export.events]
        assert [e.sequence_number for e in again.events] == [1, 2, 3, 4]
        assert [e.data for e in again.events] == [{"i": i} for i in range(6, 10)]


async def _exported_lines(count: int) -> tuple[list[bytes], str]:
    async with await open_store("memory://") as source:
        session = await source.save_session(Session(agent_id="a"))
        await source.append_events(
            [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(count)]
        )
        return (await export_session(source, session.id)).to_jsonl(), session.id


async def test_import_reports_what_it_stored_when_an_event_line_is_repeated() -> None:
    lines, session_id = await _exported_lines(12)
    events = [i for i, line in enumerate(lines) if b'"event"' in line[:40]]
    doubled = [*lines[: events[-1] + 1], lines[events[-1]], *lines[events[-1] + 1 :]]
    doubled[-1] = doubled[-1].replace(b'"events":12', b'"events":13')
    async with await open_store("memory://") as target:
        result = await import_session(target, doubled)
        assert result.events == 12
        assert len(await target.get_events(session_id)) == 12


async def test_import_takes_a_whole_json_lines_document_as_bytes() -> None:
    lines, session_id = await _exported_lines(3)
    async with await open_store("memory://") as target:
        result = await import_session(
            target, b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
        )
        assert result.events == 3
        assert [e.sequence_number for e in await target.get_events(session_id)] == [1, 2, 3]
