"""Strands Agents on our stores: a real Strands `Agent` with a scripted model (no network) saved through
`SnapshotSessionManager(storage=ASMStorage(...))` and through the legacy `RepositorySessionManager` on
`ASMSessionRepository`, each restored in a fresh process; Strands reading what our `SnapshotStorage`
wrote; and the TypeScript SDK (npm `@strands-agents/sdk`, pinned in tests/strands_ts) sharing one
SeaweedFS bucket with Python Strands in both directions."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from strands.session import SnapshotSessionManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.storage import LocalFileStorage
from strands.types.exceptions import SessionException
from strands.types.session import SessionMessage

import agent_session_manager as asm
from agent_session_manager import sync
from agent_session_manager.core.errors import AlreadyExists, StorageError, ValidationError
from agent_session_manager.integrations.strands import ASMSessionRepository, ASMStorage
from agent_session_manager.snapshots import Snapshot, SnapshotLocation
from agent_session_manager.testing.services import S3Target
from strands_support import ADDITION, agent

HERE = Path(__file__).parent
TS = HERE / "strands_ts"
QUESTION = "What is 2 + 3?"


def restore(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The agent restored by a fresh Python process (tests/strands_support.py)."""
    done = subprocess.run(
        [sys.executable, str(HERE / "strands_support.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_snapshot_session_manager_saves_lists_and_restores(tmp_path: Path) -> None:
    url = (tmp_path / "artifacts").as_uri()
    manager = SnapshotSessionManager("chat-1", storage=ASMStorage(url), snapshot_trigger=lambda **_: True)
    first = agent(manager, ADDITION)
    assert str(first(QUESTION)).strip() == "2 + 3 = 5"
    first.state.set("topic", "maths")
    asyncio.run(manager.save_snapshot(first, is_latest=True))
    assert [m["role"] for m in first.messages] == ["user", "assistant", "user", "assistant"]
    ids = asyncio.run(manager.list_snapshot_ids(first))
    assert len(ids) == 1
    keys = asyncio.run(ASMStorage(url).list("session/chat-1/"))
    base = "session/chat-1/scopes/agent/agent/snapshots/"
    assert keys == [f"{base}immutable_history/snapshot_{ids[0]}.json", f"{base}snapshot_latest.json"]
    restored = restore("snapshot", url, "chat-1")
    assert restored == {"messages": first.messages, "state": {"topic": "maths"}}
    history = agent(SnapshotSessionManager("other", storage=ASMStorage(url)))
    assert asyncio.run(manager.restore_snapshot(history, snapshot_id=ids[0]))
    assert history.messages == first.messages


async def test_storage_protocol_translates_and_refuses(tmp_path: Path) -> None:
    artifacts = sync.portal().open_artifact_store((tmp_path / "a").as_uri())
    typescript = ASMStorage(artifacts, format="typescript")
    key = "session/s1/scopes/agent/agent/snapshots/snapshot_latest.json"
    python_doc = {"scope": "agent", "schema_version": "1.0", "created_at": "2026-03-06T12:34:56.789Z"}
    await typescript.write(
        key, json.dumps({**python_doc, "data": {"system_prompt": "hi"}, "app_data": {}}).encode()
    )
    stored = json.loads(artifacts.get(key))
    assert stored["schemaVersion"] == "1.0" and stored["data"] == {"systemPrompt": "hi"}
    read = json.loads(await typescript.read(key) or b"")
    assert read["schema_version"] == "1.0" and read["data"] == {"system_prompt": "hi"}
    assert await typescript.read("session/s1/missing.json") is None
    as_is = json.dumps({**python_doc, "data": {"system_prompt": "hi"}, "app_data": {}}, indent=1).encode()
    await ASMStorage(artifacts).write(key, as_is)
    assert artifacts.get(key) == as_is and await typescript.read(key) == as_is
    await typescript.write("notes/raw.bin", b"\x00\x01")
    await typescript.write("notes/cats.txt", b"cats purr and sleep")
    assert [r.key for r in await typescript.search("sleeping cats")][:1] == ["notes/cats.txt"]
    assert await typescript.read("notes/raw.bin") == b"\x00\x01"
    assert await typescript.list("session/") == [key]
    with pytest.raises(ValidationError) as info:
        await typescript.write(key, b'{"scope": "agent", "data": {}}')
    assert info.value.details["key"] == key and "neither Strands dialect" in info.value.message
    history = "session/s1/scopes/agent/agent/snapshots/immutable_history/snapshot_0195e9b2.json"
    body = json.dumps({**python_doc, "data": {}}).encode()
    await typescript.write(history, body)
    with pytest.raises(AlreadyExists):
        await typescript.write(history, body)
    artifacts.put(key, b"[1]")
    with pytest.raises(StorageError, match=key):
        await typescript.read(key)
    await typescript.delete(key)
    await typescript.delete(key)
    assert await typescript.list("session/") == [history]
    with pytest.raises(ValidationError):
        ASMStorage(artifacts, format="yaml")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ASMStorage(42)  # type: ignore[arg-type]
    artifacts.close()


def test_strands_reads_what_our_snapshot_storage_wrote(tmp_path: Path) -> None:
    messages = [
        {"role": "user", "content": [{"text": QUESTION}]},
        {"role": "assistant", "content": [{"text": "5"}]},
    ]

    async def write() -> None:
        storage = await asm.open_snapshot_storage(tmp_path.as_uri(), format="python", namespace="session")
        location = SnapshotLocation(session_id="ours", scope="agent", scope_id="agent")
        snapshot = Snapshot(
            scope="agent", data={"messages": messages, "state": {"from": "asm"}, "systemPrompt": None}
        )
        await storage.save_snapshot(location, None, True, snapshot)

    sync.portal().run(write())
    restored = agent(SnapshotSessionManager("ours", storage=LocalFileStorage(str(tmp_path))))
    assert restored.messages == messages
    assert restored.state.get() == {"from": "asm"}


def test_repository_session_manager_writes_our_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/asm.db"
    repository = ASMSessionRepository(url)
    first = agent(RepositorySessionManager("chat-2", session_repository=repository), ADDITION)
    assert str(first(QUESTION)).strip() == "2 + 3 = 5"
    store = sync.portal().open_store(url)
    events = store.get_events("chat-2")
    assert [str(e.type) for e in events] == [
        "message_sent",
        "message_received",
        "tool_call_started",
        "message_sent",
        "tool_call_completed",
        "message_received",
    ]
    assert events[0].data["content"] == QUESTION
    assert events[2].data == {
        "tool_call_id": "t1",
        "tool_name": "add",
        "tool_input": {"a": 2, "b": 3},
        "strands": {"agent_id": "agent", "message_id": 1},
    }
    assert events[4].data["tool_call_id"] == "t1"
    assert events[5].data["content"] == "2 + 3 = 5"
    assert store.get_session("chat-2").metadata["strands"]["agents"]["agent"]["agent_id"] == "agent"
    restored = restore("repository", url, "chat-2")
    assert restored["messages"] == first.messages
    assert repository.list_messages("chat-2", "agent", limit=2, offset=1)[0].message_id == 1
    redacted = repository.read_message("chat-2", "agent", 0)
    assert redacted is not None
    redacted.redact_message = {"role": "user", "content": [{"text": "[REDACTED]"}]}
    repository.update_message("chat-2", "agent", redacted)
    again = repository.read_message("chat-2", "agent", 0)
    assert again is not None and again.to_message()["content"] == [{"text": "[REDACTED]"}]
    shown = [e.data["content"] for e in store.get_events("chat-2", types=["message_sent"])]
    assert shown == ["", "[REDACTED]"]  # the new version is appended, the old one deleted
    assert len(store.get_events("chat-2")) == 6
    assert repository.list_messages("chat-2", "agent")[0].message_id == 0
    with pytest.raises(SessionException):
        repository.update_message(
            "chat-2", "agent", SessionMessage(message={"role": "user", "content": []}, message_id=9)
        )
    assert repository.read_session("missing") is None
    repository.delete_session("chat-2")
    assert repository.read_session("chat-2") is None
    store.close()


def node_env(target: S3Target, prefix: str, session_id: str) -> dict[str, str]:
    credentials = target.credentials()
    return {
        **os.environ,
        "ASM_S3_ENDPOINT": target.endpoint,
        "ASM_S3_BUCKET": target.bucket,
        "ASM_S3_PREFIX": prefix,
        "ASM_S3_KEY": credentials["access_key_id"],
        "ASM_S3_SECRET": credentials["secret_access_key"],
        "ASM_SESSION_ID": session_id,
    }


def node(mode: str, env: dict[str, str], stdin: str = "") -> str:
    if shutil.which("node") is None or not (TS / "node_modules").exists():
        if os.environ.get("ASM_REQUIRE_SERVICES") == "1":
            pytest.fail("node or tests/strands_ts/node_modules is missing (run npm ci in tests/strands_ts)")
        pytest.skip("node or tests/strands_ts/node_modules is missing (npm ci in tests/strands_ts)")
    done = subprocess.run(
        ["node", "interop.mjs", mode],
        cwd=TS,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.s3
def test_typescript_and_python_share_one_bucket(s3_target: S3Target) -> None:
    credentials = s3_target.credentials()
    aws = {
        "AWS_ACCESS_KEY_ID": credentials["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["secret_access_key"],
    }
    url = s3_target.url("interop")
    messages = [
        {"role": "user", "content": [{"text": "Hello from TypeScript"}]},
        {"role": "assistant", "content": [{"text": "Hi!"}]},
    ]
    node("write", node_env(s3_target, "interop", "from-ts"), json.dumps(messages))
    restored = restore("snapshot", url, "from-ts", "typescript", env=aws)
    assert restored["state"] == {"written_by": "typescript"}
    assert all(m.pop("trackingId") for m in restored["messages"])  # TypeScript's own field, kept
    assert restored["messages"] == messages

    artifacts = sync.portal().open_artifact_store(url, foreign=True, **credentials)
    manager = SnapshotSessionManager("from-py", storage=ASMStorage(artifacts, format="typescript"))
    python = agent(manager, ADDITION)
    python(QUESTION)
    python.state.set("written_by", "python")
    asyncio.run(manager.save_snapshot(python, is_latest=True))
    seen = json.loads(node("read", node_env(s3_target, "interop", "from-py")))
    assert [m["role"] for m in seen["messages"]] == ["user", "assistant", "user", "assistant"]
    assert seen["messages"][1]["content"][0]["toolUse"]["name"] == "add"
    assert seen["messages"][3]["content"] == [{"text": "2 + 3 = 5"}]
    assert seen["state"] == {"written_by": "python"}
    artifacts.close()

    async def ours() -> None:
        storage = await asm.open_snapshot_storage(url, format="python", namespace="session", **credentials)
        location = SnapshotLocation(session_id="from-asm", scope="agent", scope_id="agent")
        await storage.save_snapshot(
            location, None, True, Snapshot(scope="agent", data={"messages": messages})
        )

    sync.portal().run(ours())
    s3 = {**aws, "AWS_ENDPOINT_URL_S3": s3_target.endpoint, "AWS_DEFAULT_REGION": s3_target.region}
    restored = restore("strands-s3", s3_target.bucket, "from-asm", "interop", env=s3)
    assert restored == {"messages": messages, "state": {}}


def readme_examples(section: str) -> list[str]:
    """The Python code blocks of one README section."""
    readme = (HERE.parent / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in body.split("```python\n")[1:]]


@pytest.mark.parametrize("index", [0, 1])
def test_the_readme_examples_run(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    example = readme_examples("Strands Agents")[index]
    done = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ["Remember: my name is Ada.", "['message_sent']"][index]
