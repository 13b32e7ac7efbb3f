"""CompositeSessionStore: both contracts by delegation, write ordering, crash isolation, cleanup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import agent_session_manager as asm
from agent_session_manager import (
    AlreadyExists,
    CompositeSessionStore,
    Event,
    EventType,
    NotFound,
    Run,
    Session,
    SessionNotFound,
    StorageError,
    ValidationError,
    open_composite_store,
)
from agent_session_manager.artifacts.base import ArtifactInfo, ArtifactStore
from agent_session_manager.artifacts.file import FileArtifactStore
from agent_session_manager.artifacts.memory import InMemoryArtifactStore
from agent_session_manager.core.models import ArtifactRecord
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.memory import InMemorySessionStore
from agent_session_manager.testing import ArtifactStoreContract, SessionStoreContract
from agent_session_manager.testing.artifacts import flip_byte, sha, walk
from agent_session_manager.testing.services import SeaweedFS, unavailable


class TestCompositeAsSessionStore(SessionStoreContract):
    backend = "composite"

    async def new_store(self) -> SessionStore:
        return CompositeSessionStore(InMemorySessionStore(), InMemoryArtifactStore())


class TestCompositeAsArtifactStore(ArtifactStoreContract):
    backend = "composite"

    @pytest.fixture(autouse=True)
    def _root(self, tmp_path: Path) -> None:
        self.root = tmp_path / "blobs"

    async def new_store(self) -> ArtifactStore:
        return CompositeSessionStore(InMemorySessionStore(), FileArtifactStore(self.root))

    async def corrupt(self, store: ArtifactStore, key: str) -> None:
        tamper(Path(store.storage_ref(key).removeprefix("file://")))

    async def outside(self, store: ArtifactStore) -> object:
        inside = str(self.root) + "/"
        return sorted(path for path in walk(str(self.root.parent)) if not path.startswith(inside))


@pytest.fixture(params=["memory", "sqlite"])
async def composite(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CompositeSessionStore]:
    database = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/asm.db"
    store = await open_composite_store(
        database,
        (tmp_path / "blobs").as_uri(),
        session_options={"migrate": True} if request.param == "sqlite" else None,
    )
    try:
        yield store
    finally:
        await store.close()


def tamper(path: Path) -> None:
    path.write_bytes(flip_byte(path.read_bytes()))


def blob_files(store: CompositeSessionStore) -> list[str]:
    assert isinstance(store.artifacts, FileArtifactStore)
    return sorted(walk(store.artifacts.root))


async def test_put_artifact_writes_the_blob_and_registers_it(composite: CompositeSessionStore) -> None:
    session = await composite.save_session(Session(agent_id="a"))
    run = await composite.save_run(Run(session_id=session.id))
    data = b"--- a/x\n+++ b/x"
    record = await composite.put_artifact(
        session.id, "patch-abc123", data, run_id=run.id, content_type="text/x-diff", metadata={"lines": 2}
    )
    assert (record.session_id, record.run_id, record.key) == (session.id, run.id, "patch-abc123")
    assert (record.byte_size, record.checksum_sha256, record.content_type) == (
        len(data),
        sha(data),
        "text/x-diff",
    )
    assert (record.storage_backend, record.metadata) == ("file", {"lines": 2})
    assert record.storage_ref == composite.storage_ref("patch-abc123")
    assert record.storage_ref.removeprefix("file://") in blob_files(composite)
    assert await composite.get_artifact_record("patch-abc123") == record
    assert await composite.get("patch-abc123") == data
    streamed = await composite.put_artifact_stream(session.id, "log", [b"a", b"b"], run_id=run.id)
    assert streamed.byte_size == 2
    page = await composite.list_artifact_records(session.id)
    assert [r.key for r in page] == ["patch-abc123", "log"]
    totals = await composite.artifact_totals(session.id)
    assert (totals.count, totals.byte_size) == (2, len(data) + 2)


async def test_create_only_artifacts_keep_the_first_blob_and_its_record(
    composite: CompositeSessionStore,
) -> None:
    first = await composite.save_session(Session(agent_id="a"))
    second = await composite.save_session(Session(agent_id="a"))
    record = await composite.put_artifact(first.id, "v/1", b"one", if_absent=True)
    attempts = [
        composite.put_artifact(second.id, "v/1", b"two", if_absent=True),
        composite.put_artifact_stream(second.id, "v/1", [b"t", b"wo"], if_absent=True),
        composite.put("v/1", b"two", if_absent=True, session_id=second.id),
    ]
    for attempt in attempts:
        with pytest.raises(AlreadyExists):
            await attempt
    assert await composite.get("v/1") == b"one"
    assert await composite.get_artifact_record("v/1") == record
    assert [r.key for r in await composite.list_artifact_records(second.id)] == []
    stored = await composite.put_artifact_stream(second.id, "v/2", [b"t", b"wo"], if_absent=True)
    assert (stored.session_id, stored.byte_size) == (second.id, 3)


async def test_nothing_is_written_for_a_missing_session_or_a_foreign_run(
    composite: CompositeSessionStore,
) -> None:
    with pytest.raises(SessionNotFound):
        await composite.put_artifact("ses_missing", "k", b"v")
    one = await composite.save_session(Session(agent_id="a"))
    other = await composite.save_session(Session(agent_id="b"))
    run = await composite.save_run(Run(session_id=other.id))
    with pytest.raises(ValidationError):
        await composite.put_artifact(one.id, "k", b"v", run_id=run.id)
    with pytest.raises(ValidationError):
        await composite.put_artifact(one.id, "../k", b"v")
    assert blob_files(composite) == []
    info = await composite.put("by-run", b"v", run_id=run.id)
    assert info.size == 1
    assert (await composite.get_artifact_record("by-run")).session_id == other.id


async def test_delete_session_removes_its_records_and_blobs_only(composite: CompositeSessionStore) -> None:
    doomed = await composite.save_session(Session(agent_id="a"))
    kept = await composite.save_session(Session(agent_id="b"))
    for n in range(3):
        await composite.put_artifact(doomed.id, f"doomed/{n}", b"x" * n)
    await composite.put_artifact(kept.id, "kept/0", b"keep")
    await composite.put("global", b"no session")
    await composite.delete_session(doomed.id)
    await composite.delete_session(doomed.id)
    with pytest.raises(SessionNotFound):
        await composite.get_session(doomed.id)
    with pytest.raises(NotFound):
        await composite.get_artifact_record("doomed/0")
    assert (await composite.list()).items == ["global", "kept/0"]
    assert len(blob_files(composite)) == 2
    assert await composite.get("kept/0") == b"keep"


async def test_delete_removes_record_and_blob(composite: CompositeSessionStore) -> None:
    session = await composite.save_session(Session(agent_id="a"))
    await composite.put_artifact(session.id, "k", b"v")
    await composite.delete("k")
    await composite.delete("k")
    with pytest.raises(NotFound):
        await composite.get_artifact_record("k")
    assert not await composite.exists("k")
    assert (await composite.artifact_totals(session.id)).count == 0


# -- write ordering under failures (fault injection) -------------------------------------------


class FlakyArtifacts(InMemoryArtifactStore):
    """Fails `put` or `delete` on demand; `crash` makes `put` raise a non-library exception."""

    fail_put = False
    fail_delete = False
    crash = False

    async def put(self, key: str, data: object, **options: object) -> ArtifactInfo:  # type: ignore[override]
        if self.crash:
            raise RuntimeError("driver bug")
        if self.fail_put:
            raise StorageError("injected put failure")
        return await super().put(key, data, **options)  # type: ignore[arg-type]

    async def delete(self, key: str) -> None:
        if self.fail_delete:
            raise StorageError("injected delete failure")
        await super().delete(key)


class StallingRegistry(InMemorySessionStore):
    """`register_artifact` waits forever (a process about to crash) or fails."""

    stall = False
    fail = False

    def __init__(self) -> None:
        super().__init__()
        self.stalled = asyncio.Event()

    async def register_artifact(self, record: ArtifactRecord) -> ArtifactRecord:
        if self.stall:
            self.stalled.set()
            await asyncio.Event().wait()
        if self.fail:
            raise StorageError("injected registry failure")
        return await super().register_artifact(record)


async def test_a_failure_between_the_two_writes_leaves_an_orphan_blob_never_a_dangling_record() -> None:
    sessions, blobs = StallingRegistry(), FlakyArtifacts()
    store = CompositeSessionStore(sessions, blobs)
    session = await store.save_session(Session(agent_id="a"))

    blobs.fail_put = True
    with pytest.raises(StorageError):
        await store.put_artifact(session.id, "blob-failed", b"v")
    with pytest.raises(NotFound):
        await store.get_artifact_record("blob-failed")
    blobs.fail_put = False

    sessions.fail = True
    with pytest.raises(StorageError):
        await store.put_artifact(session.id, "record-failed", b"v")
    assert await blobs.exists("record-failed")
    with pytest.raises(NotFound):
        await store.get_artifact_record("record-failed")
    sessions.fail = False

    sessions.stall = True
    task = asyncio.create_task(store.put_artifact(session.id, "crashed", b"v"))
    await sessions.stalled.wait()
    assert await blobs.exists("crashed")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(NotFound):
        await store.get_artifact_record("crashed")
    sessions.stall = False

    await store.put_artifact(session.id, "kept", b"v")
    blobs.fail_delete = True
    with pytest.raises(StorageError):
        await store.delete("kept")
    assert await blobs.exists("kept")
    with pytest.raises(NotFound):
        await store.get_artifact_record("kept")


async def test_errors_pass_through_and_foreign_exceptions_become_storage_errors() -> None:
    blobs = FlakyArtifacts()
    store = CompositeSessionStore(InMemorySessionStore(), blobs)
    with pytest.raises(NotFound) as missing:
        await store.get("nope")
    assert type(missing.value) is NotFound
    with pytest.raises(SessionNotFound) as no_session:
        await store.get_session("ses_nope")
    assert no_session.value.code == "session_not_found"
    blobs.crash = True
    with pytest.raises(StorageError) as wrapped:
        await store.put("k", b"v")
    assert wrapped.value.code == "storage_error"
    assert isinstance(wrapped.value.__cause__, RuntimeError)
    with pytest.raises(ValidationError):
        CompositeSessionStore(object(), blobs)  # type: ignore[arg-type]


async def test_open_from_urls_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASM_DATABASE_URL", "memory://")
    monkeypatch.setenv("ASM_ARTIFACTS_URL", (tmp_path / "env-blobs").as_uri())
    async with await asm.open_composite_store() as store:
        assert isinstance(store.sessions, InMemorySessionStore)
        assert isinstance(store.artifacts, FileArtifactStore)
        assert store.artifacts.root == str(tmp_path / "env-blobs")
    with pytest.raises(ValidationError):
        await open_composite_store("memory://", "ftp://nowhere")


# -- the artifact backend goes down -------------------------------------------------------------


@pytest.mark.s3
async def test_artifact_backend_down_fails_artifact_calls_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = SeaweedFS()
    try:
        await asyncio.to_thread(server.start)
    except RuntimeError as exc:
        server.stop()
        unavailable(f"SeaweedFS could not start: {exc}")
    try:
        target = await asyncio.to_thread(server.make_bucket)
        store = await open_composite_store(
            "memory://", target.url("asm"), artifact_options={"max_retries": 0, **target.credentials()}
        )
        session = await store.save_session(Session(agent_id="a"))
        await store.put_artifact(session.id, "before", b"stored while up")
        await store.put_artifact(session.id, "second", b"also stored")
        assert await store.get("before") == b"stored while up"
    finally:
        await asyncio.to_thread(server.stop)

    for call in (
        store.put_artifact(session.id, "during", b"v"),
        store.get("before"),
        store.stat("before"),
        store.exists("before"),
        store.list(),
        store.open_read("before"),
        store.delete("second"),
    ):
        with pytest.raises(StorageError) as info:
            await call
        assert info.value.code == "storage_connection_failed"
    for key in ("during", "second"):
        with pytest.raises(NotFound):
            await store.get_artifact_record(key)

    event = await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
    assert event.sequence_number == 1
    assert [e.id for e in await store.get_events(session.id)] == [event.id]
    assert (await store.list_sessions()).items[0].id == session.id
    with caplog.at_level(logging.WARNING, logger="agent_session_manager.composite"):
        await store.delete_session(session.id)
    assert "left to maintenance" in caplog.text
    with pytest.raises(SessionNotFound):
        await store.get_session(session.id)
    await store.close()
