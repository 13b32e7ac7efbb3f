"""The `WorkspaceStorage` contract suite: every workspace backend passes the same tests.

    from agent_session_manager.testing import WorkspaceStorageContract

    class TestMyWorkspaces(WorkspaceStorageContract):
        has_remote = True          # sync calls transfer files (and fire `synced`)

        async def open_workspace(self, session_id, **options):
            return await MyWorkspace.init(session_id, **options)

`open_workspace` returns a new handle on `session_id`'s workspace each call, passing `options` (the
`on_file_*` callbacks) through. For a backend with a remote copy, every handle must get its own local
directory, so that two handles behave like two machines sharing the remote; for a local backend they
share the directory. Handles are cleaned up and closed after each test.

The tests assert behaviour: content, checksums, exactly-once callbacks, what sync moves, and that bad
paths and symlinks leave everything outside the workspace untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..core.digest import sha256_hex as sha
from ..core.errors import ASMError, NotFound, ValidationError
from ..workspaces.base import FileEvent, WorkspaceStorage
from ..workspaces.files import FileRef, generate_session_id
from .registry import Contract

#: Paths that must be refused before any I/O.
BAD_PATHS = [
    "",
    ".",
    "..",
    "../escape.txt",
    "a/../../escape.txt",
    "/etc/passwd",
    "a//b.txt",
    "a/./b.txt",
    "a/b/",
    "nul\x00.txt",
    "back\\slash.txt",
    "ctl\x07.txt",
    ".asm-tmp-reserved",
]


class Recorder:
    """Collects every callback call as `(event, path, checksum, session_id)`."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, str, str | None, str]] = []
        self.refs: list[FileRef] = []
        self.errors: list[tuple[str, str, str, Exception]] = []
        self._failing = failing

    def _callback(self, event: str) -> Any:
        def callback(ref: FileRef, session_id: str) -> None:
            self.calls.append((event, ref.path, ref.checksum, session_id))
            self.refs.append(ref)
            if event in self._failing:
                raise RuntimeError(f"{event} callback fails on purpose")

        return callback

    def options(self, *, with_error_handler: bool = True) -> dict[str, Any]:
        options: dict[str, Any] = {f"on_file_{e.value}": self._callback(e.value) for e in FileEvent}
        if with_error_handler:
            options["on_callback_error"] = lambda event, ref, sid, exc: self.errors.append(
                (event.value, ref.path, sid, exc)
            )
        return options

    def take(self) -> list[tuple[str, str]]:
        """The `(event, path)` pairs recorded since the last `take()`."""
        taken = [(event, path) for event, path, _, _ in self.calls]
        self.calls.clear()
        return taken


class WorkspaceStorageContract(Contract):
    """Subclass in a test module and implement `open_workspace` (see the module docstring)."""

    has_remote: ClassVar[bool] = False

    async def open_workspace(self, session_id: str, **options: Any) -> WorkspaceStorage:
        """Return a new handle on `session_id`'s workspace. Subclasses must override this."""
        raise NotImplementedError

    @pytest.fixture
    async def handles(self) -> AsyncIterator[list[WorkspaceStorage]]:
        opened: list[WorkspaceStorage] = []
        try:
            yield opened
        finally:
            for handle in reversed(opened):
                with contextlib.suppress(ASMError):
                    await handle.cleanup()
                await handle.close()

    @pytest.fixture
    def outside(self, tmp_path: Path) -> Path:
        """A directory standing for the rest of the machine, with a secret in it."""
        directory = tmp_path / "outside"
        directory.mkdir()
        (directory / "secret.txt").write_bytes(b"do not read me")
        return directory

    async def _open(
        self, handles: list[WorkspaceStorage], session_id: str | None = None, **options: Any
    ) -> WorkspaceStorage:
        handle = await self.open_workspace(session_id or generate_session_id(), **options)
        handles.append(handle)
        return handle

    def _synced(self, *paths: str) -> list[tuple[str, str]]:
        """The `synced` events a transfer of `paths` fires on this backend."""
        return [("synced", p) for p in paths] if self.has_remote else []

    # -- files ----------------------------------------------------------------------------------

    async def test_write_returns_a_file_ref_and_read_returns_the_bytes(
        self, handles: list[WorkspaceStorage]
    ) -> None:
        ws = await self._open(handles)
        data = bytes(range(256)) * 3
        ref = await ws.write("reports/q1.pdf", data)
        assert ref.path == "reports/q1.pdf"
        assert ref.size == len(data)
        assert ref.content_type == "application/pdf"
        assert ref.checksum == sha(data)
        assert ref.created_at.utcoffset() is not None
        assert await ws.read("reports/q1.pdf") == data
        assert (ws.local_path() / "reports" / "q1.pdf").read_bytes() == data
        assert await ws.exists("reports/q1.pdf")
        assert not await ws.exists("reports/q2.pdf")
        assert not await ws.exists("reports")  # a directory is not a file

    async def test_missing_file_is_not_found(self, handles: list[WorkspaceStorage]) -> None:
        ws = await self._open(handles)
        with pytest.raises(NotFound) as info:
            await ws.read("nothing/here.txt")
        assert info.value.code == "not_found"

    async def test_overwrite_and_empty_file(self, handles: list[WorkspaceStorage]) -> None:
        ws = await self._open(handles)
        await ws.write("a.txt", b"first version, longer")
        await ws.write("a.txt", b"second")
        await ws.write("empty.bin", b"")
        assert await ws.read("a.txt") == b"second"
        assert await ws.read("empty.bin") == b""
        assert [(r.path, r.size, r.checksum) for r in await ws.list()] == [
            ("a.txt", 6, sha(b"second")),
            ("empty.bin", 0, sha(b"")),
        ]

    async def test_delete_is_idempotent(self, handles: list[WorkspaceStorage]) -> None:
        ws = await self._open(handles)
        await ws.write("d/x.txt", b"x")
        await ws.delete("d/x.txt")
        await ws.delete("d/x.txt")
        await ws.delete("never/existed.txt")
        assert not await ws.exists("d/x.txt")
        with pytest.raises(NotFound):
            await ws.read("d/x.txt")
        assert await ws.list() == []

    async def test_list_is_sorted_with_sizes_types_and_checksums(
        self, handles: list[WorkspaceStorage]
    ) -> None:
        ws = await self._open(handles)
        assert await ws.list() == []
        files = {"b.csv": b"1,2\n", "a/z.json": b"{}", "a/b/c.txt": b"deep", "é ü.txt": b"unicode"}
        for path, data in files.items():
            await ws.write(path, data)
        listed = await ws.list()
        assert [r.path for r in listed] == sorted(files)
        for ref in listed:
            assert ref.size == len(files[ref.path])
            assert ref.checksum == sha(files[ref.path])
        assert {r.path: r.content_type for r in listed}["b.csv"] == "text/csv"

    async def test_concurrent_writes_all_land(self, handles: list[WorkspaceStorage]) -> None:
        ws = await self._open(handles)
        await asyncio.gather(*(ws.write(f"many/{i:02d}.txt", f"file {i}".encode()) for i in range(24)))
        listed = await ws.list()
        assert [r.path for r in listed] == [f"many/{i:02d}.txt" for i in range(24)]
        assert await ws.read("many/07.txt") == b"file 7"

    async def test_content_must_be_bytes(self, handles: list[WorkspaceStorage]) -> None:
        ws = await self._open(handles)
        with pytest.raises(ValidationError):
            await ws.write("a.txt", "text is not bytes")  # type: ignore[arg-type]
        assert await ws.list() == []

    # -- callbacks ------------------------------------------------------------------------------

    async def test_callbacks_fire_exactly_once_per_change(self, handles: list[WorkspaceStorage]) -> None:
        recorder = Recorder()
        ws = await self._open(handles, **recorder.options())
        await ws.write("a.txt", b"1")
        assert recorder.take() == [("created", "a.txt")]
        await ws.write("a.txt", b"1")  # same bytes: no change
        assert recorder.take() == []
        await ws.write("a.txt", b"2")
        assert recorder.take() == [("modified", "a.txt")]
        await ws.delete("a.txt")
        assert recorder.take() == [("deleted", "a.txt")]
        await ws.delete("a.txt")
        assert recorder.take() == []
        assert await ws.sync_to_remote() == []
        assert await ws.sync_from_remote() == []
        assert recorder.take() == []

    async def test_callbacks_get_the_file_ref_and_session_id(self, handles: list[WorkspaceStorage]) -> None:
        recorder = Recorder()
        session_id = generate_session_id()
        ws = await self._open(handles, session_id, **recorder.options())
        written = await ws.write("data/out.json", b'{"ok": true}')
        await ws.delete("data/out.json")
        assert [(e, p, c, s) for e, p, c, s in recorder.calls] == [
            ("created", "data/out.json", sha(b'{"ok": true}'), session_id),
            ("deleted", "data/out.json", sha(b'{"ok": true}'), session_id),
        ]
        created = recorder.refs[0]
        assert isinstance(created, FileRef)
        assert (created.path, created.size, created.checksum) == (written.path, 12, written.checksum)
        assert created.content_type == "application/json"

    async def test_async_callbacks_are_awaited(self, handles: list[WorkspaceStorage]) -> None:
        seen: list[str] = []

        async def on_created(ref: FileRef, session_id: str) -> None:
            await asyncio.sleep(0)
            seen.append(ref.path)

        ws = await self._open(handles, on_file_created=on_created)
        await ws.write("x.txt", b"x")
        assert seen == ["x.txt"]

    async def test_failing_callback_is_reported_and_changes_nothing(
        self, handles: list[WorkspaceStorage]
    ) -> None:
        recorder = Recorder(failing=frozenset({"created"}))
        session_id = generate_session_id()
        ws = await self._open(handles, session_id, **recorder.options())
        ref = await ws.write("a.txt", b"kept")
        assert ref.checksum == sha(b"kept")
        assert await ws.read("a.txt") == b"kept"
        assert [(e, p, s) for e, p, s, _ in recorder.errors] == [("created", "a.txt", session_id)]
        assert isinstance(recorder.errors[0][3], RuntimeError)
        await ws.write("a.txt", b"changed")  # later callbacks still fire
        assert recorder.take() == [("created", "a.txt"), ("modified", "a.txt")]
        assert [r.path for r in await ws.list()] == ["a.txt"]

    async def test_failing_callback_without_handler_is_logged(
        self, handles: list[WorkspaceStorage], caplog: pytest.LogCaptureFixture
    ) -> None:
        recorder = Recorder(failing=frozenset({"created"}))
        ws = await self._open(handles, **recorder.options(with_error_handler=False))
        with caplog.at_level(logging.ERROR, logger="agent_session_manager.workspaces"):
            await ws.write("logged.txt", b"x")
        assert await ws.read("logged.txt") == b"x"
        failures = [r for r in caplog.records if "created callback" in r.getMessage()]
        assert len(failures) == 1
        assert "logged.txt" in failures[0].getMessage()
        assert failures[0].exc_info is not None

    # -- files changed by other programs --------------------------------------------------------

    async def test_sync_to_remote_picks_up_changes_made_by_other_programs(
        self, handles: list[WorkspaceStorage]
    ) -> None:
        recorder = Recorder()
        session_id = generate_session_id()
        ws = await self._open(handles, session_id, **recorder.options())
        await ws.write("keep.txt", b"keep")
        await ws.write("change.txt", b"old")
        await ws.write("remove.txt", b"bye")
        recorder.take()
        root = ws.local_path()
        (root / "new").mkdir()
        (root / "new" / "made-by-container.csv").write_bytes(b"a,b\n")
        (root / "change.txt").write_bytes(b"new content")
        (root / "remove.txt").unlink()
        pushed = await ws.sync_to_remote()
        assert sorted(r.path for r in pushed) == ["change.txt", "new/made-by-container.csv"]
        assert {r.path: r.checksum for r in pushed}["change.txt"] == sha(b"new content")
        assert sorted(recorder.take()) == sorted(
            [
                ("created", "new/made-by-container.csv"),
                ("modified", "change.txt"),
                ("deleted", "remove.txt"),
                *self._synced("change.txt", "new/made-by-container.csv"),
            ]
        )
        assert await ws.sync_to_remote() == []
        assert recorder.take() == []
        other = await self._open(handles, session_id)
        await other.sync_from_remote()
        assert [(r.path, r.checksum) for r in await other.list()] == [
            ("change.txt", sha(b"new content")),
            ("keep.txt", sha(b"keep")),
            ("new/made-by-container.csv", sha(b"a,b\n")),
        ]

    async def test_sync_from_remote_brings_new_changed_and_deleted_files(
        self, handles: list[WorkspaceStorage]
    ) -> None:
        recorder = Recorder()
        session_id = generate_session_id()
        ws = await self._open(handles, session_id, **recorder.options())
        other = await self._open(handles, session_id)
        await other.write("a.txt", b"a1")
        await other.write("b.txt", b"b1")
        pulled = await ws.sync_from_remote()
        assert await ws.read("a.txt") == b"a1"
        assert sorted(recorder.take()) == sorted(
            [("created", "a.txt"), ("created", "b.txt"), *self._synced("a.txt", "b.txt")]
        )
        assert sorted(r.path for r in pulled) == ["a.txt", "b.txt"]
        await other.write("a.txt", b"a2")
        await other.delete("b.txt")
        await ws.sync_from_remote()
        assert (ws.local_path() / "a.txt").read_bytes() == b"a2"
        assert not (ws.local_path() / "b.txt").exists()
        assert sorted(recorder.take()) == sorted(
            [("modified", "a.txt"), ("deleted", "b.txt"), *self._synced("a.txt")]
        )
        assert await ws.sync_from_remote() == []
        assert recorder.take() == []

    async def test_sync_from_remote_only_given_paths(self, handles: list[WorkspaceStorage]) -> None:
        recorder = Recorder()
        session_id = generate_session_id()
        ws = await self._open(handles, session_id, **recorder.options())
        other = await self._open(handles, session_id)
        await other.write("wanted.txt", b"w")
        await other.write("other.txt", b"o")
        await ws.sync_from_remote(["wanted.txt"])
        assert recorder.take() == [("created", "wanted.txt"), *self._synced("wanted.txt")]
        assert await ws.read("wanted.txt") == b"w"
        with pytest.raises(ValidationError):
            await ws.sync_from_remote(["../escape"])
        with pytest.raises(ValidationError):
            await ws.sync_from_remote("wanted.txt")

    async def test_special_files_are_skipped_not_opened(self, handles: list[WorkspaceStorage]) -> None:
        ws = await self._open(handles)
        await ws.write("regular.txt", b"r")
        os.mkfifo(ws.local_path() / "pipe")  # opening it for reading would block forever
        await asyncio.wait_for(ws.sync_to_remote(), timeout=30)
        assert [r.path for r in await asyncio.wait_for(ws.list(), timeout=30)] == ["regular.txt"]
        with pytest.raises(ValidationError):
            await asyncio.wait_for(ws.read("pipe"), timeout=30)

    # -- paths that could escape ----------------------------------------------------------------

    @pytest.mark.parametrize("path", BAD_PATHS)
    async def test_bad_paths_are_refused_before_any_io(
        self, handles: list[WorkspaceStorage], outside: Path, path: str
    ) -> None:
        ws = await self._open(handles)
        before = sorted(os.listdir(ws.local_path().parent))
        for operation in (ws.write(path, b"x"), ws.read(path), ws.delete(path), ws.exists(path)):
            with pytest.raises(ValidationError) as info:
                await operation
            assert info.value.code == "validation_error"
        assert sorted(os.listdir(ws.local_path().parent)) == before
        assert os.listdir(ws.local_path()) == []
        assert sorted(os.listdir(outside)) == ["secret.txt"]
        assert await ws.list() == []

    async def test_symlinks_pointing_outside_are_never_followed(
        self, handles: list[WorkspaceStorage], outside: Path
    ) -> None:
        recorder = Recorder()
        session_id = generate_session_id()
        ws = await self._open(handles, session_id, **recorder.options())
        await ws.write("fine.txt", b"fine")
        root = ws.local_path()
        os.symlink(outside / "secret.txt", root / "leak.txt")
        os.symlink(outside, root / "door")
        recorder.take()
        for operation in (ws.sync_to_remote(), ws.sync_from_remote(), ws.list()):
            with pytest.raises(ValidationError) as info:
                await operation
            assert "door" in info.value.message and "leak.txt" in info.value.message
        with pytest.raises(ValidationError):
            await ws.read("leak.txt")
        with pytest.raises(ValidationError):
            await ws.read("door/secret.txt")
        with pytest.raises(ValidationError):
            await ws.write("door/planted.txt", b"planted")
        with pytest.raises(ValidationError):
            await ws.exists("door/secret.txt")
        await ws.delete("leak.txt")  # removes the link itself, never its target
        assert "leak.txt" not in os.listdir(root)
        assert sorted(os.listdir(outside)) == ["secret.txt"]
        assert (outside / "secret.txt").read_bytes() == b"do not read me"
        assert recorder.take() == []
        os.unlink(root / "door")
        await ws.sync_to_remote()
        other = await self._open(handles, session_id)
        await other.sync_from_remote()
        assert [r.path for r in await other.list()] == ["fine.txt"]

    async def test_symlinks_pointing_inside_are_skipped(self, handles: list[WorkspaceStorage]) -> None:
        recorder = Recorder()
        ws = await self._open(handles, **recorder.options())
        await ws.write("target.txt", b"t")
        recorder.take()
        os.symlink("target.txt", ws.local_path() / "alias.txt")
        assert await ws.sync_to_remote() == []
        assert recorder.take() == []
        assert [r.path for r in await ws.list()] == ["target.txt"]

    async def test_session_id_is_validated(self) -> None:
        for bad in ("", "..", ".", "a/b", "../x", "x" * 129, "nul\x00"):
            with pytest.raises(ValidationError):
                await self.open_workspace(bad)

    # -- lifecycle ------------------------------------------------------------------------------

    async def test_cleanup_removes_local_and_remote_files(self, handles: list[WorkspaceStorage]) -> None:
        session_id = generate_session_id()
        ws = await self._open(handles, session_id)
        await ws.write("a.txt", b"a")
        await ws.write("sub/b.txt", b"b")
        (ws.local_path() / "unsynced.txt").write_bytes(b"u")
        await ws.cleanup()
        assert not ws.local_path().exists()
        fresh = await self._open(handles, session_id)
        assert await fresh.sync_from_remote() == []
        assert await fresh.list() == []

    async def test_closed_handle_refuses_work(self, handles: list[WorkspaceStorage]) -> None:
        ws = await self.open_workspace(generate_session_id())
        await ws.write("a.txt", b"a")
        await ws.cleanup()
        await ws.close()
        await ws.close()
        with pytest.raises(ValidationError):
            await ws.write("a.txt", b"a")
        with pytest.raises(ValidationError):
            await ws.list()
