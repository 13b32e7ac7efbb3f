"""The `SnapshotStorage` contract suite: every snapshot backend passes the same tests.

    from agent_session_manager.testing import SnapshotStorageContract

    class TestMySnapshots(SnapshotStorageContract):
        async def new_storage(self):
            return MySnapshotStorage(...)          # EMPTY

        async def write_raw(self, storage, key, data):
            ...   # store `data` at `key` (relative to the storage's root), bypassing the storage

        async def read_raw(self, storage, key):
            ...   # the bytes at `key`, or None

The raw hooks let the suite pin the exact Strands key layout and JSON bytes, and plant corrupt or
foreign (Strands-written) documents.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..core.errors import AlreadyExists, StorageError, ValidationError
from ..snapshots.base import (
    Snapshot,
    SnapshotLocation,
    SnapshotManifest,
    SnapshotStorage,
    new_snapshot_id,
)
from .registry import Contract

AGENT = SnapshotLocation(session_id="default-session", scope="agent", scope_id="agent")
CREATED = datetime(2026, 3, 6, 12, 34, 56, 789000, tzinfo=UTC)

#: A snapshot as Strands' TypeScript SDK writes it (`JSON.stringify(snapshot, null, 2)`).
STRANDS_LATEST = b"""{
  "scope": "agent",
  "schemaVersion": "1.0",
  "createdAt": "2026-03-06T12:34:56.789Z",
  "data": {
    "messages": [
      {
        "role": "user",
        "content": [
          {
            "text": "Hello, \xc3\xa9t\xc3\xa9!"
          }
        ]
      }
    ],
    "state": {},
    "systemPrompt": null,
    "modelState": {},
    "interrupts": null
  },
  "appData": {
    "tenant": "acme"
  }
}"""
STRANDS_MANIFEST = b"""{
  "schemaVersion": "1.0",
  "updatedAt": "2026-03-06T12:34:56.789Z"
}"""

#: The same snapshot as the Python SDK (strands-agents 1.6x) writes it: snake_case, compact.
STRANDS_PY_LATEST = (
    b'{"scope": "agent", "schema_version": "1.0", "created_at": "2026-03-06T12:34:56.789Z", '
    b'"data": {"messages": [{"role": "user", "content": [{"text": "Hello, \xc3\xa9t\xc3\xa9!"}]}], '
    b'"state": {}, "conversation_manager_state": {"removed_message_count": 0}, '
    b'"interrupt_state": {"interrupts": {}, "context": {}, "activated": false}, '
    b'"system_prompt": [{"text": "Be brief."}], "model_state": {}}, "app_data": {"tenant": "acme"}}'
)


def strands_snapshot() -> Snapshot:
    """The snapshot of `STRANDS_LATEST`, built in Python."""
    return Snapshot(
        scope="agent",
        created_at=CREATED,
        data={
            "messages": [{"role": "user", "content": [{"text": "Hello, été!"}]}],
            "state": {},
            "systemPrompt": None,
            "modelState": {},
            "interrupts": None,
        },
        app_data={"tenant": "acme"},
    )


class SnapshotStorageContract(Contract):
    """Subclass in a test module and implement `new_storage`, `write_raw` and `read_raw`."""

    async def new_storage(self) -> SnapshotStorage:
        """Return an empty storage. Subclasses must override this."""
        raise NotImplementedError

    async def write_raw(self, storage: SnapshotStorage, key: str, data: bytes) -> None:
        """Store `data` at `key` (relative to the storage's root), bypassing `storage`."""
        raise NotImplementedError

    async def read_raw(self, storage: SnapshotStorage, key: str) -> bytes | None:
        """The bytes stored at `key`, or None."""
        raise NotImplementedError

    @pytest.fixture
    async def storage(self) -> AsyncIterator[SnapshotStorage]:
        storage = await self.new_storage()
        try:
            yield storage
        finally:
            await storage.close()

    # -- layout and shapes ----------------------------------------------------------------------

    async def test_layout_and_json_are_exactly_strands(self, storage: SnapshotStorage) -> None:
        snapshot = strands_snapshot()
        history_id = "0195e9b2-8f3a-7c41-9d2e-5b6a7c8d9e0f"
        await storage.save_snapshot(AGENT, "latest", True, snapshot)
        await storage.save_snapshot(AGENT, history_id, False, snapshot)
        await storage.save_manifest(AGENT, SnapshotManifest(updated_at=CREATED))
        base = "default-session/scopes/agent/agent/snapshots/"
        assert await self.read_raw(storage, base + "snapshot_latest.json") == STRANDS_LATEST
        assert (
            await self.read_raw(storage, f"{base}immutable_history/snapshot_{history_id}.json")
            == STRANDS_LATEST
        )
        assert await self.read_raw(storage, base + "manifest.json") == STRANDS_MANIFEST

    async def test_reads_what_strands_wrote(self, storage: SnapshotStorage) -> None:
        location = SnapshotLocation(session_id="s-1", scope="multiAgent", scope_id="graph_1")
        base = "s-1/scopes/multiAgent/graph_1/snapshots/"
        document = STRANDS_LATEST.replace(b'"scope": "agent"', b'"scope": "multiAgent"')
        await self.write_raw(storage, base + "snapshot_latest.json", document)
        await self.write_raw(storage, base + "manifest.json", STRANDS_MANIFEST)
        loaded = await storage.load_snapshot(location)
        assert loaded is not None
        assert loaded.scope == "multiAgent"
        assert loaded.created_at == CREATED
        assert loaded.data["messages"][0]["content"][0]["text"] == "Hello, été!"
        assert loaded.app_data == {"tenant": "acme"}
        manifest = await storage.load_manifest(location)
        assert (manifest.schema_version, manifest.updated_at) == ("1.0", CREATED)
        await storage.save_snapshot(location, None, True, loaded)
        assert await self.read_raw(storage, base + "snapshot_latest.json") == document

    async def test_unknown_fields_and_newer_minor_versions_survive(self, storage: SnapshotStorage) -> None:
        key = "default-session/scopes/agent/agent/snapshots/snapshot_latest.json"
        newer = STRANDS_LATEST.replace(b'"schemaVersion": "1.0"', b'"schemaVersion": "1.3"').replace(
            b'"appData"', b'"futureField": [1, 2],\n  "appData"'
        )
        await self.write_raw(storage, key, newer)
        loaded = await storage.load_snapshot(AGENT)
        assert loaded is not None
        assert loaded.schema_version == "1.3"
        assert loaded.model_extra == {"futureField": [1, 2]}
        await storage.save_snapshot(AGENT, None, True, loaded)
        again = await storage.load_snapshot(AGENT)
        assert again == loaded

    async def test_reads_the_python_dialect_into_typescript_names(self, storage: SnapshotStorage) -> None:
        await self.write_raw(storage, AGENT.latest_key, STRANDS_PY_LATEST)
        loaded = await storage.load_snapshot(AGENT)
        assert loaded is not None
        assert (loaded.created_at, loaded.app_data) == (CREATED, {"tenant": "acme"})
        assert loaded.data == {
            "messages": [{"role": "user", "content": [{"text": "Hello, été!"}]}],
            "state": {},
            "conversationManagerState": {"removed_message_count": 0},
            "interrupts": {"interrupts": {}, "context": {}, "activated": False},
            "systemPrompt": [{"text": "Be brief."}],
            "modelState": {},
        }

    async def test_mixed_dialect_history_lists_and_loads(self, storage: SnapshotStorage) -> None:
        ids = [new_snapshot_id() for _ in range(3)]
        await self.write_raw(storage, AGENT.history_key(ids[0]), STRANDS_PY_LATEST)
        await storage.save_snapshot(AGENT, ids[1], False, strands_snapshot())
        await self.write_raw(storage, AGENT.history_key(ids[2]), STRANDS_LATEST)
        assert await storage.list_snapshot_ids(AGENT) == ids
        loaded = [await storage.load_snapshot(AGENT, i) for i in ids]
        assert all(s is not None and s.app_data == {"tenant": "acme"} for s in loaded)
        assert [s.data["messages"] for s in loaded if s] == [strands_snapshot().data["messages"]] * 3

    async def test_a_document_in_neither_dialect_names_the_key(self, storage: SnapshotStorage) -> None:
        await self.write_raw(storage, AGENT.latest_key, b'{"scope": "agent", "data": {}}')
        with pytest.raises(StorageError) as info:
            await storage.load_snapshot(AGENT)
        assert AGENT.latest_key in info.value.message
        assert "neither Strands dialect" in info.value.message
        mixed = STRANDS_LATEST.replace(b'"appData"', b'"app_data"')
        await self.write_raw(storage, AGENT.latest_key, mixed)
        with pytest.raises(StorageError, match="app_data"):
            await storage.load_snapshot(AGENT)

    # -- latest and history ---------------------------------------------------------------------

    async def test_latest_round_trips_and_is_overwritten(self, storage: SnapshotStorage) -> None:
        assert await storage.load_snapshot(AGENT) is None
        first = Snapshot(scope="agent", data={"messages": [], "n": 1.5, "deep": {"a": [None, True]}})
        await storage.save_snapshot(AGENT, "latest", True, first)
        assert await storage.load_snapshot(AGENT) == first
        second = Snapshot(scope="agent", data={"messages": ["x"]}, app_data={"k": "é"})
        await storage.save_snapshot(AGENT, "ignored-when-latest", True, second)
        assert await storage.load_snapshot(AGENT) == second
        assert await storage.list_snapshot_ids(AGENT) == []

    async def test_history_is_create_only(self, storage: SnapshotStorage) -> None:
        snapshot_id = new_snapshot_id()
        original = Snapshot(scope="agent", data={"v": 1})
        await storage.save_snapshot(AGENT, snapshot_id, False, original)
        with pytest.raises(AlreadyExists) as info:
            await storage.save_snapshot(AGENT, snapshot_id, False, Snapshot(scope="agent", data={"v": 2}))
        assert info.value.code == "already_exists"
        assert await storage.load_snapshot(AGENT, snapshot_id) == original
        assert await storage.load_snapshot(AGENT) is None  # history does not touch latest

    async def test_racing_creates_of_one_id_have_one_winner(self, storage: SnapshotStorage) -> None:
        snapshot_id = new_snapshot_id()
        results = await asyncio.gather(
            *(
                storage.save_snapshot(AGENT, snapshot_id, False, Snapshot(scope="agent", data={"w": i}))
                for i in range(8)
            ),
            return_exceptions=True,
        )
        winners = [i for i, r in enumerate(results) if r is None]
        assert len(winners) == 1
        assert all(isinstance(r, AlreadyExists) for r in results if r is not None)
        loaded = await storage.load_snapshot(AGENT, snapshot_id)
        assert loaded is not None and loaded.data == {"w": winners[0]}

    async def test_missing_history_entry_is_none(self, storage: SnapshotStorage) -> None:
        assert await storage.load_snapshot(AGENT, new_snapshot_id()) is None

    async def test_locations_do_not_mix(self, storage: SnapshotStorage) -> None:
        other_scope = SnapshotLocation(session_id="default-session", scope="multiAgent", scope_id="agent")
        other_agent = SnapshotLocation(session_id="default-session", scope="agent", scope_id="agent-2")
        other_session = SnapshotLocation(session_id="default-session-2", scope="agent", scope_id="agent")
        await storage.save_snapshot(AGENT, None, True, Snapshot(scope="agent", data={"who": "me"}))
        await storage.save_snapshot(AGENT, new_snapshot_id(), False, Snapshot(scope="agent"))
        for location in (other_scope, other_agent, other_session):
            assert await storage.load_snapshot(location) is None
            assert await storage.list_snapshot_ids(location) == []
        with pytest.raises(ValidationError):
            await storage.save_snapshot(other_scope, None, True, Snapshot(scope="agent"))

    # -- listing --------------------------------------------------------------------------------

    async def test_ids_list_in_time_order_with_a_cursor(self, storage: SnapshotStorage) -> None:
        ids = [new_snapshot_id() for _ in range(12)]
        shuffled = ids[:]
        random.Random(7).shuffle(shuffled)
        for snapshot_id in shuffled:
            await storage.save_snapshot(AGENT, snapshot_id, False, Snapshot(scope="agent"))
        assert await storage.list_snapshot_ids(AGENT) == ids
        assert await storage.list_snapshot_ids(AGENT, limit=5) == ids[:5]
        assert await storage.list_snapshot_ids(AGENT, start_after=ids[3]) == ids[4:]
        assert await storage.list_snapshot_ids(AGENT, start_after=ids[3], limit=2) == ids[4:6]
        assert await storage.list_snapshot_ids(AGENT, start_after=ids[-1]) == []
        assert await storage.list_snapshot_ids(AGENT, limit=0) == []
        walked: list[str] = []
        cursor = None
        while page := await storage.list_snapshot_ids(AGENT, limit=5, start_after=cursor):
            walked += page
            cursor = page[-1]
        assert walked == ids

    async def test_listing_ignores_foreign_names(self, storage: SnapshotStorage) -> None:
        snapshot_id = new_snapshot_id()
        await storage.save_snapshot(AGENT, snapshot_id, False, Snapshot(scope="agent"))
        history = AGENT.history_prefix
        await self.write_raw(storage, history + "notes.txt", b"not a snapshot")
        await self.write_raw(storage, history + "snapshot_.json", b"{}")
        assert await storage.list_snapshot_ids(AGENT) == [snapshot_id]

    async def test_bad_listing_arguments(self, storage: SnapshotStorage) -> None:
        with pytest.raises(ValidationError):
            await storage.list_snapshot_ids(AGENT, limit=-1)
        with pytest.raises(ValidationError):
            await storage.list_snapshot_ids(AGENT, start_after="not-a-uuid")
        with pytest.raises(ValidationError):  # a UUIDv4 is not time-ordered
            await storage.list_snapshot_ids(AGENT, start_after="1b4e28ba-2fa1-41d2-883f-0016d3cca427")

    # -- manifest -------------------------------------------------------------------------------

    async def test_manifest_default_and_round_trip(self, storage: SnapshotStorage) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        default = await storage.load_manifest(AGENT)
        assert default.schema_version == "1.0"
        assert default.updated_at >= before
        manifest = SnapshotManifest(updated_at=CREATED, nextSnapshotId="7")
        await storage.save_manifest(AGENT, manifest)
        loaded = await storage.load_manifest(AGENT)
        assert loaded == manifest
        assert loaded.model_extra == {"nextSnapshotId": "7"}

    # -- retention ------------------------------------------------------------------------------

    async def test_delete_snapshot_is_idempotent(self, storage: SnapshotStorage) -> None:
        keep, drop = new_snapshot_id(), new_snapshot_id()
        for snapshot_id in (keep, drop):
            await storage.save_snapshot(AGENT, snapshot_id, False, Snapshot(scope="agent"))
        await storage.delete_snapshot(AGENT, drop)
        await storage.delete_snapshot(AGENT, drop)
        assert await storage.list_snapshot_ids(AGENT) == [keep]
        assert await storage.load_snapshot(AGENT, drop) is None

    async def test_prune_keeps_the_newest(self, storage: SnapshotStorage) -> None:
        ids = [new_snapshot_id() for _ in range(7)]
        for snapshot_id in ids:
            await storage.save_snapshot(AGENT, snapshot_id, False, Snapshot(scope="agent"))
        latest = Snapshot(scope="agent", data={"latest": True})
        await storage.save_snapshot(AGENT, None, True, latest)
        await storage.save_manifest(AGENT, SnapshotManifest(updated_at=CREATED))
        assert await storage.prune(AGENT, keep_last=3) == ids[:4]
        assert await storage.list_snapshot_ids(AGENT) == ids[4:]
        assert await storage.prune(AGENT, keep_last=3) == []
        assert await storage.prune(AGENT, keep_last=0) == ids[4:]
        assert await storage.list_snapshot_ids(AGENT) == []
        assert await storage.load_snapshot(AGENT) == latest
        assert (await storage.load_manifest(AGENT)).updated_at == CREATED
        with pytest.raises(ValidationError):
            await storage.prune(AGENT, keep_last=-1)

    async def test_delete_session_removes_every_scope_of_it_only(self, storage: SnapshotStorage) -> None:
        multi = SnapshotLocation(session_id="default-session", scope="multiAgent", scope_id="swarm")
        other = SnapshotLocation(session_id="other-session", scope="agent", scope_id="agent")
        await storage.save_snapshot(AGENT, None, True, Snapshot(scope="agent"))
        await storage.save_snapshot(AGENT, new_snapshot_id(), False, Snapshot(scope="agent"))
        await storage.save_snapshot(multi, None, True, Snapshot(scope="multiAgent"))
        await storage.save_snapshot(other, None, True, Snapshot(scope="agent", data={"o": 1}))
        await storage.delete_session("default-session")
        await storage.delete_session("default-session")
        assert await storage.load_snapshot(AGENT) is None
        assert await storage.list_snapshot_ids(AGENT) == []
        assert await storage.load_snapshot(multi) is None
        kept = await storage.load_snapshot(other)
        assert kept is not None and kept.data == {"o": 1}

    # -- bad input and bad data -----------------------------------------------------------------

    @pytest.mark.parametrize("bad", ["", "UPPER", "a.b", "..", "a/b", "../x", "spa ce", "é", "nul\x00"])
    async def test_identifiers_follow_the_strands_rule(self, storage: SnapshotStorage, bad: str) -> None:
        for fields in (
            {"session_id": bad, "scope": "agent", "scope_id": "agent"},
            {"session_id": "s", "scope": "agent", "scope_id": bad},
        ):
            with pytest.raises(ValidationError):
                SnapshotLocation(**fields)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await storage.load_snapshot(AGENT, bad)
        with pytest.raises(ValidationError):
            await storage.delete_snapshot(AGENT, bad)
        with pytest.raises(ValidationError):
            await storage.delete_session(bad)
        with pytest.raises(ValidationError):
            SnapshotLocation(session_id="s", scope=bad, scope_id="a")  # type: ignore[arg-type]

    async def test_history_ids_must_be_uuid7(self, storage: SnapshotStorage) -> None:
        for bad in (None, "latest", "1b4e28ba-2fa1-41d2-883f-0016d3cca427", new_snapshot_id().upper()):
            with pytest.raises(ValidationError):
                await storage.save_snapshot(AGENT, bad, False, Snapshot(scope="agent"))
        assert await storage.list_snapshot_ids(AGENT) == []

    async def test_values_that_do_not_round_trip_are_refused(self) -> None:
        for bad in (float("nan"), float("inf"), b"bytes", (1, 2), {1, 2}, 2**64, {1: "int key"}):
            with pytest.raises(ValidationError):
                Snapshot(scope="agent", data={"bad": bad})
            with pytest.raises(ValidationError):
                Snapshot(scope="agent", app_data={"nested": [bad]})
        with pytest.raises(ValidationError):
            Snapshot(scope="agent", schema_version="2.0")
        with pytest.raises(ValidationError):
            Snapshot(scope="user")
        with pytest.raises(ValidationError):
            Snapshot(scope="agent", created_at=datetime(2026, 1, 1))  # naive

    @pytest.mark.parametrize(
        ("document", "complaint"),
        [
            (b'{"scope": "agent", "schemaVer', "not valid JSON"),
            (b"", "not valid JSON"),
            (b"[1, 2]", "not a Snapshot object"),
            (b'{"schemaVersion": "1.0", "createdAt": "2026-03-06T12:34:56.789Z"}', "scope"),
            (STRANDS_LATEST.replace(b'"1.0"', b'"2.0"'), "schemaVersion"),
            (STRANDS_LATEST.replace(b'"agent"', b'"multiAgent"'), "scope"),
            (STRANDS_LATEST.replace(b"2026-03-06T12:34:56.789Z", b"yesterday"), "createdAt"),
        ],
    )
    async def test_corrupt_documents_raise_naming_the_key(
        self, storage: SnapshotStorage, document: bytes, complaint: str
    ) -> None:
        key = AGENT.latest_key
        await self.write_raw(storage, key, document)
        with pytest.raises(StorageError) as info:
            await storage.load_snapshot(AGENT)
        assert info.value.code == "storage_error"
        assert key in info.value.message
        assert info.value.details["key"].endswith(key)
        assert complaint in info.value.message

    async def test_corrupt_manifest_raises_naming_the_key(self, storage: SnapshotStorage) -> None:
        await self.write_raw(storage, AGENT.manifest_key, b"{oops")
        with pytest.raises(StorageError) as info:
            await storage.load_manifest(AGENT)
        assert AGENT.manifest_key in info.value.message

    async def test_snapshot_model_uses_strands_names(self) -> None:
        snapshot = Snapshot.model_validate(
            {"scope": "agent", "schemaVersion": "1.0", "createdAt": "2026-03-06T12:34:56.789Z"}
        )
        assert snapshot.created_at == CREATED
        assert snapshot.data == {} and snapshot.app_data == {}
        wire: dict[str, Any] = snapshot.to_wire()
        assert list(wire) == ["scope", "schemaVersion", "createdAt", "data", "appData"]
        assert snapshot.model_dump(by_alias=True)["createdAt"] == "2026-03-06T12:34:56.789Z"
        micro = Snapshot(scope="agent", created_at=CREATED + timedelta(microseconds=1))
        assert micro.to_wire()["createdAt"] == "2026-03-06T12:34:56.789001Z"
