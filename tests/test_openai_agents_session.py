"""`ASMSession`, the OpenAI Agents SDK's `Session` protocol on our stores (memory, SQLite, PostgreSQL):
every method and rule, the exact round trip of every item type the SDK defines and the event types they
are stored under, bad input, sync and cross-loop use, and processes adding and popping concurrently."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import typing
import uuid
from pathlib import Path
from typing import Any

import openai.types.responses.response_input_item_param as input_items
import pytest
from agents.memory import Session as SDKSession
from agents.memory import SessionSettings

from agent_session_manager import ASMError, EventType, sync
from agent_session_manager.core.errors import ValidationError
from agent_session_manager.integrations.openai_agents import ASMSession, asm_session_id, event_type_of
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from openai_agents_items import SAMPLES


def new_id() -> str:
    return f"conv-{uuid.uuid4().hex}"


def text(n: int) -> dict[str, Any]:
    return {"role": "user", "content": f"message {n}"}


def test_samples_cover_every_item_type_of_the_sdk() -> None:
    defined = {member.__name__ for member in typing.get_args(input_items.ResponseInputItemParam)}
    assert set(SAMPLES) == defined


async def test_implements_the_sdk_session_protocol(store: SessionStore) -> None:
    session = ASMSession(new_id(), store, session_settings={"limit": 5})
    assert isinstance(session, SDKSession)
    assert session.session_settings == SessionSettings(limit=5)


async def test_every_item_type_round_trips_exactly(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    items = list(SAMPLES.values())
    await session.add_items(items[:10])
    await session.add_items(items[10:])
    assert await session.get_items() == items
    events = await store.get_events(session.asm_session_id)
    assert [e.type for e in events] == [event_type_of(item) for item in items]
    assert [e.sequence_number for e in events] == list(range(1, len(items) + 1))


async def test_items_are_typed_with_core_event_types(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    names = [
        "EasyInputMessageParam",
        "Message",
        "ResponseOutputMessageParam",
        "ResponseFunctionToolCallParam",
        "FunctionCallOutput",
        "ResponseCustomToolCallParam",
        "ResponseReasoningItemParam",
        "ItemReference",
    ]
    await session.add_items([SAMPLES[name] for name in names])
    events = await store.get_events(session.asm_session_id)
    assert [e.type for e in events] == [
        EventType.MESSAGE_SENT,
        EventType.MESSAGE_SENT,
        EventType.MESSAGE_RECEIVED,
        EventType.TOOL_CALL_STARTED,
        EventType.TOOL_CALL_COMPLETED,
        EventType.TOOL_CALL_STARTED,
        "openai_agents.reasoning",
        "openai_agents.item_reference",
    ]
    call = events[3].data
    assert (call["tool_name"], call["tool_call_id"]) == ("get_weather", "call_1")
    assert events[4].data["tool_call_id"] == "call_1"
    assert events[0].data["role"] == "user"
    calls = await store.get_events(session.asm_session_id, types=[EventType.TOOL_CALL_STARTED])
    expected = [SAMPLES["ResponseFunctionToolCallParam"], SAMPLES["ResponseCustomToolCallParam"]]
    assert [e.data["item"] for e in calls] == expected
    assert event_type_of("not an object") == "openai_agents.item"
    assert event_type_of({"type": "Weird-Type"}) == "openai_agents.item"


async def test_values_our_json_rules_refuse_are_kept_exactly(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    odd = [
        {"type": "function_call_output", "call_id": "c", "output": "nul \x00 inside"},
        {"type": "reasoning", "id": "r", "summary": [], "score": -0.0, "big": 1e20},
    ]
    await session.add_items(odd)
    back = await session.get_items()
    assert back == odd
    assert math.copysign(1.0, back[1]["score"]) == -1.0
    assert isinstance(back[1]["big"], float)
    events = await store.get_events(session.asm_session_id)
    assert events[0].type == EventType.TOOL_CALL_COMPLETED
    assert events[0].data["tool_call_id"] == "c"


async def test_get_items_limit_returns_the_newest_in_order(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    for start, end in ((0, 4), (4, 7), (7, 10)):
        await session.add_items([text(n) for n in range(start, end)])
    everything = [text(n) for n in range(10)]
    assert await session.get_items() == everything
    assert await session.get_items(limit=3) == everything[-3:]
    assert await session.get_items(limit=1) == everything[-1:]
    assert await session.get_items(limit=50) == everything
    assert await session.get_items(limit=0) == []


async def test_session_settings_limit_applies_unless_a_limit_is_passed(store: SessionStore) -> None:
    session = ASMSession(new_id(), store, session_settings=SessionSettings(limit=2))
    await session.add_items([text(n) for n in range(5)])
    assert await session.get_items() == [text(3), text(4)]
    assert await session.get_items(limit=4) == [text(n) for n in range(1, 5)]


@pytest.mark.parametrize("limit", [-1, 1.5, True, "3"])
async def test_a_bad_limit_is_a_validation_error(store: SessionStore, limit: Any) -> None:
    session = ASMSession(new_id(), store)
    await session.add_items([text(1)])
    with pytest.raises(ValidationError):
        await session.get_items(limit=limit)


@pytest.mark.parametrize(
    "bad",
    [{"role": "user", "content": float("nan")}, {"role": "user", "content": {1, 2}}, {"t": (1, 2)}, object()],
)
async def test_a_non_json_item_fails_the_whole_batch(store: SessionStore, bad: Any) -> None:
    session = ASMSession(new_id(), store)
    await session.add_items([text(0)])
    with pytest.raises(ValidationError) as caught:
        await session.add_items([text(1), bad, text(2)])
    assert caught.value.code == "validation_error"
    assert await session.get_items() == [text(0)]


async def test_add_items_of_nothing_writes_nothing(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    await session.add_items([])
    assert await session.get_items() == []
    assert await session.pop_item() is None


async def test_pop_item_removes_and_returns_the_newest(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    await session.add_items([text(n) for n in range(3)])
    assert await session.pop_item() == text(2)
    assert await session.pop_item() == text(1)
    await session.add_items([text(9)])
    assert await session.get_items() == [text(0), text(9)]
    assert await session.pop_item() == text(9)
    assert await session.pop_item() == text(0)
    assert await session.pop_item() is None
    assert await session.get_items() == []
    await session.add_items([text(5)])
    events = await store.get_events(session.asm_session_id)
    assert [e.sequence_number for e in events] == [5]


async def test_clear_session_removes_every_item_and_keeps_numbering(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    await session.add_items([text(n) for n in range(4)])
    await session.clear_session()
    assert await session.get_items() == []
    assert await session.pop_item() is None
    await session.add_items([text(7)])
    assert await session.get_items() == [text(7)]
    assert await store.get_latest_sequence(session.asm_session_id) == 5
    await ASMSession(new_id(), store).clear_session()


async def test_sessions_are_isolated_and_shared_by_id(store: SessionStore) -> None:
    first_id, second_id = new_id(), new_id()
    await ASMSession(first_id, store).add_items([text(1)])
    await ASMSession(second_id, store).add_items([text(2)])
    assert await ASMSession(first_id, store).get_items() == [text(1)]
    assert await ASMSession(second_id, store).get_items() == [text(2)]


async def test_any_sdk_session_id_maps_to_a_stable_asm_id(store: SessionStore) -> None:
    sdk_id = f"user 42 / conversation ü {uuid.uuid4()}"
    session = ASMSession(sdk_id, store, agent_id="support")
    assert session.asm_session_id == asm_session_id(sdk_id)
    assert session.asm_session_id.startswith("oa_")
    await session.add_items([text(1)])
    stored = await store.get_session(session.asm_session_id)
    assert stored.agent_id == "support"
    assert stored.metadata == {"openai_agents": {"session_id": sdk_id}}
    assert await ASMSession(sdk_id, store).get_items() == [text(1)]
    assert asm_session_id("plain-id_1") == "plain-id_1"
    with pytest.raises(ValidationError):
        ASMSession("", store)


async def test_a_closed_session_refuses_calls(store: SessionStore) -> None:
    session = ASMSession(new_id(), store)
    session.close()
    session.close()
    with pytest.raises(ASMError):
        await session.get_items()
    with pytest.raises(ASMError):
        await session.add_items([text(1)])


def test_a_store_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(ValidationError):
        ASMSession("x", "sqlite:///nowhere.db")


def test_from_url_works_from_sync_code_and_any_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    session = ASMSession.from_url("sync-user", url=url, migrate=True)
    asyncio.run(session.add_items([text(1)]))
    asyncio.run(session.add_items([text(2)]))
    assert asyncio.run(session.get_items()) == [text(1), text(2)]
    session.close()
    with pytest.raises(ASMError):
        asyncio.run(session.get_items())
    again = ASMSession.from_url("sync-user", url=url)
    assert asyncio.run(again.pop_item()) == text(2)
    again.close()


async def test_from_url_inside_a_running_loop(tmp_path: Path) -> None:
    session = ASMSession.from_url("in-loop", url=f"sqlite:///{tmp_path}/chat.db", migrate=True)
    try:
        await asyncio.gather(*(session.add_items([text(n)]) for n in range(10)))
        assert sorted(item["content"] for item in await session.get_items()) == sorted(
            f"message {n}" for n in range(10)
        )
    finally:
        session.close()


async def test_a_portal_store_is_shared_across_loops(tmp_path: Path) -> None:
    portal_store = sync.portal().open_store(f"sqlite:///{tmp_path}/chat.db", migrate=True)
    try:
        session = ASMSession("shared", portal_store)
        await session.add_items([text(1)])
        assert await asyncio.to_thread(lambda: asyncio.run(session.get_items())) == [text(1)]
    finally:
        portal_store.close()


#: `python -c WORKER url session_id count`: adds `count` items one `add_items` at a time, prints "added",
#: waits for a line on stdin, then pops until the session is empty, printing each item's content.
WORKER = """
import asyncio, os, sys
from agent_session_manager.integrations.openai_agents import ASMSession

async def main(url, session_id, count):
    session = ASMSession.from_url(session_id, url=url)
    for n in range(count):
        await session.add_items([{"role": "user", "content": f"{os.getpid()}-{n}"}])
    print("added", flush=True)
    sys.stdin.readline()
    while (item := await session.pop_item()) is not None:
        print(item["content"], flush=True)
    session.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_adding_and_popping_concurrently_lose_and_repeat_nothing(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path}/chat.db" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    migrations.upgrade(db_url)
    session_id = new_id()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url, session_id, "200"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "added\n"
    check = ASMSession.from_url(session_id, url=db_url)
    try:
        added = [item["content"] for item in asyncio.run(check.get_items())]
    finally:
        check.close()
    assert len(set(added)) == len(added) == 800
    for writer in {content.split("-")[0] for content in added}:
        assert [int(c.split("-")[1]) for c in added if c.startswith(f"{writer}-")] == list(range(200))
    popped = []
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("pop\n")
        worker.stdin.flush()
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        popped.extend(out.splitlines())
    assert sorted(popped) == sorted(added)
