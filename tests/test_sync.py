"""The sync facade works from a plain script and from a worker thread while another loop runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

from agent_session_manager import Event, EventType, Session, sync


def test_sync_store_from_plain_code() -> None:
    with sync.open_store("memory://") as store:
        session = store.save_session(Session(agent_id="a"))
        stored = store.append_events(
            [Event(type=EventType.MESSAGE_SENT, session_id=session.id) for _ in range(3)]
        )
        assert [e.sequence_number for e in stored] == [1, 2, 3]
        assert store.get_latest_sequence(session.id) == 3
        assert [e.sequence_number for e in store.get_events(session.id, after=1)] == [2, 3]


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
