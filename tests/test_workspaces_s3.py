"""S3 workspaces on a real SeaweedFS: the whole contract, plus the key layout, listings past 1,000
keys, verification, conflicts, failures that leave nothing half-done, the cache, and Tigris."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import obstore
import pytest

import agent_session_manager as asm
from agent_session_manager._s3 import parse_s3_url, s3_store
from agent_session_manager.core.errors import ChecksumMismatch, StorageError, ValidationError
from agent_session_manager.testing import WorkspaceStorageContract
from agent_session_manager.testing.services import S3Target
from agent_session_manager.testing.workspaces import Recorder, sha
from agent_session_manager.workspaces import WorkspaceStorage, generate_session_id
from agent_session_manager.workspaces import s3 as s3_module
from agent_session_manager.workspaces.s3 import S3WorkspaceStorage
from agent_session_manager.workspaces.tigris import DEFAULT_ENDPOINT, TigrisWorkspaceStorage

pytestmark = pytest.mark.s3


def raw_store(target: S3Target) -> Any:
    location, settings = parse_s3_url(target.url(), **target.credentials())
    return s3_store(location, settings)


async def keys(target: S3Target, prefix: str = "") -> list[str]:
    found = [
        m["path"] async for batch in obstore.list(raw_store(target), prefix=prefix or None) for m in batch
    ]
    return sorted(found)


class TestS3Workspaces(WorkspaceStorageContract):
    backend = "s3"
    has_remote = True

    @pytest.fixture(autouse=True)
    def _target(self, s3_target: S3Target, tmp_path: Path) -> None:
        self.target = s3_target
        self.caches = tmp_path / "caches"
        self.count = 0

    async def open_workspace(self, session_id: str, **options: Any) -> WorkspaceStorage:
        self.count += 1  # every handle its own cache: two handles act as two machines
        return await S3WorkspaceStorage.init(
            session_id,
            url=self.target.url("ws"),
            cache_path=self.caches / str(self.count),
            **self.target.credentials(),
            **options,
        )


@pytest.fixture
async def opener(s3_target: S3Target, tmp_path: Path) -> Any:
    handles: list[S3WorkspaceStorage] = []

    async def open_handle(session_id: str, **options: Any) -> S3WorkspaceStorage:
        options.setdefault("cache_path", tmp_path / f"cache{len(handles)}")
        handle = await S3WorkspaceStorage.init(
            session_id, url=s3_target.url("ws"), **s3_target.credentials(), **options
        )
        handles.append(handle)
        return handle

    yield open_handle
    for handle in handles:
        await handle.close()


async def test_key_layout_metadata_and_storage_url(s3_target: S3Target, opener: Any) -> None:
    ws = await opener("sess-1")
    ref = await ws.write("out/report.csv", b"a,b\n")
    assert await keys(s3_target) == ["ws/sess-1/out/report.csv"]
    result = await obstore.get_async(raw_store(s3_target), "ws/sess-1/out/report.csv")
    assert result.attributes["Content-Type"] == "text/csv"
    assert result.attributes["sha256"] == sha(b"a,b\n")
    assert ref.storage_url == f"s3://{s3_target.bucket}/ws/sess-1/out/report.csv"
    conjure = await S3WorkspaceStorage.init(
        "sess-2",
        bucket=s3_target.bucket,
        endpoint=s3_target.endpoint,
        region=s3_target.region,
        cache_path=ws.local_path().parent,
        **s3_target.credentials(),
    )
    await conjure.write("x.txt", b"x")
    assert "sessions/sess-2/x.txt" in await keys(s3_target)
    assert conjure.local_path() == ws.local_path().parent / "asm_s3_sess-2"
    await conjure.cleanup()
    opened = await asm.open_workspace_storage(
        s3_target.url("ws"), "sess-1", cache_path=ws.local_path().parent / "other", **s3_target.credentials()
    )
    assert isinstance(opened, S3WorkspaceStorage)
    assert await opened.read("out/report.csv") == b"a,b\n"
    await opened.close()


async def test_listings_page_past_1000_keys(s3_target: S3Target, opener: Any) -> None:
    import asyncio

    raw = raw_store(s3_target)
    limit = asyncio.Semaphore(32)

    async def put(i: int) -> None:
        async with limit:  # another program, without our sha256 metadata
            await obstore.put_async(raw, f"ws/big/f/{i:04d}.txt", f"file {i}".encode())

    await asyncio.gather(*(put(i) for i in range(1050)))
    ws = await opener("big")
    pulled = await ws.sync_from_remote()
    assert len(pulled) == 1050
    assert len(os.listdir(ws.local_path() / "f")) == 1050
    assert (ws.local_path() / "f" / "1049.txt").read_bytes() == b"file 1049"
    listed = await ws.list()
    assert len(listed) == 1050
    assert listed[7].checksum == sha(b"file 7")
    for i in (3, 500, 1040):
        (ws.local_path() / "f" / f"{i:04d}.txt").write_bytes(b"changed")
    assert sorted(r.path for r in await ws.sync_to_remote()) == ["f/0003.txt", "f/0500.txt", "f/1040.txt"]
    await ws.cleanup()
    assert await keys(s3_target, "ws/big/") == []


async def test_corrupt_object_is_refused_and_nothing_is_written(s3_target: S3Target, opener: Any) -> None:
    raw = raw_store(s3_target)
    await obstore.put_async(raw, "ws/s/bad.txt", b"tampered", attributes={"sha256": sha(b"original")})
    await obstore.put_async(raw, "ws/s/good.txt", b"good")
    ws = await opener("s")
    with pytest.raises(StorageError) as info:
        await ws.sync_from_remote()
    assert [(f["path"], f["code"]) for f in info.value.details["failures"]] == [
        ("bad.txt", "checksum_mismatch")
    ]
    assert sorted(os.listdir(ws.local_path())) == ["good.txt"]
    with pytest.raises(ChecksumMismatch):
        await ws.read("bad.txt")
    assert sorted(os.listdir(ws.local_path())) == ["good.txt"]


async def test_conflicts_the_synced_from_side_wins_deletions_keep_changes(opener: Any) -> None:
    a, b = await opener("c"), await opener("c")
    for name in ("both.txt", "gone-here.txt", "gone-there.txt"):
        await a.write(name, b"v1")
    await b.sync_from_remote()
    (a.local_path() / "both.txt").write_bytes(b"from a")
    (b.local_path() / "both.txt").write_bytes(b"from b")
    await b.sync_to_remote()  # push: b's local version wins
    assert await (await opener("c")).read("both.txt") == b"from b"
    await a.sync_from_remote()  # pull: the remote version wins over a's edit
    assert (a.local_path() / "both.txt").read_bytes() == b"from b"
    (a.local_path() / "gone-here.txt").unlink()
    await b.write("gone-here.txt", b"changed remotely")
    await a.sync_to_remote()  # a deleted it, b changed it since: b's change is kept
    await a.sync_from_remote()
    assert (a.local_path() / "gone-here.txt").read_bytes() == b"changed remotely"
    await b.delete("gone-there.txt")
    (a.local_path() / "gone-there.txt").write_bytes(b"changed locally")
    await a.sync_from_remote()  # deleted remotely, changed locally: the local change is kept
    assert (a.local_path() / "gone-there.txt").read_bytes() == b"changed locally"
    assert [r.path for r in await a.sync_to_remote()] == ["gone-there.txt"]
    await b.sync_from_remote()
    assert (b.local_path() / "gone-there.txt").read_bytes() == b"changed locally"


async def test_failed_upload_changes_nothing(tmp_path: Path) -> None:
    recorder = Recorder()
    ws = await S3WorkspaceStorage.init(
        "s",
        url="s3://bucket/ws?endpoint=http://127.0.0.1:9&region=us-east-1",
        access_key_id="key",
        secret_access_key="secret-that-must-not-leak",
        max_retries=0,
        cache_path=tmp_path,
        **recorder.options(),
    )
    with pytest.raises(asm.StorageConnectionFailed) as info:
        await ws.write("a.txt", b"never stored")
    assert "secret-that-must-not-leak" not in str(info.value) + repr(info.value.details)
    assert [p.name for p in ws.local_path().rglob("*")] == []
    assert recorder.take() == []


async def test_cleanup_reports_every_failure(
    s3_target: S3Target, opener: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await opener("s")
    for name in ("a.txt", "stuck/1.txt", "stuck/2.txt", "z.txt"):
        await ws.write(name, b"x")
    real = s3_module._delete_objects

    async def failing(store: Any, batch: list[str]) -> None:
        if any("stuck" in key for key in batch):
            raise OSError("injected delete failure")
        await real(store, batch)

    monkeypatch.setattr(s3_module, "_delete_objects", failing)
    with pytest.raises(StorageError) as info:
        await ws.cleanup()
    assert sorted(f["path"] for f in info.value.details["failures"]) == [
        "ws/s/stuck/1.txt",
        "ws/s/stuck/2.txt",
    ]
    assert await keys(s3_target) == ["ws/s/stuck/1.txt", "ws/s/stuck/2.txt"]
    assert not ws.local_path().exists()
    monkeypatch.undo()
    await ws.cleanup()
    assert await keys(s3_target) == []


async def test_read_through_fills_the_cache_quietly(opener: Any) -> None:
    recorder = Recorder()
    a = await opener("r", **recorder.options())
    b = await opener("r")
    await b.write("remote.txt", b"from b")
    assert await a.exists("remote.txt")
    assert await a.read("remote.txt") == b"from b"
    assert (a.local_path() / "remote.txt").read_bytes() == b"from b"
    assert await a.sync_from_remote() == []
    assert recorder.take() == []


async def test_close_keeps_a_cache_with_unsynced_changes(
    opener: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await opener("k")
    await ws.write("a.txt", b"a")
    (ws.local_path() / "unsynced.txt").write_bytes(b"u")
    with caplog.at_level(logging.WARNING, logger="agent_session_manager.workspaces"):
        await ws.close()
    assert (ws.local_path() / "unsynced.txt").read_bytes() == b"u"
    assert any("unsynced.txt" in r.getMessage() for r in caplog.records)
    again = await opener("k", cache_path=ws.local_path().parent)
    assert [r.path for r in await again.sync_to_remote()] == ["unsynced.txt"]
    await again.close()
    assert not again.local_path().exists()
    kept = await opener("k", cache_path=ws.local_path().parent, keep=True)
    await kept.sync_from_remote()
    await kept.close()
    assert sorted(os.listdir(kept.local_path())) == ["a.txt", "unsynced.txt"]


async def test_large_files_stream_both_ways(s3_target: S3Target, opener: Any) -> None:
    data = os.urandom(s3_module.WHOLE_FILE_LIMIT + 1024 * 1024 + 17)
    a, b = await opener("l"), await opener("l")
    (a.local_path() / "big.bin").write_bytes(data)
    [pushed] = await a.sync_to_remote()
    assert (pushed.size, pushed.checksum) == (len(data), sha(data))
    result = await obstore.get_async(raw_store(s3_target), "ws/l/big.bin")
    assert result.attributes["sha256"] == sha(data)
    [pulled] = await b.sync_from_remote()
    assert pulled.checksum == sha(data)
    assert (b.local_path() / "big.bin").read_bytes() == data


async def test_objects_with_unsafe_names_are_skipped(s3_target: S3Target, opener: Any) -> None:
    raw = raw_store(s3_target)
    await obstore.put_async(raw, "ws/u/ok.txt", b"ok")
    await obstore.put_async(raw, "ws/u/.asm-tmp-planted", b"looks like our temporary files")
    ws = await opener("u")
    assert [r.path for r in await ws.sync_from_remote()] == ["ok.txt"]
    assert [r.path for r in await ws.list()] == ["ok.txt"]
    assert sorted(os.listdir(ws.local_path())) == ["ok.txt"]


async def test_tigris_takes_fly_defaults_from_the_environment(
    s3_target: S3Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("BUCKET_NAME", "AWS_ENDPOINT_URL_S3", "FLY_REGION", "FLY_VOLUME_PATH"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError) as info:
        await TigrisWorkspaceStorage.init("t")
    assert "fly storage create" in info.value.message
    offline = await TigrisWorkspaceStorage.init("t", bucket="b", cache_path=tmp_path / "c")
    assert DEFAULT_ENDPOINT in repr(offline)
    assert offline._location.region == "auto"
    monkeypatch.setenv("BUCKET_NAME", s3_target.bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_target.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_target.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_target.secret_access_key)
    monkeypatch.setenv("FLY_REGION", "iad")
    monkeypatch.setenv("FLY_VOLUME_PATH", str(tmp_path / "volume"))
    session_id = generate_session_id()
    ws = await asm.open_workspace_storage("tigris://", session_id)
    assert isinstance(ws, TigrisWorkspaceStorage)
    assert ws.local_path() == tmp_path / "volume" / "asm_workspaces" / f"asm_s3_{session_id}"
    await ws.write("hello.txt", b"hi")
    assert await keys(s3_target) == [f"sessions/{session_id}/hello.txt"]
    prefixed = await asm.open_workspace_storage(f"tigris://{s3_target.bucket}/fly/iad", "p")
    await prefixed.write("x.txt", b"x")
    assert "fly/iad/p/x.txt" in await keys(s3_target)
    await prefixed.cleanup()
    await ws.cleanup()
