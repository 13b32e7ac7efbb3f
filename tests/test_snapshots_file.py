"""File snapshots: the whole contract, plus the on-disk layout, atomic writes and URLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import agent_session_manager as asm
from agent_session_manager.core.errors import StorageError, ValidationError
from agent_session_manager.snapshots import Snapshot, SnapshotLocation, SnapshotStorage, new_snapshot_id
from agent_session_manager.snapshots.file import FileSnapshotStorage
from agent_session_manager.testing import SnapshotStorageContract


class TestFileSnapshots(SnapshotStorageContract):
    backend = "file"

    @pytest.fixture(autouse=True)
    def _base(self, tmp_path: Path) -> None:
        self.base = tmp_path / "snapshots"

    async def new_storage(self) -> SnapshotStorage:
        return await asm.open_snapshot_storage(self.base.as_uri())

    async def write_raw(self, storage: SnapshotStorage, key: str, data: bytes) -> None:
        path = self.base / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    async def read_raw(self, storage: SnapshotStorage, key: str) -> bytes | None:
        path = self.base / key
        return path.read_bytes() if path.exists() else None


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


LOCATION = SnapshotLocation(session_id="default-session", scope="agent", scope_id="agent")


async def test_files_sit_where_strands_file_storage_puts_them(tmp_path: Path) -> None:
    storage = FileSnapshotStorage(tmp_path)
    snapshot_id = new_snapshot_id()
    await storage.save_snapshot(LOCATION, None, True, Snapshot(scope="agent"))
    await storage.save_snapshot(LOCATION, snapshot_id, False, Snapshot(scope="agent"))
    files = files_under(tmp_path)
    assert files == [
        f"default-session/scopes/agent/agent/snapshots/immutable_history/snapshot_{snapshot_id}.json",
        "default-session/scopes/agent/agent/snapshots/snapshot_latest.json",
    ]


async def test_failed_write_leaves_the_old_document_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = FileSnapshotStorage(tmp_path)
    old = Snapshot(scope="agent", data={"v": "old"})
    await storage.save_snapshot(LOCATION, None, True, old)

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "injected I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError) as info:
        await storage.save_snapshot(LOCATION, None, True, Snapshot(scope="agent", data={"v": "new"}))
    assert "snapshot_latest.json" in info.value.message
    monkeypatch.undo()
    assert await storage.load_snapshot(LOCATION) == old
    directory = tmp_path / LOCATION.directory
    assert sorted(os.listdir(directory)) == ["snapshot_latest.json"]


async def test_file_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = await asm.open_snapshot_storage("file://./snaps")
    assert isinstance(relative, FileSnapshotStorage)
    assert relative.base_dir == Path("./snaps")
    default = await asm.open_snapshot_storage()
    assert isinstance(default, FileSnapshotStorage)
    assert default.base_dir == Path("./.asm/snapshots")
    monkeypatch.setenv("ASM_SNAPSHOTS_URL", (tmp_path / "env").as_uri())
    from_env = await asm.open_snapshot_storage()
    assert isinstance(from_env, FileSnapshotStorage)
    assert from_env.base_dir == tmp_path / "env"
    with pytest.raises(ValidationError):
        await asm.open_snapshot_storage("file://")
    with pytest.raises(ValidationError):
        await asm.open_snapshot_storage("ftp://host/x")


@pytest.mark.parametrize("level", ["session", "scope", "snapshots", "file"])
async def test_planted_symlinks_are_never_followed(tmp_path: Path, level: str) -> None:
    base = tmp_path / "snapshots"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(b"untouched")
    storage = FileSnapshotStorage(base)
    where = SnapshotLocation(session_id="s1", scope="agent", scope_id="a1")
    snapshot = Snapshot(scope="agent", data={"a": 1})
    await storage.save_snapshot(where, None, True, snapshot)
    (latest,) = [p for p in base.rglob("*") if p.is_file() and "latest" in p.name]
    parts = latest.relative_to(base).parts
    depth = {"session": 1, "scope": 3, "snapshots": len(parts) - 1, "file": len(parts)}[level]
    planted = base.joinpath(*parts[:depth])
    if level == "file":
        latest.unlink()
        (outside / latest.name).write_bytes(latest.name.encode())
        planted.symlink_to(outside / latest.name)
    else:
        moved = outside / "moved"
        planted.rename(moved)
        planted.symlink_to(moved)
    before = sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))
    calls = [
        lambda: storage.save_snapshot(where, None, True, snapshot),
        lambda: storage.load_snapshot(where),
    ]
    if level != "file":  # these touch other files of the scope
        calls += [
            lambda: storage.save_snapshot(where, new_snapshot_id(), False, snapshot),
            lambda: storage.list_snapshot_ids(where),
            lambda: storage.load_manifest(where),
        ]
    for call in calls:
        with pytest.raises(ValidationError) as info:
            await call()
        assert "symlink" in info.value.message
    assert sorted(str(p.relative_to(outside)) for p in outside.rglob("*")) == before
