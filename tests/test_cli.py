"""`asm` through its real entry point (subprocesses), against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from agent_session_manager import Event, EventType, Run, RunStatus, Session, open_store

ASM = str(Path(sys.executable).with_name("asm"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cli.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def asm(database_url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASM_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [ASM, "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


async def seed(url: str, agent: str = "cli-agent") -> tuple[Session, Run]:
    async with await open_store(url, migrate=True) as store:
        session = await store.save_session(Session(agent_id=agent, tags=["cli"]))
        run = await store.save_run(
            Run(session_id=session.id, status=RunStatus.RUNNING, token_usage={"input_tokens": 7})
        )
        await store.append_events(
            [
                Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={"content": "hello"}),
                Event(type=EventType.TOOL_CALL_STARTED, session_id=session.id, run_id=run.id),
                Event(type=EventType.MESSAGE_RECEIVED, session_id=session.id, data={"content": "hi!"}),
            ]
        )
        return session, run


def test_sessions_list_and_show_as_json(database_url: str) -> None:
    session, run = asyncio.run(seed(database_url))
    other, _ = asyncio.run(seed(database_url, agent="someone-else"))
    listed = asm(database_url, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = orjson.loads(listed.stdout)
    assert {s["id"] for s in doc["sessions"]} >= {session.id, other.id}
    mine = asm(database_url, "sessions", "list", "--agent", "cli-agent", "--json")
    assert [s["id"] for s in orjson.loads(mine.stdout)["sessions"]] == [session.id]
    shown = asm(database_url, "sessions", "show", session.id, "--json")
    assert shown.returncode == 0, shown.stderr
    detail = orjson.loads(shown.stdout)
    assert detail["session"]["id"] == session.id
    assert [r["id"] for r in detail["runs"]] == [run.id]
    assert [e["sequence_number"] for e in detail["events"]] == [1, 2, 3]
    table = asm(database_url, "sessions", "show", session.id)
    assert "tool_call_started" in table.stdout and "hello" in table.stdout


def test_events_list_filters(database_url: str) -> None:
    session, run = asyncio.run(seed(database_url))
    done = asm(database_url, "events", "list", session.id, "--after", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert [e["sequence_number"] for e in orjson.loads(done.stdout)] == [2, 3]
    typed = asm(database_url, "events", "list", session.id, "--type", "message_received", "--json")
    assert [e["data"] for e in orjson.loads(typed.stdout)] == [{"content": "hi!"}]
    by_run = asm(database_url, "events", "list", session.id, "--run", run.id, "--json")
    assert [e["type"] for e in orjson.loads(by_run.stdout)] == ["tool_call_started"]


def test_sessions_delete_needs_confirmation(database_url: str) -> None:
    session, _ = asyncio.run(seed(database_url))
    refused = asm(database_url, "sessions", "delete", session.id)
    assert refused.returncode == 1
    assert "nothing was deleted" in refused.stderr
    done = asm(database_url, "sessions", "delete", session.id, "--yes")
    assert done.returncode == 0, done.stderr
    missing = asm(database_url, "sessions", "show", session.id)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: [session_not_found]")


def test_events_tail_prints_an_event_appended_by_another_process(database_url: str) -> None:
    session, _ = asyncio.run(seed(database_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASM_")}
    tail = subprocess.Popen(
        [ASM, "--database-url", database_url, "events", "tail", session.id, "--json", "--after", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        time.sleep(2.0)
        writer = (
            "import asyncio, sys\n"
            "from agent_session_manager import open_store, Event\n"
            "async def main():\n"
            "    async with await open_store(sys.argv[1]) as s:\n"
            "        await s.append_event(Event(type='message_sent', session_id=sys.argv[2],"
            " data={'content': 'from another process'}))\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", writer, database_url, session.id], check=True, timeout=60)
        assert tail.stdout is not None
        ready, _, _ = select.select([tail.stdout], [], [], 15)
        assert ready, "tail printed nothing within 15 s of the append"
        line = orjson.loads(tail.stdout.readline())
        assert line["sequence_number"] == 4
        assert line["data"] == {"content": "from another process"}
    finally:
        tail.terminate()
        tail.wait(timeout=10)


def test_bad_database_url_is_one_line_with_code(tmp_path: Path) -> None:
    done = asm("postgresql://app:hunter2@127.0.0.1:1/nope", "sessions", "list")
    assert done.returncode == 1
    assert done.stderr.startswith("error: [storage_connection_failed]")
    assert "hunter2" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1
