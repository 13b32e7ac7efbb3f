"""The sync facade works from a plain script and from a worker thread while another loop runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent_session_manager import (
    ASMError,
    Event,
    EventType,
    Session,
    ValidationError,
    open_composite_store,
    sync,
)


def test_sync_store_from_plain_code() -> None:
    with sync.open_store("memory://") as store:
        session = store.save_session(Session(agent_id="a"))
        stored = store.append_events(
            [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(3)]
        )
        assert [e.sequence_number for e in stored] == [1, 2, 3]
        assert store.get_latest_sequence(session.id) == 3
        assert [e.sequence_number for e in store.get_events(session.id, after=1)] == [2, 3]


@pytest.mark.parametrize("composite", [False, True], ids=["sqlite", "composite"])
def test_sync_iter_events_is_a_plain_iterator(composite: bool, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/asm.db"
    opener = (
        sync.wrap(lambda: open_composite_store(url, "memory://", session_options={"migrate": True}))
        if composite
        else None
    )
    with opener or sync.open_store(url, migrate=True) as store:
        session = store.save_session(Session(agent_id="a"))
        store.append_events([Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(7)])
        events = store.iter_events(session.id, after=1, batch_size=2)
        assert not hasattr(events, "__anext__")
        assert [e.sequence_number for e in events] == [2, 3, 4, 5, 6, 7]
        assert [e.sequence_number for e in store.get_events(session.id, last=2)] == [6, 7]


def test_sync_subscribe_is_a_plain_iterator_fed_by_other_threads() -> None:
    with sync.open_store("memory://") as store:
        session = store.save_session(Session(agent_id="a"))

        def writer() -> None:
            for _ in range(5):
                time.sleep(0.02)
                store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))

        thread = threading.Thread(target=writer)
        thread.start()
        seen = []
        for event in store.subscribe(session.id):
            seen.append(event.sequence_number)
            if len(seen) == 5:
                break
        thread.join()
        assert seen == [1, 2, 3, 4, 5]


async def test_sync_store_from_a_worker_thread_while_a_loop_runs() -> None:
    def work() -> list[int | None]:
        with sync.open_store("memory://") as store:
            session = store.save_session(Session(agent_id="a"))
            store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))
            return [e.sequence_number for e in store.get_events(session.id)]

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    result = await asyncio.wait_for(asyncio.to_thread(work), 10)
    task.cancel()
    assert result == [1]
    assert ticks > 0, "the running loop kept running while the worker thread used the facade"


def test_sync_store_in_a_fresh_interpreter_exits_cleanly() -> None:
    script = (
        "from agent_session_manager import sync, Session\n"
        "store = sync.open_store('memory://')\n"
        "print(store.save_session(Session(agent_id='x')).agent_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "x"


def test_sync_artifact_reader_is_a_plain_iterator(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 4096
    with sync.open_artifact_store(tmp_path.as_uri()) as artifacts:
        artifacts.put("reports/big.bin", blob, content_type="application/octet-stream")
        with artifacts.open_read("reports/big.bin") as reader:
            assert reader.info.size == len(blob)
            assert b"".join(reader) == blob
        assert artifacts.get("reports/big.bin") == blob


def test_portal_is_one_loop_for_every_thread() -> None:
    seen: list[sync.Portal] = []
    threads = [threading.Thread(target=lambda: seen.append(sync.portal())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(p) for p in seen}) == 1 and seen[0] is sync.portal()

    async def loop_of() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert sync.portal().call(loop_of) is sync.portal().loop


def test_portal_store_shared_by_many_threads_and_closed_without_stopping_the_portal() -> None:
    shared = sync.portal()
    store = shared.open_store("memory://")
    session = store.save_session(Session(agent_id="a"))

    def writer() -> None:
        for _ in range(10):
            store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.sequence_number for e in store.get_events(session.id)] == list(range(1, 41))
    assert store.portal is shared
    store.close()
    store.close()
    assert not shared.closed
    with shared.open_store("memory://") as other, pytest.raises(ASMError) as raised:
        other.get_session("missing")
    assert raised.value.code == "session_not_found"


async def test_portal_blocking_call_from_inside_a_running_loop_does_not_deadlock() -> None:
    store = sync.portal().open_store("memory://")
    try:
        # A sync framework API called from async code: the caller's loop thread blocks, the portal works.
        session = store.save_session(Session(agent_id="a"))
        assert (
            store.append_event(Event(type=EventType.MESSAGE_SENT, session_id=session.id)).sequence_number == 1
        )
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        # The non-blocking way in: this loop keeps running while the portal appends.
        appended = await asyncio.wait_for(
            sync.portal().acall(
                store.wrapped.append_event, Event(type=EventType.MESSAGE_SENT, session_id=session.id)
            ),
            10,
        )
        await asyncio.sleep(0.01)
        task.cancel()
        assert appended.sequence_number == 2 and ticks > 0
    finally:
        store.close()


def test_portal_refuses_a_blocking_call_from_its_own_loop_instead_of_deadlocking() -> None:
    shared = sync.portal()

    async def reenter() -> int:
        return shared.call(asyncio.sleep, 0, 1)

    async def inner() -> int:
        return await shared.acall(asyncio.sleep, 0, 7)

    with pytest.raises(ValidationError, match="inside its own event loop"):
        shared.call(reenter)
    assert shared.call(inner) == 7


async def test_portal_acall_cancelled_cancels_the_work_on_the_portal() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(sync.portal().acall(slow))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(cancelled.wait, 5)


def test_a_closed_portal_refuses_work() -> None:
    own = sync.Portal()
    own.close()
    own.close()
    with pytest.raises(ValidationError, match="closed"):
        own.call(asyncio.sleep, 0)


def test_sync_facade_covers_state_documents() -> None:
    with sync.open_store("memory://") as store:
        session = store.save_session(Session(agent_id="bot"))
        assert store.get_state("app:bot") is None
        assert store.put_state("app:bot", {"a": 1}).version == 1
        merged = store.merge_state("app:bot", {"a": None, "b": 2}, expected_version=1)
        assert (merged.value, merged.version) == ({"b": 2}, 2)
        store.append_events(
            [Event(type=EventType.MESSAGE_SENT, session_id=session.id)],
            state_updates={f"session:{session.id}": {"step": 1}},
        )
        assert [s.scope for s in store.list_states()] == ["app:bot", f"session:{session.id}"]
        with pytest.raises(ASMError) as raised:
            store.put_state("app:bot", {}, expected_version=1)
        assert raised.value.code == "conflict"
        assert store.delete_state("app:bot") is True


def test_a_forked_child_gets_a_portal_of_its_own() -> None:
    import multiprocessing

    parent = sync.portal()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_child_uses_the_portal, (id(parent),)) == "ok"
    assert sync.portal() is parent


def _child_uses_the_portal(parent_id: int) -> str:
    shared = sync.portal()
    if id(shared) == parent_id or shared is not sync.portal():
        return "the child reused the parent's portal"
    with shared.open_store("memory://") as store:
        return "ok" if store.save_session(Session(agent_id="child")).agent_id == "child" else "wrong"
