"""`CompositeSessionStore`: one handle over a session store and an artifact store.

Sessions, runs, events and artifact *records* go to the session store (any `SessionStore` that is also
an `ArtifactRegistry`: memory, SQLite, PostgreSQL); blob *contents* go to the `ArtifactStore` (memory,
file, S3). The composite implements `SessionStore`, `ArtifactRegistry` and `ArtifactStore`.

* Errors pass through unchanged. An artifact backend that fails with something other than an
  `ASMError` is reported as `StorageError` (cause chained), so a broken or unreachable artifact backend
  never takes session operations down with it.
* There is no transaction across the two stores; the order of writes makes a crash harmless. `put`
  writes the blob, then registers its record; `delete` removes the record, then the blob;
  `delete_session` deletes the session with its records (atomically, in the session store), then the
  blobs. So a crash or a failure between the two steps leaves at worst an orphan blob, which
  maintenance removes, and never a record pointing at nothing. Blobs that cannot be removed by
  `delete_session` (artifact backend down) are left to maintenance with a warning in the log; the
  session is gone either way.
* Every blob written through the composite is registered: `put` / `put_stream` with an optional
  `session_id` / `run_id` (a run implies its session), `put_artifact(session_id, key, data)` returning
  the `ArtifactRecord`. Reads (`get`, `open_read`, `stat`, `exists`, `list`) go straight to the blobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from .artifacts.base import (
    ArtifactInfo,
    ArtifactReader,
    ArtifactStore,
    AsyncClosing,
    Chunks,
    Data,
    iterate_chunks,
)
from .artifacts.registry import ArtifactRegistry, ArtifactTotals
from .core.errors import ASMError, SessionNotFound, StorageError, ValidationError
from .core.json import JSONObject
from .core.keys import validate_key
from .core.models import ArtifactRecord, Event, EventType, Run, RunStatus, Session, SessionStatus
from .core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, all_items
from .open import open_artifact_store, open_store
from .sessions.base import ITER_BATCH, SessionStore
from .sessions.state import State

if TYPE_CHECKING:
    from .maintenance.base import Maintenance
    from .query.base import QueryAPI

T = TypeVar("T")
log = logging.getLogger(__name__)
#: How many blobs `delete_session` deletes at once.
DELETE_CONCURRENCY = 8


class _Blob(NamedTuple):
    """How a blob is written: the artifact store's keyword arguments for `put` and `put_stream`."""

    content_type: str | None
    metadata: JSONObject | None
    if_absent: bool


class RegistryStore(SessionStore, ArtifactRegistry, Protocol):
    """A session store that also keeps artifact records (every session backend of this library)."""


class CompositeSessionStore(AsyncClosing):
    """`SessionStore` + `ArtifactRegistry` + `ArtifactStore` by delegation to two stores."""

    def __init__(self, sessions: SessionStore, artifacts: ArtifactStore) -> None:
        if not isinstance(sessions, ArtifactRegistry):
            raise ValidationError(
                f"{type(sessions).__name__} does not keep artifact records (ArtifactRegistry)",
                details={"sessions": type(sessions).__name__},
            )
        if not isinstance(artifacts, ArtifactStore):
            raise ValidationError(
                f"{type(artifacts).__name__} is not an ArtifactStore",
                details={"artifacts": type(artifacts).__name__},
            )
        self.sessions: RegistryStore = sessions
        self.artifacts = artifacts
        self.backend = artifacts.backend

    # -- sessions, runs, events: straight to the session store ---------------------------------

    async def save_session(self, session: Session) -> Session:
        return await self.sessions.save_session(session)

    async def get_session(self, session_id: str) -> Session:
        return await self.sessions.get_session(session_id)

    async def list_sessions(
        self,
        *,
        agent_id: str | None = None,
        user_id: str | None = None,
        status: SessionStatus | str | Iterable[SessionStatus | str] | None = None,
        tags: str | Iterable[str] | None = None,
        order_by: str = "created_at",
        descending: bool = False,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Session]:
        return await self.sessions.list_sessions(
            agent_id=agent_id,
            user_id=user_id,
            status=status,
            tags=tags,
            order_by=order_by,
            descending=descending,
            limit=limit,
            cursor=cursor,
        )

    async def delete_session(self, session_id: str) -> None:
        """Delete the session with its runs, events and artifact records, then its blobs."""
        try:
            records = await all_items(
                lambda cursor: self.sessions.list_artifact_records(
                    session_id, limit=MAX_PAGE_SIZE, cursor=cursor
                )
            )
        except SessionNotFound:
            records = []
        keys = [r.key for r in records if r.storage_ref == self._ref(r.key)]
        await self.sessions.delete_session(session_id)
        await self._delete_blobs(session_id, keys)

    async def _delete_blobs(self, session_id: str, keys: list[str]) -> None:
        gate = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def one(key: str) -> None:
            async with gate:
                await self._blob("delete", self.artifacts.delete(key))

        results = await asyncio.gather(*(one(key) for key in keys), return_exceptions=True)
        failed = [key for key, result in zip(keys, results, strict=True) if isinstance(result, Exception)]
        if failed:
            log.warning(
                "session %s deleted, but %d of its blobs could not be removed and are left to maintenance "
                "as orphans (first: %r): %s",
                session_id,
                len(failed),
                failed[0],
                next(r for r in results if isinstance(r, Exception)),
            )

    async def save_run(self, run: Run) -> Run:
        return await self.sessions.save_run(run)

    async def get_run(self, run_id: str) -> Run:
        return await self.sessions.get_run(run_id)

    async def list_runs(
        self,
        session_id: str,
        *,
        status: RunStatus | str | Iterable[RunStatus | str] | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Run]:
        return await self.sessions.list_runs(session_id, status=status, limit=limit, cursor=cursor)

    async def get_active_run(self, session_id: str) -> Run | None:
        return await self.sessions.get_active_run(session_id)

    async def append_event(self, event: Event, *, expected_sequence: int | None = None) -> Event:
        return await self.sessions.append_event(event, expected_sequence=expected_sequence)

    async def append_events(
        self,
        events: Sequence[Event],
        *,
        expected_sequence: int | None = None,
        state_updates: Mapping[str, JSONObject] | None = None,
    ) -> list[Event]:
        return await self.sessions.append_events(
            events, expected_sequence=expected_sequence, state_updates=state_updates
        )

    async def flush(self, session: Session, run: Run | None, events: Sequence[Event]) -> list[Event]:
        return await self.sessions.flush(session, run, events)

    async def get_events(
        self,
        session_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
        limit: int | None = None,
        last: int | None = None,
        wait: float | None = None,
    ) -> list[Event]:
        return await self.sessions.get_events(
            session_id,
            after=after,
            before=before,
            since=since,
            until=until,
            run_id=run_id,
            types=types,
            limit=limit,
            last=last,
            wait=wait,
        )

    async def iter_events(
        self,
        session_id: str,
        *,
        after: int = 0,
        before: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
        batch_size: int = ITER_BATCH,
    ) -> AsyncIterator[Event]:
        """The session store's `iter_events` (an async generator here too, so `sync` iterates it)."""
        async for event in self.sessions.iter_events(
            session_id,
            after=after,
            before=before,
            since=since,
            until=until,
            run_id=run_id,
            types=types,
            batch_size=batch_size,
        ):
            yield event

    async def get_latest_sequence(self, session_id: str) -> int:
        return await self.sessions.get_latest_sequence(session_id)

    async def delete_events(
        self,
        session_id: str,
        *,
        ids: Iterable[str] | None = None,
        after: int | None = None,
        run_id: str | None = None,
        expected_sequence: int | None = None,
    ) -> int:
        return await self.sessions.delete_events(
            session_id, ids=ids, after=after, run_id=run_id, expected_sequence=expected_sequence
        )

    async def get_state(self, scope: str) -> State | None:
        return await self.sessions.get_state(scope)

    async def put_state(self, scope: str, value: JSONObject, *, expected_version: int | None = None) -> State:
        return await self.sessions.put_state(scope, value, expected_version=expected_version)

    async def merge_state(
        self, scope: str, delta: JSONObject, *, expected_version: int | None = None
    ) -> State:
        return await self.sessions.merge_state(scope, delta, expected_version=expected_version)

    async def delete_state(self, scope: str) -> bool:
        return await self.sessions.delete_state(scope)

    async def list_states(
        self, prefix: str | None = None, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[State]:
        return await self.sessions.list_states(prefix, limit=limit, cursor=cursor)

    def subscribe(
        self,
        session_id: str,
        *,
        after: int = 0,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
    ) -> AsyncIterator[Event]:
        return self.sessions.subscribe(session_id, after=after, run_id=run_id, types=types)

    # -- artifact records: straight to the registry --------------------------------------------

    async def register_artifact(self, record: ArtifactRecord) -> ArtifactRecord:
        return await self.sessions.register_artifact(record)

    async def get_artifact_record(self, key: str) -> ArtifactRecord:
        return await self.sessions.get_artifact_record(key)

    async def list_artifact_records(
        self, session_id: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[ArtifactRecord]:
        return await self.sessions.list_artifact_records(session_id, limit=limit, cursor=cursor)

    async def artifact_totals(self, session_id: str) -> ArtifactTotals:
        return await self.sessions.artifact_totals(session_id)

    async def delete_artifact_record(self, key: str) -> None:
        await self.sessions.delete_artifact_record(key)

    # -- blobs: written then registered ---------------------------------------------------------

    def storage_ref(self, key: str) -> str:
        return self.artifacts.storage_ref(key)

    async def put_artifact(
        self,
        session_id: str,
        key: str,
        data: Data,
        *,
        run_id: str | None = None,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactRecord:
        """Store `data` as an artifact of the session (and run); return its registry record.

        `if_absent=True` is create-only (`already_exists` if the key holds a blob), as for `put`.
        """
        blob = _Blob(content_type, metadata, if_absent)
        return (await self._put(key, data, blob, session_id, run_id))[1]

    async def put_artifact_stream(
        self,
        session_id: str,
        key: str,
        chunks: Chunks,
        *,
        run_id: str | None = None,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactRecord:
        """`put_artifact` for content larger than memory."""
        blob = _Blob(content_type, metadata, if_absent)
        return (await self._put_stream(key, chunks, blob, session_id, run_id))[1]

    async def put(
        self,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
        session_id: str | None = None,
        run_id: str | None = None,
    ) -> ArtifactInfo:
        """`ArtifactStore.put`, registering the blob (with its session and run, if given).

        Create-only (`if_absent=True`) is decided by the artifact store, atomically; a refused put
        registers nothing.
        """
        blob = _Blob(content_type, metadata, if_absent)
        return (await self._put(key, data, blob, session_id, run_id))[0]

    async def put_stream(
        self,
        key: str,
        chunks: Chunks,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
        session_id: str | None = None,
        run_id: str | None = None,
    ) -> ArtifactInfo:
        """`ArtifactStore.put_stream`, registering the blob (with its session and run, if given)."""
        blob = _Blob(content_type, metadata, if_absent)
        return (await self._put_stream(key, chunks, blob, session_id, run_id))[0]

    async def delete(self, key: str) -> None:
        """Remove the record, then the blob (a failure in between leaves an orphan blob); idempotent."""
        validate_key(key)
        await self.sessions.delete_artifact_record(key)
        await self._blob("delete", self.artifacts.delete(key))

    async def get(self, key: str) -> bytes:
        return await self._blob("get", self.artifacts.get(key))

    async def open_read(self, key: str) -> ArtifactReader:
        return await self._blob("open_read", self.artifacts.open_read(key))

    async def stat(self, key: str) -> ArtifactInfo:
        return await self._blob("stat", self.artifacts.stat(key))

    async def exists(self, key: str) -> bool:
        return await self._blob("exists", self.artifacts.exists(key))

    async def list(
        self, prefix: str = "", *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[str]:
        return await self._blob("list", self.artifacts.list(prefix, limit=limit, cursor=cursor))

    # -- query API and maintenance: the session store's, with this store's blobs ------------------

    def query_api(self) -> QueryAPI:
        """The session store's `QueryAPI` (records, runs and events all live there)."""
        from .query import query_api

        return query_api(self.sessions)

    def maintenance_api(
        self, artifacts: ArtifactStore | None = None, *, unregistered_blob_grace: timedelta | None = None
    ) -> Maintenance:
        """The session store's `Maintenance`, removing blobs from this store's artifact store (unless
        `artifacts` names another)."""
        from .maintenance import maintenance_api

        chosen = self.artifacts if artifacts is None else artifacts
        return maintenance_api(self.sessions, chosen, unregistered_blob_grace=unregistered_blob_grace)

    # -- lifecycle ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close both stores (the artifact store even if closing the session store fails)."""
        try:
            await self.sessions.close()
        finally:
            await self._blob("close", self.artifacts.close())

    # -- internals ------------------------------------------------------------------------------

    def _ref(self, key: str) -> str | None:
        try:
            return self.artifacts.storage_ref(key)
        except ValidationError:
            return None

    async def _write(
        self,
        key: str,
        session_id: str | None,
        run_id: str | None,
        put: Callable[[], Awaitable[ArtifactInfo]],
    ) -> tuple[ArtifactInfo, ArtifactRecord]:
        """Check key, run and session, then write the blob, then register it (blob first: see above).

        Checking first means a typo in a session id writes nothing.
        """
        validate_key(key)
        if run_id is not None:
            run = await self.sessions.get_run(run_id)
            if session_id is not None and run.session_id != session_id:
                raise ValidationError(
                    f"run {run_id} belongs to session {run.session_id}, not {session_id}",
                    details={"run_id": run_id, "session_id": session_id},
                )
            session_id = run.session_id
        if session_id is not None:
            await self.sessions.get_session(session_id)
        info = await put()
        return info, await self._register(info, session_id, run_id)

    async def _register(
        self, info: ArtifactInfo, session_id: str | None, run_id: str | None
    ) -> ArtifactRecord:
        record = ArtifactRecord(
            session_id=session_id,
            run_id=run_id,
            key=info.key,
            content_type=info.content_type,
            byte_size=info.size,
            checksum_sha256=info.sha256,
            storage_backend=self.artifacts.backend,
            storage_ref=self.artifacts.storage_ref(info.key),
            metadata=info.metadata,
        )
        return await self.sessions.register_artifact(record)

    async def _put(
        self,
        key: str,
        data: Data,
        blob: _Blob,
        session_id: str | None,
        run_id: str | None,
    ) -> tuple[ArtifactInfo, ArtifactRecord]:
        def put() -> Awaitable[ArtifactInfo]:
            return self._blob("put", self.artifacts.put(key, data, **blob._asdict()))

        return await self._write(key, session_id, run_id, put)

    async def _put_stream(
        self,
        key: str,
        chunks: Chunks,
        blob: _Blob,
        session_id: str | None,
        run_id: str | None,
    ) -> tuple[ArtifactInfo, ArtifactRecord]:
        # Exceptions raised by the caller's own iterable pass through unchanged, like on every store.
        caller_errors: list[BaseException] = []

        async def tracked() -> AsyncIterator[Any]:
            try:
                async for chunk in iterate_chunks(chunks):
                    yield chunk
            except BaseException as exc:
                caller_errors.append(exc)
                raise

        def put() -> Awaitable[ArtifactInfo]:
            stream = self.artifacts.put_stream(key, tracked(), **blob._asdict())
            return self._blob("put_stream", stream, passthrough=caller_errors)

        return await self._write(key, session_id, run_id, put)

    async def _blob(self, operation: str, call: Awaitable[T], passthrough: Sequence[BaseException] = ()) -> T:
        """Await an artifact-store call; anything but our errors (or the caller's own) is `StorageError`."""
        try:
            return await call
        except ASMError:
            raise
        except Exception as exc:
            if any(exc is mine for mine in passthrough):
                raise
            raise StorageError(
                f"artifact store {operation} failed: {type(exc).__name__}",
                details={"operation": operation, "backend": self.backend},
            ) from exc


async def open_composite_store(
    database_url: str | None = None,
    artifacts_url: str | None = None,
    *,
    session_options: dict[str, Any] | None = None,
    artifact_options: dict[str, Any] | None = None,
) -> CompositeSessionStore:
    """Open a session store and an artifact store from their URLs (defaults: `ASM_DATABASE_URL`,
    `ASM_ARTIFACTS_URL`, else `sqlite:///./.asm/asm.db` and `file://./.asm/artifacts`) as one handle."""
    sessions = await open_store(database_url, **(session_options or {}))
    try:
        artifacts = await open_artifact_store(artifacts_url, **(artifact_options or {}))
    except BaseException:
        await sessions.close()
        raise
    try:
        return CompositeSessionStore(sessions, artifacts)
    except BaseException:
        await sessions.close()
        await artifacts.close()
        raise
