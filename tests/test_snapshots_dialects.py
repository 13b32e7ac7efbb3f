"""Snapshot dialects: writing the Python SDK's snake_case documents, the newer `session/` layout, and
translating Strands-owned keys both ways without losing anything."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import agent_session_manager as asm
from agent_session_manager.core.errors import ValidationError
from agent_session_manager.snapshots import Snapshot, SnapshotLocation, SnapshotManifest
from agent_session_manager.snapshots.dialects import canonical, dialect_of, render
from agent_session_manager.testing.snapshots import STRANDS_LATEST, STRANDS_PY_LATEST, strands_snapshot

LOCATION = SnapshotLocation(session_id="s1", scope="agent", scope_id="agent")


async def test_python_format_writes_what_strands_py_writes(tmp_path: Path) -> None:
    storage = await asm.open_snapshot_storage(tmp_path.as_uri(), format="python")
    loaded = Snapshot.model_validate(canonical(orjson.loads(STRANDS_PY_LATEST), "k"))
    await storage.save_snapshot(LOCATION, None, True, loaded)
    written = (tmp_path / LOCATION.latest_key).read_bytes()
    assert orjson.loads(written) == orjson.loads(STRANDS_PY_LATEST)
    assert b"\n" not in written
    await storage.save_manifest(LOCATION, SnapshotManifest())
    assert set(orjson.loads((tmp_path / LOCATION.manifest_key).read_bytes())) == {
        "schema_version",
        "updated_at",
    }
    assert await storage.load_snapshot(LOCATION) == loaded


async def test_typescript_documents_become_python_ones_and_back(tmp_path: Path) -> None:
    python = await asm.open_snapshot_storage(tmp_path.as_uri(), format="python")
    await python.save_snapshot(LOCATION, None, True, strands_snapshot())
    document = orjson.loads((tmp_path / LOCATION.latest_key).read_bytes())
    assert document["data"] == {
        "messages": [{"role": "user", "content": [{"text": "Hello, été!"}]}],
        "state": {},
        "system_prompt": None,
        "model_state": {},
    }
    assert document["app_data"] == {"tenant": "acme"}
    typescript = await asm.open_snapshot_storage(tmp_path.as_uri())
    python_doc = Snapshot.model_validate(canonical(orjson.loads(STRANDS_PY_LATEST), "k"))
    await typescript.save_snapshot(LOCATION, None, True, python_doc)
    assert (tmp_path / LOCATION.latest_key).read_bytes().startswith(b'{\n  "scope": "agent",\n')
    await python.save_snapshot(LOCATION, None, True, await typescript.load_snapshot(LOCATION) or python_doc)
    assert orjson.loads((tmp_path / LOCATION.latest_key).read_bytes()) == orjson.loads(STRANDS_PY_LATEST)


async def test_session_namespace_layout_is_compact_and_separate(tmp_path: Path) -> None:
    storage = await asm.open_snapshot_storage(tmp_path.as_uri(), namespace="session")
    history_id = asm.snapshots.new_snapshot_id()
    await storage.save_snapshot(LOCATION, history_id, False, strands_snapshot())
    await storage.save_snapshot(LOCATION, None, True, strands_snapshot())
    written = tmp_path / "session" / LOCATION.latest_key
    assert orjson.loads(written.read_bytes()) == orjson.loads(STRANDS_LATEST)
    assert b"\n" not in written.read_bytes()
    assert await storage.list_snapshot_ids(LOCATION) == [history_id]
    flat = await asm.open_snapshot_storage(tmp_path.as_uri())
    assert await flat.load_snapshot(LOCATION) is None
    await storage.delete_session("s1")
    assert not (tmp_path / "session" / "s1").exists()


def test_translation_is_lossless_for_python_documents() -> None:
    document = orjson.loads(STRANDS_PY_LATEST)
    document["data"]["interrupt_state"]["pending_tool_execution"] = {"tool_use_message": {}}
    document["data"]["custom_key"] = 1
    ts = canonical(document, "k")
    assert ts["data"]["interrupts"]["pendingToolExecution"] == {"tool_use_message": {}}
    assert ts["data"]["custom_key"] == 1
    assert orjson.loads(render(ts, "python", compact=True)) == document


def test_typescript_null_interrupts_have_no_python_spelling() -> None:
    ts = orjson.loads(STRANDS_LATEST)
    python = orjson.loads(render(ts, "python", compact=True))
    assert "interrupt_state" not in python["data"]
    ts["data"]["interrupts"] = {"interrupts": {}, "activated": False, "resumeResponses": {"a": 1}}
    python = orjson.loads(render(ts, "python", compact=True))
    assert python["data"]["interrupt_state"] == {
        "interrupts": {},
        "activated": False,
        "resumeResponses": {"a": 1},
        "context": {},
    }


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"scope": "agent", "data": {}}, "schemaVersion"),
        ({"scope": "agent", "schemaVersion": "1.0", "created_at": "x", "data": {}}, "created_at"),
    ],
)
def test_neither_dialect_is_a_validation_error_naming_the_key(
    document: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        dialect_of(document, "s1/scopes/agent/a/snapshots/snapshot_latest.json")
    assert info.value.code == "validation_error"
    assert info.value.details == {"key": "s1/scopes/agent/a/snapshots/snapshot_latest.json", "field": field}


@pytest.mark.parametrize(
    "options", [{"format": "yaml"}, {"namespace": "../x"}, {"namespace": "Session"}, {"dialect": "python"}]
)
async def test_bad_options_are_refused(tmp_path: Path, options: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        await asm.open_snapshot_storage(tmp_path.as_uri(), **options)
