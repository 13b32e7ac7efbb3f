"""S3 snapshots on a real SeaweedFS: the whole contract, plus the exact keys with a prefix, the
conditional put, listing past 1,000 keys and URLs."""

from __future__ import annotations

import asyncio
from typing import Any

import obstore
import pytest

import agent_session_manager as asm
from agent_session_manager._s3 import parse_s3_url, s3_store
from agent_session_manager.snapshots import Snapshot, SnapshotLocation, SnapshotStorage, new_snapshot_id
from agent_session_manager.snapshots.s3 import S3SnapshotStorage
from agent_session_manager.testing import SnapshotStorageContract
from agent_session_manager.testing.services import S3Target

pytestmark = pytest.mark.s3


def raw_store(target: S3Target) -> Any:
    location, settings = parse_s3_url(target.url(), **target.credentials())
    return s3_store(location, settings)


async def keys(target: S3Target) -> list[str]:
    return sorted([m["path"] async for batch in obstore.list(raw_store(target)) for m in batch])


class TestS3Snapshots(SnapshotStorageContract):
    backend = "s3"

    @pytest.fixture(autouse=True)
    def _target(self, s3_target: S3Target) -> None:
        self.target = s3_target
        self.raw = raw_store(s3_target)

    async def new_storage(self) -> SnapshotStorage:
        return await asm.open_snapshot_storage(self.target.url("app"), **self.target.credentials())

    async def write_raw(self, storage: SnapshotStorage, key: str, data: bytes) -> None:
        await obstore.put_async(self.raw, "app/" + key, data)

    async def read_raw(self, storage: SnapshotStorage, key: str) -> bytes | None:
        try:
            result = await obstore.get_async(self.raw, "app/" + key)
        except FileNotFoundError:
            return None
        return bytes(await result.bytes_async())


LOCATION = SnapshotLocation(session_id="default-session", scope="agent", scope_id="agent")


async def test_exact_keys_with_a_prefix(s3_target: S3Target) -> None:
    for prefix in ("app", "/app/", "app/"):
        storage = await S3SnapshotStorage.from_url(s3_target.url(), prefix=prefix, **s3_target.credentials())
        await storage.save_snapshot(LOCATION, None, True, Snapshot(scope="agent"))
    storage = await S3SnapshotStorage.from_url(s3_target.url("app"), **s3_target.credentials())
    snapshot_id = "0195e9b2-8f3a-7c41-9d2e-5b6a7c8d9e0f"
    await storage.save_snapshot(LOCATION, snapshot_id, False, Snapshot(scope="agent"))
    await storage.save_manifest(LOCATION, asm.snapshots.SnapshotManifest())
    assert await keys(s3_target) == [
        "app/default-session/scopes/agent/agent/snapshots/immutable_history/"
        "snapshot_0195e9b2-8f3a-7c41-9d2e-5b6a7c8d9e0f.json",
        "app/default-session/scopes/agent/agent/snapshots/manifest.json",
        "app/default-session/scopes/agent/agent/snapshots/snapshot_latest.json",
    ]
    head = await obstore.get_async(raw_store(s3_target), LOCATION.latest_key.join(["app/", ""]))
    assert head.attributes["Content-Type"] == "application/json"
    no_prefix = await S3SnapshotStorage.from_url(s3_target.url(), **s3_target.credentials())
    await no_prefix.save_snapshot(LOCATION, None, True, Snapshot(scope="agent"))
    assert "default-session/scopes/agent/agent/snapshots/snapshot_latest.json" in await keys(s3_target)


async def test_listing_pages_past_1000_ids(s3_target: S3Target) -> None:
    storage = await S3SnapshotStorage.from_url(s3_target.url("p"), **s3_target.credentials())
    ids = [new_snapshot_id() for _ in range(1105)]
    body = Snapshot(scope="agent").to_json()
    raw = raw_store(s3_target)
    limit = asyncio.Semaphore(32)

    async def put(snapshot_id: str) -> None:
        async with limit:
            await obstore.put_async(raw, "p/" + LOCATION.history_key(snapshot_id), body)

    await asyncio.gather(*(put(i) for i in ids))
    assert await storage.list_snapshot_ids(LOCATION) == ids
    assert await storage.list_snapshot_ids(LOCATION, start_after=ids[999], limit=50) == ids[1000:1050]
    assert await storage.prune(LOCATION, keep_last=5) == ids[:-5]
    assert await storage.list_snapshot_ids(LOCATION) == ids[-5:]


async def test_unreachable_server_is_a_retryable_connection_error() -> None:
    storage = await S3SnapshotStorage.from_url(
        "s3://bucket?endpoint=http://127.0.0.1:9&region=us-east-1",
        access_key_id="k",
        secret_access_key="super-secret-value",
        max_retries=0,
    )
    with pytest.raises(asm.StorageConnectionFailed) as info:
        await storage.load_snapshot(LOCATION)
    assert info.value.retryable
    assert "super-secret-value" not in str(info.value) + repr(info.value.details)
