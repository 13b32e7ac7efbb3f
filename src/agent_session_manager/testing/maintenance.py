"""The `Maintenance` contract suite: memory, SQLite and PostgreSQL (and third-party backends) pass it.

Use it with pytest and pytest-asyncio (`asyncio_mode = "auto"`)::

    from agent_session_manager.testing import MaintenanceContract

    class TestMyMaintenance(MaintenanceContract):
        async def new_store(self):
            return await MyStore.connect(...)        # connected and EMPTY

        async def drop_session_row(self, store, session_id):
            ...  # fault injection: remove only the session's own row, leaving its runs, events,
                 # counter and artifact records behind (what a crash or a foreign tool could leave)

        async def set_counter(self, store, session_id, value):
            ...  # fault injection: set the session's sequence counter

`maintenance_api(store, artifacts)` picks the implementation; override `make_maintenance` to test
another. Blobs live in an `InMemoryArtifactStore`. `concurrent_prune_events` sizes the test that appends
to live sessions while maintenance prunes (100,000 by default, as the issue asks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from ..artifacts.base import ArtifactInfo, Data
from ..artifacts.memory import InMemoryArtifactStore
from ..artifacts.registry import ArtifactRegistry
from ..core.errors import NotFound, SessionNotFound, StorageError, ValidationError
from ..core.json import JSONObject
from ..core.models import ArtifactRecord, Event, EventType, Run, Session, SessionStatus
from ..maintenance import (
    Maintenance,
    MaintenanceProgress,
    MaintenanceReport,
    RetentionPolicy,
    maintenance_api,
)
from ..query import import_session, query_api
from ..sessions.base import SessionStore
from .registry import Contract

NOW = datetime(2030, 6, 1, tzinfo=UTC)
#: A policy that does nothing unless a test switches a step on.
NOTHING: dict[str, Any] = {
    "max_completed_session_age_days": None,
    "hard_delete_after_days": None,
    "exempt_statuses": [],
    "exempt_tags": [],
}
E = EventType


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


class FailingArchive(InMemoryArtifactStore):
    """Fault injection: an archive whose writes fail."""

    async def put(
        self,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        metadata: JSONObject | None = None,
        if_absent: bool = False,
    ) -> ArtifactInfo:
        raise StorageError("archive is down")


class MaintenanceContract(Contract):
    """Subclass in a test module and implement `new_store`, `drop_session_row` and `set_counter`."""

    concurrent_prune_events = 100_000

    async def new_store(self) -> SessionStore:
        """Return a connected, empty store. Subclasses must override this."""
        raise NotImplementedError

    async def drop_session_row(self, store: SessionStore, session_id: str) -> None:
        """Remove only the session's own row (fault injection). Subclasses must override this."""
        raise NotImplementedError

    async def set_counter(self, store: SessionStore, session_id: str, value: int) -> None:
        """Set the session's sequence counter (fault injection). Subclasses must override this."""
        raise NotImplementedError

    def make_maintenance(self, store: SessionStore, artifacts: InMemoryArtifactStore) -> Maintenance:
        return maintenance_api(store, artifacts)

    @pytest.fixture
    async def store(self) -> AsyncIterator[SessionStore]:
        store = await self.new_store()
        try:
            yield store
        finally:
            await store.close()

    @pytest.fixture
    def blobs(self) -> InMemoryArtifactStore:
        return InMemoryArtifactStore()

    @pytest.fixture
    def maint(self, store: SessionStore, blobs: InMemoryArtifactStore) -> Maintenance:
        return self.make_maintenance(store, blobs)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    async def _session(store: SessionStore, name: str, **fields: Any) -> Session:
        return await store.save_session(Session(id=f"ses_{name}", agent_id="agent", **fields))

    @staticmethod
    async def _log(
        store: SessionStore, session: Session, types: list[EventType], start: int = 0
    ) -> list[Event]:
        events = [
            Event(
                id=f"evt_{session.id}_{start + i:05d}",
                type=kind,
                session_id=session.id,
                timestamp=days_ago(50) + timedelta(seconds=start + i),
                data={"i": start + i},
            )
            for i, kind in enumerate(types)
        ]
        return await store.append_events(events)

    @staticmethod
    async def _artifact(
        store: SessionStore, blobs: InMemoryArtifactStore, session: Session, name: str
    ) -> ArtifactRecord:
        key = f"{session.id}/{name}"
        info = await blobs.put(key, name.encode())
        assert isinstance(store, ArtifactRegistry)
        return await store.register_artifact(
            ArtifactRecord(
                session_id=session.id,
                key=key,
                byte_size=info.size,
                checksum_sha256=info.sha256,
                storage_backend=blobs.backend,
                storage_ref=blobs.storage_ref(key),
            )
        )

    @staticmethod
    async def _seqs(store: SessionStore, session_id: str) -> list[int]:
        return [e.sequence_number or 0 for e in await store.get_events(session_id)]

    @staticmethod
    def _counts(report: MaintenanceReport) -> dict[str, Any]:
        return report.model_dump(exclude={"duration_ms", "dry_run"})

    # -- the report and the policy --------------------------------------------------------------

    async def test_empty_store_reports_zero_for_every_step(self, maint: Maintenance) -> None:
        report = await maint.execute(RetentionPolicy(), now=NOW)
        assert report.ok and report.errors == []
        assert report.dry_run is False and report.duration_ms >= 0
        counts = self._counts(report)
        assert counts.pop("errors") == []
        assert set(counts) == {
            "sessions_soft_deleted",
            "sessions_hard_deleted",
            "events_pruned",
            "events_archived",
            "artifacts_cleaned",
            "blobs_deleted",
            "orphaned_sequences_cleaned",
            "states_expired",
        }
        assert set(counts.values()) == {0}
        assert await maint.health_check() == []

    async def test_bad_arguments_raise_validation_error(self, maint: Maintenance) -> None:
        with pytest.raises(ValidationError):
            await maint.execute({"max_events_per_session": 5})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await maint.execute(RetentionPolicy(), now=datetime(2030, 1, 1))
        with pytest.raises(ValidationError):
            RetentionPolicy(batch_size=0)
        with pytest.raises(SessionNotFound):
            await maint.prune_session_events("ses_missing", RetentionPolicy(max_events_per_session=1))

    # -- soft and hard delete -------------------------------------------------------------------

    async def _lifecycle(self, store: SessionStore) -> dict[str, Session]:
        """Sessions of every age and status; `updated_at` is when they last changed."""
        specs: dict[str, dict[str, Any]] = {
            "old_completed": {"status": SessionStatus.COMPLETED, "updated_at": days_ago(100)},
            "old_failed": {"status": SessionStatus.FAILED, "updated_at": days_ago(91)},
            "old_cancelled_pinned": {
                "status": SessionStatus.CANCELLED,
                "updated_at": days_ago(100),
                "tags": ["pinned", "x"],
            },
            "old_active": {"status": SessionStatus.ACTIVE, "updated_at": days_ago(100)},
            "old_pending": {"status": SessionStatus.PENDING, "updated_at": days_ago(400)},
            "recent_completed": {"status": SessionStatus.COMPLETED, "updated_at": days_ago(89)},
            "ancient_paused": {"status": SessionStatus.PAUSED, "updated_at": days_ago(500)},
        }
        found = {}
        for name, fields in specs.items():
            fields.setdefault("created_at", fields["updated_at"] - timedelta(days=1))
            found[name] = await self._session(store, name, **fields)
        return found

    async def _deleted(self, store: SessionStore, sessions: dict[str, Session]) -> set[str]:
        return {
            name for name, s in sessions.items() if (await store.get_session(s.id)).deleted_at is not None
        }

    async def test_soft_delete_follows_age_status_and_exemptions(
        self, store: SessionStore, maint: Maintenance
    ) -> None:
        sessions = await self._lifecycle(store)
        policy = RetentionPolicy(hard_delete_after_days=None)
        dry = await maint.execute(policy, dry_run=True, now=NOW)
        assert dry.dry_run and dry.sessions_soft_deleted == 2
        assert await self._deleted(store, sessions) == set()
        report = await maint.execute(policy, now=NOW)
        assert report.sessions_soft_deleted == 2 and report.ok
        assert await self._deleted(store, sessions) == {"old_completed", "old_failed"}
        stamp = (await store.get_session(sessions["old_completed"].id)).deleted_at
        assert stamp == NOW
        assert (await maint.execute(policy, now=NOW)).sessions_soft_deleted == 0
        by_age = RetentionPolicy(max_session_age_days=365, hard_delete_after_days=None)
        assert await maint.soft_delete_expired_sessions(by_age, now=NOW) == 1
        assert await self._deleted(store, sessions) == {"old_completed", "old_failed", "old_pending"}
        no_exemptions = RetentionPolicy(
            max_session_age_days=365, hard_delete_after_days=None, exempt_statuses=[], exempt_tags=[]
        )
        assert await maint.soft_delete_expired_sessions(no_exemptions, now=NOW) == 2
        assert await self._deleted(store, sessions) == set(sessions) - {"recent_completed", "old_active"}
        hidden = await query_api(store).search_sessions(limit=100)
        assert [s.id for s in hidden.items] == [sessions[n].id for n in ("recent_completed", "old_active")]

    async def test_hard_delete_removes_everything_and_the_blobs(
        self, store: SessionStore, blobs: InMemoryArtifactStore, maint: Maintenance
    ) -> None:
        gone = await self._session(store, "gone", status=SessionStatus.COMPLETED, deleted_at=days_ago(31))
        kept = await self._session(store, "kept", status=SessionStatus.COMPLETED, deleted_at=days_ago(29))
        for session in (gone, kept):
            await store.save_run(Run(session_id=session.id))
            await self._log(store, session, [E.SESSION_CREATED, E.MESSAGE_SENT])
            await self._artifact(store, blobs, session, "a.txt")
        foreign_key = f"{gone.id}/foreign.bin"
        await blobs.put(foreign_key, b"not the record's blob")
        assert isinstance(store, ArtifactRegistry)
        await store.register_artifact(
            ArtifactRecord(
                session_id=gone.id,
                key=foreign_key,
                byte_size=1,
                checksum_sha256="0" * 64,
                storage_backend="s3",
                storage_ref="s3://elsewhere/foreign.bin",
            )
        )
        policy = RetentionPolicy(**{**NOTHING, "hard_delete_after_days": 30})
        assert (await maint.execute(policy, dry_run=True, now=NOW)).sessions_hard_deleted == 1
        assert await blobs.exists(f"{gone.id}/a.txt")
        report = await maint.execute(policy, now=NOW)
        assert (report.sessions_hard_deleted, report.blobs_deleted) == (1, 1)
        with pytest.raises(SessionNotFound):
            await store.get_session(gone.id)
        with pytest.raises(NotFound):
            await store.get_artifact_record(f"{gone.id}/a.txt")
        assert not await blobs.exists(f"{gone.id}/a.txt")
        assert await blobs.exists(foreign_key), "a blob of another store's record was deleted"
        assert await blobs.exists(f"{kept.id}/a.txt")
        assert await self._seqs(store, kept.id) == [1, 2]
        assert await maint.health_check() == []

    # -- pruning --------------------------------------------------------------------------------

    async def test_prune_takes_preferred_types_first_and_never_protected_ones(
        self, store: SessionStore, maint: Maintenance
    ) -> None:
        session = await self._session(store, "chatty", status=SessionStatus.COMPLETED)
        types = [
            E.SESSION_CREATED,  # 1
            E.RUN_STARTED,  # 2
            E.MESSAGE_SENT,  # 3
            E.MESSAGE_STREAMED,  # 4
            E.TOOL_CALL_STARTED,  # 5
            E.TOKEN_USAGE_UPDATED,  # 6
            E.MESSAGE_STREAMED,  # 7
            E.ERROR_OCCURRED,  # 8
            E.MESSAGE_RECEIVED,  # 9
            E.RUN_FAILED,  # 10
            E.RUN_COMPLETED,  # 11
            E.MESSAGE_STREAMED,  # 12
        ]
        await self._log(store, session, types)
        policy = RetentionPolicy(**{**NOTHING, "max_events_per_session": 7})
        assert (await maint.execute(policy, dry_run=True, now=NOW)).events_pruned == 5
        assert len(await store.get_events(session.id)) == 12
        report = await maint.execute(policy, now=NOW)
        assert report.events_pruned == 5 and report.ok
        # streamed 4, 7, 12 and token usage 6 first, then the oldest other unprotected one (3)
        assert await self._seqs(store, session.id) == [1, 2, 5, 8, 9, 10, 11]
        later = await store.append_event(Event(type=E.MESSAGE_SENT, session_id=session.id))
        assert later.sequence_number == 13
        assert await maint.prune_session_events(session.id, RetentionPolicy(max_events_per_session=1)) == 3
        assert await self._seqs(store, session.id) == [1, 2, 8, 10, 11]
        assert await maint.health_check() == []

    async def test_prune_respects_exemptions_and_caps_the_whole_store(
        self, store: SessionStore, maint: Maintenance
    ) -> None:
        live = await self._session(store, "live", status=SessionStatus.ACTIVE)
        pinned = await self._session(store, "pinned", status=SessionStatus.COMPLETED, tags=["pinned"])
        a = await self._session(store, "a", status=SessionStatus.COMPLETED)
        b = await self._session(store, "b", status=SessionStatus.COMPLETED)
        await self._log(store, live, [E.MESSAGE_SENT] * 6)
        await self._log(store, pinned, [E.MESSAGE_SENT] * 6)
        await self._log(store, a, [E.SESSION_CREATED, *[E.MESSAGE_SENT] * 5], start=0)
        await self._log(store, b, [E.MESSAGE_SENT] * 6, start=1)
        policy = RetentionPolicy(
            max_events_per_session=4,
            max_total_events=18,
            max_completed_session_age_days=None,
            hard_delete_after_days=None,
        )
        dry = await maint.execute(policy, dry_run=True, now=NOW)
        report = await maint.execute(policy, now=NOW)
        # per session: a and b lose 2 each (20 left); store-wide: the 2 oldest unprotected of a and b go
        assert report.events_pruned == dry.events_pruned == 6
        assert await self._seqs(store, live.id) == [1, 2, 3, 4, 5, 6]
        assert await self._seqs(store, pinned.id) == [1, 2, 3, 4, 5, 6]
        assert await self._seqs(store, a.id) == [1, 5, 6]
        assert await self._seqs(store, b.id) == [4, 5, 6]
        assert await query_api(store).count_events() == 18

    async def test_dry_run_predicts_the_real_run_and_changes_nothing(
        self, store: SessionStore, blobs: InMemoryArtifactStore, maint: Maintenance
    ) -> None:
        sessions = await self._lifecycle(store)
        purged = await self._session(store, "purged", status=SessionStatus.FAILED, deleted_at=days_ago(40))
        for i, session in enumerate([*sessions.values(), purged]):
            await self._log(
                store, session, [E.SESSION_CREATED, *[E.MESSAGE_STREAMED, E.MESSAGE_SENT] * (3 + i)]
            )
        await self._artifact(store, blobs, purged, "x.bin")
        orphan = await self._session(store, "orphan")
        await self._log(store, orphan, [E.MESSAGE_SENT])
        await self._artifact(store, blobs, orphan, "o.bin")
        await self.drop_session_row(store, orphan.id)
        policy = RetentionPolicy(max_session_age_days=200, max_events_per_session=6, max_total_events=40)
        api = query_api(store)
        before = [(await api.export_session(s.id)).to_json() for s in [*sessions.values(), purged]]
        dry = await maint.execute(policy, dry_run=True, now=NOW)
        after = [(await api.export_session(s.id)).to_json() for s in [*sessions.values(), purged]]
        assert before == after
        assert await blobs.exists(f"{purged.id}/x.bin") and await blobs.exists(f"{orphan.id}/o.bin")
        real = await maint.execute(policy, now=NOW)
        assert real.ok, real.errors
        assert self._counts(dry) == self._counts(real)
        assert real.sessions_hard_deleted == 1 and real.events_pruned > 0 and real.artifacts_cleaned == 1
        assert real.blobs_deleted == 2 and real.orphaned_sequences_cleaned == 1
        assert self._counts(await maint.execute(policy, dry_run=True, now=NOW))["events_pruned"] == 0

    async def test_progress_reports_every_step_in_order_and_the_running_counts(
        self, store: SessionStore, maint: Maintenance
    ) -> None:
        session = await self._session(store, "chatty", status=SessionStatus.COMPLETED)
        await self._log(store, session, [E.SESSION_CREATED, *[E.MESSAGE_STREAMED] * 30])
        seen: list[MaintenanceProgress] = []
        policy = RetentionPolicy(**NOTHING, max_events_per_session=5, batch_size=10)
        report = await maint.execute(policy, now=NOW, on_progress=seen.append)
        assert report.events_pruned == 26
        assert list(dict.fromkeys(p.step for p in seen)) == [
            "soft_delete",
            "hard_delete",
            "prune",
            "orphans",
            "expired_states",
        ]
        assert [p.step_number for p in seen] == sorted(p.step_number for p in seen)
        assert {p.steps for p in seen} == {5}
        pruned = [p.counts.get("events_pruned", 0) for p in seen if p.step == "prune"]
        assert pruned == sorted(pruned) and pruned[-1] == 26
        assert len(pruned) >= 3, "progress is reported per batch, not only per step"
        assert seen[-1].counts.get("events_pruned") == 26

    async def test_archive_before_prune_writes_every_pruned_event_first(
        self, store: SessionStore, blobs: InMemoryArtifactStore, maint: Maintenance
    ) -> None:
        archive = InMemoryArtifactStore()
        session = await self._session(store, "archived", status=SessionStatus.COMPLETED)
        other = await self._session(store, "other", status=SessionStatus.COMPLETED)
        original = await self._log(store, session, [E.MESSAGE_SENT] * 25)
        await self._log(store, other, [E.MESSAGE_SENT] * 5, start=100)
        policy = RetentionPolicy(
            **NOTHING,
            max_events_per_session=5,
            max_total_events=7,
            archive_before_prune=True,
            archive_store=archive,
            batch_size=7,
        )
        report = await maint.execute(policy, now=NOW)
        assert report.events_pruned == report.events_archived == 23
        kept = {e.id for e in await store.get_events(session.id)} | {
            e.id for e in await store.get_events(other.id)
        }
        assert len(kept) == 7
        archived: list[Event] = []
        keys = (await archive.list("asm-archive/events/", limit=1000)).items
        for key in keys:
            for line in (await archive.get(key)).splitlines():
                record = orjson.loads(line)
                assert record["kind"] == "event"
                archived.append(Event.from_dict(record["event"]))
            assert isinstance(store, ArtifactRegistry)
            entry = await store.get_artifact_record(key)
            assert entry.session_id is None and entry.metadata["kind"] == "event_archive"
            assert entry.storage_ref == archive.storage_ref(key)
        everything = [*original, *(await store.get_events(other.id))]
        pruned = [e for e in everything if e.id not in kept]
        assert sorted(archived, key=lambda e: e.id) == sorted(pruned, key=lambda e: e.id)
        assert all(k.startswith(f"asm-archive/events/{session.id}/") or other.id in k for k in keys)
        assert await maint.health_check() == []

    async def test_archives_of_a_reimported_session_do_not_overwrite_earlier_ones(
        self, store: SessionStore, maint: Maintenance
    ) -> None:
        """Import renumbers a pruned session from 1, so later batches reuse sequence numbers."""
        archive = InMemoryArtifactStore()
        session = await self._session(store, "again", status=SessionStatus.COMPLETED)
        await self._log(store, session, [E.MESSAGE_SENT] * 10)
        policy = RetentionPolicy(
            **NOTHING, max_events_per_session=6, archive_before_prune=True, archive_store=archive
        )
        assert (await maint.execute(policy, now=NOW)).events_archived == 4
        export = await query_api(store).export_session(session.id)
        await store.delete_session(session.id)
        assert (await import_session(store, export)).renumbered
        await self._log(store, session, [E.MESSAGE_SENT] * 4, start=100)
        assert (await maint.execute(policy, now=NOW)).events_archived == 4
        archived: list[str] = []
        for key in (await archive.list("asm-archive/events/", limit=1000)).items:
            archived += [orjson.loads(line)["event"]["id"] for line in (await archive.get(key)).splitlines()]
        assert len(archived) == len(set(archived)) == 8

    async def test_a_failing_step_is_reported_and_the_others_still_run(
        self, store: SessionStore, maint: Maintenance
    ) -> None:
        session = await self._session(store, "big", status=SessionStatus.COMPLETED, updated_at=days_ago(1))
        old = await self._session(store, "old", status=SessionStatus.COMPLETED, updated_at=days_ago(100))
        await self._log(store, session, [E.MESSAGE_SENT] * 10)
        policy = RetentionPolicy(
            max_events_per_session=2,
            archive_before_prune=True,
            archive_store=FailingArchive(),
            hard_delete_after_days=None,
        )
        report = await maint.execute(policy, now=NOW)
        assert not report.ok
        assert [(e.step, e.code) for e in report.errors] == [("prune", "storage_error")]
        assert report.events_pruned == 0 and report.sessions_soft_deleted == 1
        assert await self._seqs(store, session.id) == list(range(1, 11))
        assert (await store.get_session(old.id)).deleted_at == NOW

    # -- orphans and health ---------------------------------------------------------------------

    async def test_orphans_are_cleaned_and_health_reports_the_rest(
        self, store: SessionStore, blobs: InMemoryArtifactStore, maint: Maintenance
    ) -> None:
        healthy = await self._session(store, "healthy")
        await self._log(store, healthy, [E.MESSAGE_SENT] * 3)
        lost = await self._session(store, "lost")
        await store.save_run(Run(session_id=lost.id))
        await self._log(store, lost, [E.MESSAGE_SENT] * 2)
        record = await self._artifact(store, blobs, lost, "left.bin")
        await self.drop_session_row(store, lost.id)
        await self.set_counter(store, healthy.id, 1)
        issues = {(i.kind, i.count, i.session_id) for i in await maint.health_check()}
        assert issues == {
            ("events_without_session", 2, None),
            ("runs_without_session", 1, None),
            ("artifacts_without_session", 1, None),
            ("counter_without_session", 1, None),
            ("counter_behind", 2, healthy.id),
        }
        assert await maint.clean_orphaned_artifacts(dry_run=True) == 1
        assert await blobs.exists(record.key)
        report = await maint.execute(RetentionPolicy(**NOTHING), now=NOW)
        assert (report.artifacts_cleaned, report.blobs_deleted, report.orphaned_sequences_cleaned) == (
            1,
            1,
            1,
        )
        assert not await blobs.exists(record.key)
        left = {(i.kind, i.count, i.session_id) for i in await maint.health_check()}
        assert left == {
            ("events_without_session", 2, None),
            ("runs_without_session", 1, None),
            ("counter_behind", 2, lost.id),
            ("counter_behind", 2, healthy.id),
        }

    async def test_unregistered_blobs_are_swept_only_when_asked_and_after_the_grace(
        self, store: SessionStore, blobs: InMemoryArtifactStore
    ) -> None:
        session = await self._session(store, "owner")
        registered = await self._artifact(store, blobs, session, "kept.bin")
        await blobs.put("stray/left-by-a-crash.bin", b"x")
        plain = self.make_maintenance(store, blobs)
        await plain.execute(RetentionPolicy(**NOTHING), now=NOW)
        assert await blobs.exists("stray/left-by-a-crash.bin")
        young = maintenance_api(store, blobs, unregistered_blob_grace=timedelta(hours=1))
        assert (await young.execute(RetentionPolicy(**NOTHING))).blobs_deleted == 0
        sweeping = maintenance_api(store, blobs, unregistered_blob_grace=timedelta(0))
        dry = await sweeping.execute(RetentionPolicy(**NOTHING), dry_run=True, now=NOW)
        assert dry.blobs_deleted == 1 and await blobs.exists("stray/left-by-a-crash.bin")
        archive_policy = RetentionPolicy(
            **{**NOTHING, "max_events_per_session": 1},
            archive_before_prune=True,
            archive_store=blobs,
        )
        await self._log(store, session, [E.MESSAGE_SENT] * 2)
        assert (await sweeping.execute(archive_policy, now=NOW)).blobs_deleted == 1
        assert not await blobs.exists("stray/left-by-a-crash.bin")
        assert await blobs.exists(registered.key)
        archived = (await blobs.list("asm-archive/", limit=10)).items
        assert len(archived) == 1
        with pytest.raises(ValidationError):
            maintenance_api(store, None, unregistered_blob_grace=timedelta(0))

    # -- concurrency ----------------------------------------------------------------------------

    async def test_appends_continue_while_maintenance_prunes(
        self, store: SessionStore, maint: Maintenance
    ) -> None:
        sessions_count, keep = 10, 100
        per_session = self.concurrent_prune_events // sessions_count
        sessions = [
            await self._session(store, f"live{i:02d}", status=SessionStatus.ACTIVE)
            for i in range(sessions_count)
        ]
        for session in sessions:
            total = per_session + keep
            for start in range(0, total, 1000):
                count = min(1000, total - start)
                await store.append_events(
                    [Event(type=E.MESSAGE_STREAMED, session_id=session.id) for _ in range(count)]
                )
        policy = RetentionPolicy(**{**NOTHING, "max_events_per_session": keep})
        stop = asyncio.Event()
        waits: list[float] = []
        appended: dict[str, list[int]] = {s.id: [] for s in sessions}

        async def writer(session: Session) -> None:
            while not stop.is_set():
                started = time.perf_counter()
                event = await store.append_event(Event(type=E.MESSAGE_SENT, session_id=session.id))
                waits.append(time.perf_counter() - started)
                appended[session.id].append(event.sequence_number or 0)
                await asyncio.sleep(0.002)

        writers = [asyncio.create_task(writer(s)) for s in sessions[:4]]
        try:
            report = await maint.execute(policy, now=NOW)
        finally:
            stop.set()
            await asyncio.gather(*writers)
        assert report.ok, report.errors
        assert report.events_pruned == self.concurrent_prune_events
        assert len(waits) >= 20, "the writers did not get to run while maintenance pruned"
        assert max(waits) < 1.0, f"an append waited {max(waits):.3f} s"
        for session in sessions:
            numbers = appended[session.id]
            last = per_session + keep + len(numbers)
            assert numbers == list(range(per_session + keep + 1, last + 1))
            assert await self._seqs(store, session.id) == list(range(per_session + 1, last + 1))


class SQLStoreFaults:
    """`drop_session_row` and `set_counter` for this library's SQL stores (SQLite, PostgreSQL)."""

    async def drop_session_row(self, store: SessionStore, session_id: str) -> None:
        from ..sessions.sql.store import SQLSessionStore

        assert isinstance(store, SQLSessionStore)
        await store.sql_write("DELETE FROM asm_sessions WHERE id = $1", (session_id,))

    async def set_counter(self, store: SessionStore, session_id: str, value: int) -> None:
        from ..sessions.sql.store import SQLSessionStore

        assert isinstance(store, SQLSessionStore)
        sql = "UPDATE asm_session_sequences SET last_sequence = $2 WHERE session_id = $1"
        await store.sql_write(sql, (session_id, value))
