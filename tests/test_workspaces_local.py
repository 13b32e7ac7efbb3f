"""Local workspaces: the whole contract, plus temporary/kept directories, reopening, the helpers
and cleanup failure reports."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

import agent_session_manager as asm
from agent_session_manager.core.errors import StorageError, ValidationError
from agent_session_manager.testing import WorkspaceStorageContract
from agent_session_manager.testing.workspaces import Recorder
from agent_session_manager.workspaces import (
    FileRef,
    WorkspaceStorage,
    build_file_ref,
    compute_checksum,
    generate_session_id,
    guess_content_type,
)
from agent_session_manager.workspaces.local import LocalWorkspaceStorage


class TestLocalWorkspaces(WorkspaceStorageContract):
    backend = "file"

    @pytest.fixture(autouse=True)
    def _base(self, tmp_path: Path) -> None:
        self.base = tmp_path / "workspaces"

    async def open_workspace(self, session_id: str, **options: Any) -> WorkspaceStorage:
        return await LocalWorkspaceStorage.init(session_id, base_path=self.base, **options)


async def test_layout_is_one_directory_per_session(tmp_path: Path) -> None:
    ws = await LocalWorkspaceStorage.init("sess-1", base_path=tmp_path)
    await ws.write("data/processed.json", b"[]")
    assert ws.local_path() == tmp_path / "asm_ws_sess-1"
    assert (tmp_path / "asm_ws_sess-1" / "data" / "processed.json").read_bytes() == b"[]"
    assert sorted(os.listdir(tmp_path)) == ["asm_ws_sess-1", "asm_ws_sess-1.index.json"]
    ref = (await ws.list())[0]
    assert ref.storage_url == (tmp_path / "asm_ws_sess-1" / "data" / "processed.json").as_uri()
    await ws.close()


async def test_temporary_by_default_kept_on_request(tmp_path: Path) -> None:
    async with await asm.open_workspace_storage(tmp_path.as_uri(), "temp") as ws:
        await ws.write("a.txt", b"a")
        directory = ws.local_path()
    assert not directory.exists()
    assert os.listdir(tmp_path) == []
    kept = await LocalWorkspaceStorage.init("kept", base_path=tmp_path, keep=True)
    await kept.write("a.txt", b"a")
    await kept.cleanup()
    await kept.close()
    assert (tmp_path / "asm_ws_kept" / "a.txt").read_bytes() == b"a"


async def test_relative_file_url_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await asm.open_workspace_storage("file://./spaces", "rel", keep=True) as ws:
        ref = await ws.write("notes/a.md", b"# hi")
        assert ws.local_path() == tmp_path / "spaces" / "asm_ws_rel"
    assert ref.storage_url == (tmp_path / "spaces" / "asm_ws_rel" / "notes" / "a.md").as_uri()
    assert ref.content_type == "text/markdown"
    assert (tmp_path / "spaces" / "asm_ws_rel" / "notes" / "a.md").read_bytes() == b"# hi"


async def test_default_base_is_the_system_temp_dir() -> None:
    ws = await asm.open_workspace_storage()
    try:
        assert ws.local_path().parent == Path(__import__("tempfile").gettempdir())
        assert ws.session_id.startswith("ses_") and len(ws.session_id) == 36
    finally:
        await ws.close()
    assert not ws.local_path().exists()


async def test_reopened_workspace_fires_each_change_once(tmp_path: Path) -> None:
    recorder = Recorder()
    first = await LocalWorkspaceStorage.init("s", base_path=tmp_path, keep=True, **recorder.options())
    await first.write("a.txt", b"a")
    await first.close()
    (tmp_path / "asm_ws_s" / "b.txt").write_bytes(b"b")
    second = await LocalWorkspaceStorage.init("s", base_path=tmp_path, keep=True, **recorder.options())
    changed = await second.sync_to_remote()
    assert [r.path for r in changed] == ["b.txt"]
    assert recorder.take() == [("created", "a.txt"), ("created", "b.txt")]
    await second.close()


async def test_unreadable_index_costs_only_repeated_events(tmp_path: Path) -> None:
    recorder = Recorder()
    ws = await LocalWorkspaceStorage.init("s", base_path=tmp_path, keep=True)
    await ws.write("a.txt", b"a")
    (tmp_path / "asm_ws_s.index.json").write_bytes(b"{not json")
    again = await LocalWorkspaceStorage.init("s", base_path=tmp_path, keep=True, **recorder.options())
    await again.sync_to_remote()
    assert recorder.take() == [("created", "a.txt")]
    assert await again.read("a.txt") == b"a"


async def test_unknown_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        await LocalWorkspaceStorage.init("s", base_path=tmp_path, on_file_create=print)
    assert "on_file_create" in info.value.message


async def test_cleanup_reports_every_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = await LocalWorkspaceStorage.init("s", base_path=tmp_path)
    for name in ("a.txt", "stuck/one.txt", "stuck/two.txt", "z.txt"):
        await ws.write(name, b"x")
    real_unlink = os.unlink

    def failing_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path).endswith(("one.txt", "two.txt")):
            raise PermissionError(13, "injected failure", str(path))
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", failing_unlink)
    with pytest.raises(StorageError) as info:
        await ws.cleanup()
    failed = [f["path"] for f in info.value.details["failures"]]
    assert any(p.endswith("one.txt") for p in failed)
    assert any(p.endswith("two.txt") for p in failed)
    assert any(p.endswith("stuck") for p in failed)  # its directory could not be removed either
    monkeypatch.undo()
    left = sorted(str(p.relative_to(ws.local_path())) for p in ws.local_path().rglob("*"))
    assert left == ["stuck", "stuck/one.txt", "stuck/two.txt"]
    await ws.cleanup()  # a retry finishes the job
    assert not ws.local_path().exists()


def test_generate_session_id_is_random_and_a_store_session_id() -> None:
    ids = {generate_session_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        assert value.startswith("ses_") and len(value) == 36
        assert set(value[4:]) <= set("0123456789abcdef")


def test_compute_checksum_is_lowercase_sha256_hex() -> None:
    assert compute_checksum(b"hello") == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert compute_checksum(bytearray(b"\x00\xff")) == hashlib.sha256(b"\x00\xff").hexdigest()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("output.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("old.xls", "application/vnd.ms-excel"),
        ("report.pdf", "application/pdf"),
        ("data.json", "application/json"),
        ("notes.txt", "text/plain"),
        ("table.csv", "text/csv"),
        ("page.html", "text/html"),
        ("feed.xml", "application/xml"),
        ("chart.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("photo.JPEG", "image/jpeg"),
        ("anim.gif", "image/gif"),
        ("bundle.zip", "application/zip"),
        ("bundle.tar", "application/x-tar"),
        ("bundle.tar.gz", "application/gzip"),
        ("script.py", "text/x-python"),
        ("song.mp3", "audio/mpeg"),
        ("NOTES.md", "text/markdown"),
        ("config.yml", "application/yaml"),
        ("Makefile", "application/octet-stream"),
        ("strange.unknownext", "application/octet-stream"),
        ("dir.d/noext", "application/octet-stream"),
    ],
)
def test_guess_content_type(path: str, expected: str) -> None:
    assert guess_content_type(path) == expected


def test_build_file_ref_computes_what_is_not_given() -> None:
    ref = build_file_ref("output.xlsx", b"1234")
    assert isinstance(ref, FileRef)
    assert ref.size == 4
    assert ref.checksum == compute_checksum(b"1234")
    assert ref.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert ref.storage_url is None
    assert ref.created_at.utcoffset() is not None
    given = build_file_ref(
        "a.bin", b"x", content_type="text/plain", checksum="0" * 64, storage_url="s3://b/k"
    )
    assert (given.content_type, given.checksum, given.storage_url) == ("text/plain", "0" * 64, "s3://b/k")
    with pytest.raises(ValidationError):
        build_file_ref("../up", b"x")
    with pytest.raises(ValidationError):
        build_file_ref("a", b"x", checksum="not-hex")
