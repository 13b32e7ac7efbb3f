"""Event-log primitives against the bare driver, in the same run: newest-N reads, expected-sequence
appends and streaming reads.

`python -m bench events` (full sizes; run it under `flock /tmp/asm-bench.lock`) or
`python -m bench --quick events`. On SQLite and on PostgreSQL:

* newest 100 of a session of 1k / 100k / 1M events (quick: 1k / 10k): `store.get_events(s, last=100)`
  vs the bare driver's `... WHERE session_id = $1 ORDER BY sequence_number DESC LIMIT 100` with the rows'
  JSON columns (`data`, `metadata`) parsed by orjson: the same work minus our model objects. Target: our
  time <= 1.3x the bare time (a rate ratio >= 0.77) at every size (flat from 1k to 1M).
* appends with `expected_sequence` (each expecting the number of the previous one) vs plain
  `append_event` on the same store, one writer. Target: >= 0.9.
* `iter_events` over the whole session (1M events; quick: 20k), in a fresh process: the growth of its
  resident memory while it runs, vs the bare driver streaming the same rows in pages of 1,000 (sqlite3
  `fetchmany`, an asyncpg cursor) with orjson parsing. Target: < 64 MiB.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from agent_session_manager import Event, EventType, Session, open_store
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.rows import EVENT_COLUMNS

from .common import PAYLOAD, Result, compare, header, pg_database, pg_drop

REPS = 3
PAYLOAD_TEXT = orjson.dumps(PAYLOAD).decode()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = ", ".join(f'"{name}"' for name in EVENT_COLUMNS)
NEWEST = f"SELECT {COLUMNS} FROM asm_events WHERE session_id = {{0}} ORDER BY sequence_number DESC LIMIT 100"
ALL = f"SELECT {COLUMNS} FROM asm_events WHERE session_id = {{0}} ORDER BY sequence_number"
#: The resident-memory budget of `iter_events` over a whole session.
RSS_BUDGET_MIB = 64
Runner = Callable[[], Awaitable[None]]


def _parsed(rows: Any) -> None:
    """What the bare baseline does with each row besides fetching it: parse its two JSON columns."""
    for row in rows:
        orjson.loads(row[6])
        orjson.loads(row[7])


async def _compare(case: str, count: int, ours: Runner, bare: Runner, target: float, unit: str) -> Result:
    """`common.compare` after one untimed round of each."""
    return await compare(case, count, ours, bare, unit, target, reps=REPS, warm=True)


def _rows(session_id: str, start: int, count: int, when: Any) -> Iterator[tuple[Any, ...]]:
    for n in range(start, start + count):
        yield (
            f"evt_{session_id}_{n}",
            "message_sent",
            when,
            session_id,
            None,
            n + 1,
            PAYLOAD_TEXT,
            "{}",
            1,
            None,
            None,
        )


class Engine:
    """One database under test: the store, a bare connection, and how to fill and read it bare."""

    name: str
    url: str
    store: SessionStore

    async def fill(self, session_id: str, start: int, count: int) -> None:
        raise NotImplementedError

    async def newest(self, session_id: str) -> None:
        raise NotImplementedError


class SQLite(Engine):
    name = "SQLite"

    def __init__(self, store: SessionStore, path: str) -> None:
        import sqlite3

        self.url = f"sqlite:///{path}"
        self.store = store
        self.bare = sqlite3.connect(path, isolation_level=None)
        self.bare.execute("PRAGMA synchronous=NORMAL")
        self.newest_sql = NEWEST.format("?")
        self.all_sql = ALL.format("?")

    async def fill(self, session_id: str, start: int, count: int) -> None:
        when = T0.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        self.bare.execute("BEGIN IMMEDIATE")
        self.bare.executemany(
            f"INSERT INTO asm_events ({COLUMNS}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",
            _rows(session_id, start, count, when),
        )
        self.bare.execute(
            "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES (?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET last_sequence = excluded.last_sequence",
            (session_id, start + count),
        )
        self.bare.execute("COMMIT")

    async def newest(self, session_id: str) -> None:
        rows = self.bare.execute(self.newest_sql, (session_id,)).fetchall()
        rows.reverse()
        _parsed(rows)

    def close(self) -> None:
        self.bare.close()


class Postgres(Engine):
    name = "PostgreSQL"

    def __init__(self, store: SessionStore, bare: asyncpg.Connection, url: str) -> None:
        self.url = url
        self.store = store
        self.bare = bare
        self.newest_sql = NEWEST.format("$1")
        self.all_sql = ALL.format("$1")

    async def fill(self, session_id: str, start: int, count: int) -> None:
        step = 50_000
        for offset in range(0, count, step):
            records = list(_rows(session_id, start + offset, min(step, count - offset), T0))
            await self.bare.copy_records_to_table("asm_events", records=records, columns=EVENT_COLUMNS)
        await self.bare.execute(
            "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES ($1, $2) "
            "ON CONFLICT (session_id) DO UPDATE SET last_sequence = excluded.last_sequence",
            session_id,
            start + count,
        )
        await self.bare.execute("ANALYZE asm_events")

    async def newest(self, session_id: str) -> None:
        rows = await self.bare.fetch(self.newest_sql, session_id)
        rows.reverse()
        _parsed(rows)


async def _fresh(store: SessionStore) -> str:
    return (await store.save_session(Session(agent_id="bench"))).id


async def _newest(engine: Engine, sizes: tuple[int, ...], reads: int) -> str:
    """The newest-100 cases, growing one session through `sizes`; returns the session's id."""
    session_id = await _fresh(engine.store)
    filled = 0
    for size in sizes:
        await engine.fill(session_id, filled, size - filled)
        filled = size
        newest = await engine.store.get_events(session_id, last=100)
        assert [e.sequence_number for e in newest] == list(range(size - 99, size + 1))

        async def ours() -> None:
            for _ in range(reads):
                await engine.store.get_events(session_id, last=100)

        async def bare() -> None:
            for _ in range(reads):
                await engine.newest(session_id)

        await _compare(f"{engine.name} newest 100 of {size:,}", reads, ours, bare, 1 / 1.3, "reads/s")
    return session_id


async def _expected_appends(engine: Engine, count: int) -> None:
    async def ours() -> None:
        session_id = await _fresh(engine.store)
        events = [
            Event(type=EventType.MESSAGE_SENT, session_id=session_id, data=PAYLOAD) for _ in range(count)
        ]
        for expected, event in enumerate(events):
            await engine.store.append_event(event, expected_sequence=expected)

    async def plain() -> None:
        session_id = await _fresh(engine.store)
        events = [
            Event(type=EventType.MESSAGE_SENT, session_id=session_id, data=PAYLOAD) for _ in range(count)
        ]
        for event in events:
            await engine.store.append_event(event)

    await _compare(
        f"{engine.name} append with expected_sequence (vs plain append)", count, ours, plain, 0.9, "events/s"
    )


#: Streams a whole session in a fresh process and prints the peak growth of its resident memory:
#: `python -c STREAMER url session_id ours|bare`. A fresh process, so that memory freed earlier in the
#: benchmark cannot hide the growth.
STREAMER = """
import asyncio, gc, sys, orjson, psutil
from agent_session_manager import open_store

def rss():
    return psutil.Process().memory_info().rss / 2**20

async def main(url, session_id, mode):
    count = 0
    peak = 0.0
    sql = "SELECT id, data, metadata FROM asm_events WHERE session_id = {} ORDER BY sequence_number"
    if mode == "ours":
        store = await open_store(url)
        gc.collect()
        start = peak = rss()
        async for _ in store.iter_events(session_id, batch_size=1000):
            count += 1
            if count % 1000 == 0:
                peak = max(peak, rss())
        await store.close()
    elif url.startswith("sqlite"):
        import sqlite3
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        gc.collect()
        start = peak = rss()
        cursor = connection.execute(sql.format("?"), (session_id,))
        while rows := cursor.fetchmany(1000):
            for row in rows:
                orjson.loads(row[1]), orjson.loads(row[2])
            count += len(rows)
            peak = max(peak, rss())
    else:
        import asyncpg
        connection = await asyncpg.connect(url)
        gc.collect()
        start = peak = rss()
        async with connection.transaction():
            cursor = await connection.cursor(sql.format("$1"), session_id)
            while rows := await cursor.fetch(1000):
                for row in rows:
                    orjson.loads(row[1]), orjson.loads(row[2])
                count += len(rows)
                peak = max(peak, rss())
    print(orjson.dumps({"count": count, "growth": peak - start}).decode())

asyncio.run(main(*sys.argv[1:4]))
"""


async def _streaming(url: str, name: str, session_id: str, size: int) -> None:
    """Peak resident-memory growth of `iter_events` and of the bare stream over the whole session."""
    growth: dict[str, float] = {}
    for mode in ("bare", "ours"):
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", STREAMER, url, session_id, mode, stdout=subprocess.PIPE
        )
        out, _ = await child.communicate()
        result = orjson.loads(out)
        assert result["count"] == size, (mode, result)
        growth[mode] = result["growth"]
    verdict = "ok" if growth["ours"] < RSS_BUDGET_MIB else f"ABOVE budget {RSS_BUDGET_MIB} MiB"
    ratio = growth["ours"] / max(growth["bare"], 1)
    print(
        f"| {name} iter_events over {size:,} events: RSS growth (fresh process) | {growth['ours']:.1f} "
        f"| {growth['bare']:.1f} | MiB (bare: pages of 1,000) | {ratio:.2f} | {verdict}",
        flush=True,
    )


async def _run(engine: Engine, quick: bool) -> None:
    sizes = (1_000, 10_000) if quick else (1_000, 100_000, 1_000_000)
    session_id = await _newest(engine, sizes, 50 if quick else 1000)
    await _expected_appends(engine, 200 if quick else 5000)
    big = session_id
    if quick:
        big = await _fresh(engine.store)
        await engine.fill(big, 0, 20_000)
    await _streaming(engine.url, engine.name, big, 20_000 if quick else sizes[-1])


async def _sqlite(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="asm-bench-") as directory:
        url = f"sqlite:///{directory}/asm.db"
        async with await open_store(url, migrate=True) as store:
            engine = SQLite(store, f"{directory}/asm.db")
            try:
                await _run(engine, quick)
            finally:
                engine.close()


async def _postgres(quick: bool) -> None:
    url = await pg_database()
    try:
        await migrations.upgrade_async(url)
        async with await open_store(url) as store:
            bare = await asyncpg.connect(url)
            try:
                await _run(Postgres(store, bare, url), quick)
            finally:
                await bare.close()
    finally:
        await pg_drop(url)


def main(quick: bool) -> None:
    header()
    asyncio.run(_sqlite(quick))
    asyncio.run(_postgres(quick))
