"""The file artifact backend: the whole contract, plus its on-disk format, atomicity and confinement."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import struct
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import orjson
import pytest

from agent_session_manager import (
    ChecksumMismatch,
    NotFound,
    StorageError,
    ValidationError,
    open_artifact_store,
)
from agent_session_manager.artifacts import file as file_module
from agent_session_manager.artifacts.base import ArtifactStore
from agent_session_manager.artifacts.file import MAGIC, FileArtifactStore
from agent_session_manager.testing import ArtifactStoreContract
from agent_session_manager.testing.artifacts import flip_byte, sha, walk


def blob_path(store: ArtifactStore, key: str) -> Path:
    return Path(unquote(urlsplit(store.storage_ref(key)).path))


def snapshot_outside(base: Path, root: Path) -> list[tuple[str, bytes]]:
    """Every file under `base` but outside `root`, with its content."""
    inside = str(root) + os.sep
    return sorted((path, Path(path).read_bytes()) for path in walk(str(base)) if not path.startswith(inside))


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


class TestFileArtifactStore(ArtifactStoreContract):
    backend = "file"

    @pytest.fixture(autouse=True)
    def _paths(self, tmp_path: Path) -> None:
        self.base = tmp_path
        self.root = tmp_path / "outer" / "root"
        (tmp_path / "outer" / "sibling").mkdir(parents=True)
        (tmp_path / "outer" / "sibling" / "keep.txt").write_bytes(b"untouched")

    async def new_store(self) -> ArtifactStore:
        return await open_artifact_store(self.root.as_uri())

    async def corrupt(self, store: ArtifactStore, key: str) -> None:
        path = blob_path(store, key)
        raw = path.read_bytes()
        path.write_bytes(flip_byte(raw, 5))

    async def outside(self, store: ArtifactStore) -> object:
        return snapshot_outside(self.base, self.root)


@pytest.fixture
async def store(tmp_path: Path) -> FileArtifactStore:
    return await FileArtifactStore.from_url((tmp_path / "root").as_uri())


async def test_layout_and_trailer_on_disk(store: FileArtifactStore) -> None:
    data = b"%PDF-1.7 report"
    await store.put("a/b/report.pdf", data, content_type="application/pdf", metadata={"pages": 3})
    path = Path(store.root, "a.d", "b.d", "report.pdf.blob")
    assert blob_path(store, "a/b/report.pdf") == path
    raw = await asyncio.to_thread(path.read_bytes)
    assert raw.startswith(data)
    assert raw.endswith(MAGIC)
    (length,) = struct.unpack(">Q", raw[-16:-8])
    trailer = orjson.loads(raw[-16 - length : -16])
    assert trailer["key"] == "a/b/report.pdf"
    assert (trailer["size"], trailer["sha256"]) == (len(data), sha(data))
    assert (trailer["content_type"], trailer["metadata"]) == ("application/pdf", {"pages": 3})
    assert len(raw) == len(data) + length + 16
    assert not [p for p in walk(store.root) if p.endswith(".tmp")]


async def test_damaged_files_read_as_checksum_mismatch(store: FileArtifactStore) -> None:
    await store.put("k", b"x" * 1000)
    await store.put("other", b"y" * 10)
    path = blob_path(store, "k")
    raw = path.read_bytes()
    path.write_bytes(raw[:500])
    for call in (store.get, store.stat, store.open_read):
        with pytest.raises(ChecksumMismatch):
            await call("k")
    path.write_bytes(blob_path(store, "other").read_bytes())
    with pytest.raises(ChecksumMismatch) as info:
        await store.get("k")
    assert "trailer" in info.value.message
    path.write_bytes(raw[:-20] + b"x" * 4 + raw[-16:])
    with pytest.raises(ChecksumMismatch):
        await store.get("k")


async def test_delete_removes_directories_it_emptied(store: FileArtifactStore) -> None:
    await store.put("a/b/c", b"1")
    await store.put("a/x", b"2")
    await store.delete("a/b/c")
    assert sorted(os.listdir(store.root)) == ["a.d"]
    assert os.listdir(Path(store.root, "a.d")) == ["x.blob"]
    await store.delete("a/x")
    assert os.listdir(store.root) == []


async def test_foreign_and_temporary_files_are_not_artifacts(store: FileArtifactStore) -> None:
    write(Path(store.root, "0123abcd.tmp"), b"half written")
    write(Path(store.root, "notes.txt"), b"foreign")
    os.mkdir(Path(store.root, ".d"))
    assert (await store.list()).items == []
    with pytest.raises(NotFound):
        await store.get("notes.txt")


async def test_failed_writes_leave_no_temporary_files(store: FileArtifactStore) -> None:
    async def failing():  # type: ignore[no-untyped-def]
        yield b"x" * (3 * 1024 * 1024)
        raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError):
        await store.put_stream("dir/k", failing())
    assert not [p for p in walk(store.root) if p.endswith(".tmp")]
    assert (await store.list()).items == []


async def test_a_blocked_path_is_a_storage_error_with_the_cause(store: FileArtifactStore) -> None:
    write(Path(store.root, "a.d"), b"a file where a directory should be")
    for call in (store.put("a/b", b"v"), store.put_stream("a/b", [b"v"])):
        with pytest.raises(StorageError) as info:
            await call
        assert info.value.code == "storage_error"
        assert "'a/b'" in info.value.message
        assert isinstance(info.value.__cause__, OSError)
    assert await store.exists("a/b") is False


async def test_segments_longer_than_a_file_name_are_refused(store: FileArtifactStore) -> None:
    longest = "s" * (os.pathconf(store.root, "PC_NAME_MAX") - 5)
    await store.put(f"{longest}/{longest}", b"ok")
    assert await store.get(f"{longest}/{longest}") == b"ok"
    with pytest.raises(ValidationError):
        await store.put(longest + "s", b"too long")


async def test_urls_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASM_ARTIFACTS_URL", raising=False)
    default = await open_artifact_store()
    assert isinstance(default, FileArtifactStore)
    assert default.root == str(tmp_path / ".asm" / "artifacts")
    relative = await open_artifact_store("file://./data/blobs?fsync=false")
    assert isinstance(relative, FileArtifactStore)
    assert (relative.root, relative.fsync) == (str(tmp_path / "data" / "blobs"), False)
    local = await open_artifact_store(f"file://localhost{tmp_path}/x", fsync="true")
    assert isinstance(local, FileArtifactStore)
    assert (local.root, local.fsync) == (str(tmp_path / "x"), True)
    for url, options in [
        ("file://", {}),
        ("file:///tmp/x?colour=red", {}),
        ("file:///tmp/x", {"fsync": "maybe"}),
    ]:
        with pytest.raises(ValidationError):
            await open_artifact_store(url, **options)
    write(tmp_path / "occupied", b"")
    with pytest.raises(StorageError):
        await open_artifact_store((tmp_path / "occupied").as_uri())


def _writer(root: str, key: str, seed: int, rounds: int) -> None:
    async def run() -> None:
        store = FileArtifactStore(root)
        for n in range(rounds):
            await store.put(key, bytes([seed]) * (64 * 1024 * (1 + (n + seed) % 8)))

    asyncio.run(run())


async def test_writers_in_two_processes_never_tear_a_file(store: FileArtifactStore) -> None:
    await store.put("shared", b"\x00" * 1024)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(store.root, "shared", seed, 25)) for seed in (1, 2)]
    for process in writers:
        process.start()
    reads = 0
    try:
        while any(process.is_alive() for process in writers) or reads < 20:
            data = await store.get("shared")
            assert len(set(data)) == 1
            reads += 1
    finally:
        for process in writers:
            process.join(timeout=60)
    assert [process.exitcode for process in writers] == [0, 0]
    assert not [p for p in walk(store.root) if p.endswith(".tmp")]
    assert (await store.stat("shared")).sha256 == sha(await store.get("shared"))


async def test_cancelled_put_stream_waits_for_its_write_before_cleaning_up(
    store: FileArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker thread cannot be stopped: the temp file's descriptor must stay open until its write
    ends, or the write lands on a closed (or reused: someone else's) descriptor."""
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    outcomes: list[BaseException | None] = []
    real_write = file_module._write_all

    def slow_write(fd: int, data: memoryview | bytes) -> None:
        entered.set()
        release.wait(10)
        try:
            real_write(fd, data)
            outcomes.append(None)
        except BaseException as exc:
            outcomes.append(exc)
            raise
        finally:
            finished.set()

    monkeypatch.setattr(file_module, "_write_all", slow_write)
    task = asyncio.create_task(store.put_stream("k", [b"x" * 2_000_000]))
    assert await asyncio.to_thread(entered.wait, 10)
    task.cancel()
    await asyncio.wait([task], timeout=0.5)  # cleanup must not run while the write is blocked
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(finished.wait, 10)
    assert outcomes == [None]
    assert not await store.exists("k")
    assert [p for p in walk(store.root) if p.endswith(".tmp")] == []


async def test_a_put_survives_a_delete_removing_its_parent_directory_meanwhile(
    store: FileArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkdir(Path(store.root, "a.d"))  # left empty, as a delete of the last key below "a/" leaves it
    real_mkdir, raced = os.mkdir, []

    def racing_mkdir(path: str, *args: object, **kwargs: object) -> None:
        if str(path).endswith("b.d") and not raced:
            raced.append(path)
            os.rmdir(os.path.dirname(path))  # that delete removes the empty "a.d" just now
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    await store.put("a/b/c", b"v")
    assert raced
    assert await store.get("a/b/c") == b"v"


@pytest.mark.parametrize("level", ["top", "middle", "blob"])
async def test_planted_symlinks_are_never_followed(tmp_path: Path, level: str) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c.blob").write_bytes(b"secret")
    (outside / "keep.txt").write_bytes(b"untouched")
    store = await FileArtifactStore.from_url(root.as_uri())
    await store.put("a/b/other", b"x")
    if level == "top":
        (root / "z.d").symlink_to(outside)
        key = "z/c"
    elif level == "middle":
        (root / "a.d" / "b.d" / "m.d").symlink_to(outside)
        key = "a/b/m/c"
    else:
        (root / "a.d" / "b.d" / "c.blob").symlink_to(outside / "c.blob")
        key = "a/b/c"
    before = sorted((p.name, p.read_bytes()) for p in outside.iterdir())
    for call in (
        lambda: store.put(key, b"overwrite"),
        lambda: store.put_stream(key, _chunks(b"overwrite")),
        lambda: store.get(key),
        lambda: store.stat(key),
        lambda: store.open_read(key),
        lambda: store.delete(key),
        lambda: store.exists(key),
        lambda: store.list(),
    ):
        with pytest.raises(ValidationError) as info:
            await call()
        assert "symlink" in info.value.message
    assert sorted((p.name, p.read_bytes()) for p in outside.iterdir()) == before
    assert await store.get("a/b/other") == b"x"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("content_type", "text/html"),
        ("metadata", {"pages": 4}),
        ("format", 9),
        ("modified_at", "2001-01-01T00:00:00+00:00"),
    ],
)
async def test_an_edited_record_is_a_checksum_mismatch(
    store: FileArtifactStore, field: str, value: object
) -> None:
    await store.put("a/report.pdf", b"%PDF", content_type="application/pdf", metadata={"pages": 3})
    path = blob_path(store, "a/report.pdf")
    raw = path.read_bytes()
    (length,) = struct.unpack(">Q", raw[-16:-8])
    trailer = orjson.loads(raw[-16 - length : -16])
    trailer[field] = value
    edited = orjson.dumps(trailer)
    path.write_bytes(raw[: -16 - length] + edited + struct.pack(">Q", len(edited)) + raw[-8:])
    for read in (store.get, store.stat, store.open_read):
        with pytest.raises(ChecksumMismatch):
            await read("a/report.pdf")
