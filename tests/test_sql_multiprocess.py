"""Several OS processes appending to one session, on a SQLite file and on PostgreSQL: exactly 1..N with no
gap and no duplicate, also in batches, and a writer killed with SIGKILL mid-batch leaves neither a partial
batch nor a gap. Plus cross-process wake-ups of long-polls."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from agent_session_manager import Event, EventType, Session, open_store
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.schema import TABLE_NAMES

pytestmark = pytest.mark.slow

#: A writer process: `python -c WRITER url session_id count batch_size`. Prints one line per
#: acknowledged append or batch: the event ids and their sequence numbers.
WRITER = """
import asyncio, os, sys
from agent_session_manager import Event, EventType, open_store

async def main(url, session_id, count, size):
    async with await open_store(url) as store:
        done = 0
        while count == 0 or done < count:
            tag = {"batch": f"{os.getpid()}-{done}"}
            batch = [Event(type=EventType.MESSAGE_SENT, session_id=session_id, data=tag) for _ in range(size)]
            stored = await (store.append_events(batch) if size > 1 else store.append_event(batch[0]))
            stored = stored if isinstance(stored, list) else [stored]
            print(" ".join(f"{e.id}:{e.sequence_number}" for e in stored), flush=True)
            done += size

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


async def _truncate(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a new SQLite file, or the PostgreSQL test database truncated."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/asm.db"
        migrations.upgrade(url)
        return url
    pg_url: str = request.getfixturevalue("postgres_url")
    migrations.upgrade(pg_url)
    asyncio.run(_truncate(pg_url))
    return pg_url


def _writer(url: str, session_id: str, count: int, size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, session_id, str(count), str(size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _acks(output: str) -> dict[str, int]:
    return {
        event_id: int(seq)
        for line in output.splitlines()
        for event_id, seq in (item.split(":") for item in line.split())
    }


async def _stored(url: str, session_id: str) -> dict[str, int]:
    async with await open_store(url) as store:
        return {e.id: e.sequence_number or 0 for e in await store.get_events(session_id)}


async def _new_session(url: str) -> str:
    async with await open_store(url) as store:
        return (await store.save_session(Session(agent_id="multi"))).id


@pytest.mark.parametrize("size", [1, 25])
async def test_four_processes_append_gapless(database: str, size: int) -> None:
    session_id = await _new_session(database)
    per_process = 500
    writers = [_writer(database, session_id, per_process, size) for _ in range(4)]
    acked: dict[str, int] = {}
    for proc in writers:
        out, err = await asyncio.to_thread(proc.communicate, timeout=240)
        assert proc.returncode == 0, err
        acked.update(_acks(out))
    stored = await _stored(database, session_id)
    assert sorted(stored.values()) == list(range(1, 4 * per_process + 1))
    assert stored == acked
    async with await open_store(database) as store:
        assert await store.get_latest_sequence(session_id) == 4 * per_process


async def test_sigkill_mid_batch_leaves_no_partial_batch_and_no_gap(database: str) -> None:
    session_id = await _new_session(database)
    size = 2000
    victim = _writer(database, session_id, 0, size)
    other = _writer(database, session_id, 10 * size, size)
    assert victim.stdout is not None
    acked: dict[str, int] = {}
    for _ in range(3):
        line = await asyncio.to_thread(victim.stdout.readline)
        acked.update(_acks(line))
    await asyncio.sleep(0.01 * (os.getpid() % 5))
    victim.send_signal(signal.SIGKILL)
    rest, _ = await asyncio.to_thread(victim.communicate, timeout=60)
    acked.update(_acks(rest))
    out, err = await asyncio.to_thread(other.communicate, timeout=240)
    assert other.returncode == 0, err
    acked.update(_acks(out))
    stored = await _stored(database, session_id)
    numbers = sorted(stored.values())
    assert numbers == list(range(1, len(numbers) + 1)), "a gap or a duplicate"
    assert len(numbers) % size == 0, "a partial batch survived"
    assert all(stored.get(event_id) == seq for event_id, seq in acked.items()), (
        "an acknowledged event is lost"
    )
    async with await open_store(database) as store:
        assert await store.get_latest_sequence(session_id) == len(numbers)
        blocks: dict[int, set[str]] = {}
        for event in await store.get_events(session_id):
            blocks.setdefault(((event.sequence_number or 0) - 1) // size, set()).add(event.data["batch"])
        assert all(len(origins) == 1 for origins in blocks.values()), "a batch is not contiguous"


async def test_long_poll_sees_an_append_from_another_process(database: str) -> None:
    session_id = await _new_session(database)
    async with await open_store(
        database, poll_interval=0.05 if database.startswith("sqlite") else 60
    ) as store:
        waiter = asyncio.create_task(store.get_events(session_id, wait=30))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        writer = _writer(database, session_id, 1, 1)
        got = await asyncio.wait_for(waiter, 40)
        await asyncio.to_thread(writer.communicate, timeout=60)
        assert [e.sequence_number for e in got] == [1]
        assert time.monotonic() - started < 30
        assert got[0].type is EventType.MESSAGE_SENT
        assert isinstance(got[0], Event)
