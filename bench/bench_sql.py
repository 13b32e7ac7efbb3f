"""The SQL session store against the bare driver doing the same durable work, in the same run.

`python -m bench sql` (full sizes; run it as `flock /tmp/asm-bench.lock .venv/bin/python -m bench sql`,
it rewrites the "## SQL session store" section of bench/README.md) or `python -m bench --quick sql`.

Every case writes into the same tables (the store's schema with all its indexes) from a fresh session,
alternating ours and bare for each repetition, and reports the median rate of each and ours / bare:

* append one event, one writer: `store.append_event` vs one autocommit statement (PostgreSQL: the CTE
  that upserts the counter and inserts; SQLite: `BEGIN IMMEDIATE`, counter upsert, insert, `COMMIT`).
* batches of 100 and 10,000: `store.append_events` vs counter upsert + binary COPY (PostgreSQL) or
  counter upsert + `executemany` (SQLite), in one transaction.
* 16 writers on 16 sessions (PostgreSQL): one store with a pool of 16 vs 16 bare connections.
* our pool vs asyncpg's (PostgreSQL): the same store on its own pool and on `asyncpg.create_pool(...,
  reset=<no-op>)` (`open_store(url, pool=...)`), single appends and 16 writers; the baseline here is the
  store on asyncpg's pool, so a ratio above 1 means our pool is faster.
* reads: the latest 100 events of a session of 1k / 100k / 1M events, and one page of 50 sessions in
  the middle of 1k / 100k / 1M sessions, vs the same SELECT through the bare driver (rates in reads/s;
  "<= 2x the bare time" is a ratio >= 0.5).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from agent_session_manager import Event, EventType, Session, open_store
from agent_session_manager.core.pagination import encode_cursor
from agent_session_manager.sessions.filters import SessionListing
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.rows import EVENT_COLUMNS
from agent_session_manager.sessions.sql.store import SQLSessionStore

from .common import PAYLOAD, Result, header, pg_database, pg_drop, report

PAYLOAD_TEXT = orjson.dumps(PAYLOAD).decode()
README = Path(__file__).with_name("README.md")
SECTION = "## SQL session store"
REPS = 3

PG_APPEND = """
WITH c AS (
    INSERT INTO asm_session_sequences AS q (session_id, last_sequence) VALUES ($1, 1)
    ON CONFLICT (session_id) DO UPDATE SET last_sequence = q.last_sequence + 1 RETURNING last_sequence
)
INSERT INTO asm_events (id, type, "timestamp", session_id, sequence_number, data, metadata)
SELECT $2, 'message_sent', $3, $1, c.last_sequence, $4::jsonb, '{}'::jsonb FROM c
"""
RESERVE = (
    "INSERT INTO asm_session_sequences AS q (session_id, last_sequence) VALUES ({0}, {1}) "
    "ON CONFLICT (session_id) DO UPDATE SET last_sequence = q.last_sequence + excluded.last_sequence "
    "RETURNING last_sequence"
)
SQLITE_INSERT = (
    'INSERT INTO asm_events (id, type, "timestamp", session_id, sequence_number, data, metadata) '
    "VALUES (?, 'message_sent', ?, ?, ?, ?, '{}')"
)
LATEST = (
    'SELECT id, type, "timestamp", session_id, run_id, sequence_number, data, metadata, schema_version, '
    "provider, correlation_id FROM asm_events WHERE session_id = {0} AND sequence_number > {1} "
    "ORDER BY sequence_number LIMIT 100"
)
SESSION_PAGE = (
    "SELECT id, agent_id, status, parent_session_id, metadata, context, tags, created_at, updated_at, "
    "deleted_at FROM asm_sessions WHERE (created_at, id) > ({0}, {1}) ORDER BY created_at, id LIMIT 51"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _sqlite_time(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _ids(count: int) -> list[str]:
    """Event ids made before the timed region (ours get theirs when the `Event`s are built, untimed)."""
    return [f"evt_{uuid.uuid4().hex}" for _ in range(count)]


def _events(session_id: str, count: int) -> list[Event]:
    return [Event(type=EventType.MESSAGE_SENT, session_id=session_id, data=PAYLOAD) for _ in range(count)]


Runner = Callable[[], Awaitable[None]]


async def _compare(
    case: str,
    count: int,
    ours: Callable[[], Awaitable[Runner]],
    bare: Callable[[], Awaitable[Runner]],
    target: float | None,
    unit: str = "events/s",
) -> Result:
    """Median rates of `ours` and `bare` (each runner doing `count` operations), alternating repetitions.

    `ours` / `bare` prepare untimed (a fresh session; the `Event` objects, whose construction and
    validation is the caller's cost on any backend) and return the runner that is timed.
    """
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(REPS):
        for name, prepare in (("bare", bare), ("ours", ours)):
            work = await prepare()
            started = time.perf_counter()
            await work()
            rates[name].append(count / (time.perf_counter() - started))
    return report(
        Result(case, statistics.median(rates["ours"]), statistics.median(rates["bare"]), unit, target)
    )


# -- PostgreSQL ----------------------------------------------------------------------------------


async def _pg_cases(quick: bool) -> list[Result]:
    url = await pg_database()
    try:
        await migrations.upgrade_async(url)
        store = await open_store(url, pool_size=16)
        bare = await asyncpg.connect(url)
        try:
            return await _pg_run(quick, url, store, bare)
        finally:
            await bare.close()
            await store.close()
    finally:
        await pg_drop(url)


async def _fresh(store: Any) -> str:
    return str((await store.save_session(Session(agent_id="bench"))).id)


def _ours_batches(store: Any, size: int, batches: int) -> Callable[[], Awaitable[Runner]]:
    """Our side of a batch case: `batches` appends of `size` events to a fresh session."""

    async def prepare() -> Runner:
        session_id = await _fresh(store)
        work = [_events(session_id, size) for _ in range(batches)]

        async def run() -> None:
            for batch in work:
                await store.append_events(batch)

        return run

    return prepare


async def _pg_run(quick: bool, url: str, store: Any, bare: asyncpg.Connection) -> list[Result]:
    results = []
    n = 200 if quick else 3000

    async def ours_one() -> Runner:
        events = _events(await _fresh(store), n)

        async def run() -> None:
            for event in events:
                await store.append_event(event)

        return run

    async def bare_one() -> Runner:
        session_id = await _fresh(store)
        ids = _ids(n)

        async def run() -> None:
            for event_id in ids:
                await bare.execute(
                    PG_APPEND, session_id, event_id, datetime.now(UTC), orjson.dumps(PAYLOAD).decode()
                )

        return run

    results.append(await _compare("PG append 1 event, 1 writer", n, ours_one, bare_one, 0.85))

    for size, batches in ((100, 5 if quick else 40), (1000 if quick else 10_000, 1 if quick else 3)):
        ours_batch = _ours_batches(store, size, batches)

        async def bare_batch(size: int = size, batches: int = batches) -> Runner:
            session_id = await _fresh(store)
            work = [_ids(size) for _ in range(batches)]

            async def run() -> None:
                for ids in work:
                    async with bare.transaction():
                        last = await bare.fetchval(RESERVE.format("$1", "$2"), session_id, size)
                        now = datetime.now(UTC)
                        records = [
                            (
                                ids[i],
                                "message_sent",
                                now,
                                session_id,
                                None,
                                last - size + i + 1,
                                orjson.dumps(PAYLOAD).decode(),
                                "{}",
                                1,
                                None,
                                None,
                            )
                            for i in range(size)
                        ]
                        await bare.copy_records_to_table("asm_events", records=records, columns=EVENT_COLUMNS)

            return run

        results.append(
            await _compare(f"PG append batch of {size:,}", size * batches, ours_batch, bare_batch, 0.6)
        )

    writers = 16
    per_writer = 20 if quick else 250
    pool = await asyncpg.create_pool(url, min_size=writers, max_size=writers)

    async def ours_many() -> Runner:
        work = [_events(await _fresh(store), per_writer) for _ in range(writers)]

        async def one(events: list[Event]) -> None:
            for event in events:
                await store.append_event(event)

        async def run() -> None:
            await asyncio.gather(*(one(events) for events in work))

        return run

    async def bare_many() -> Runner:
        sessions = [await _fresh(store) for _ in range(writers)]

        async def one(session_id: str) -> None:
            ids = _ids(per_writer)
            async with pool.acquire() as connection:
                for event_id in ids:
                    await connection.execute(
                        PG_APPEND,
                        session_id,
                        event_id,
                        datetime.now(UTC),
                        orjson.dumps(PAYLOAD).decode(),
                    )

        async def run() -> None:
            await asyncio.gather(*(one(s) for s in sessions))

        return run

    results.append(
        await _compare(
            f"PG {writers} writers, {writers} sessions", writers * per_writer, ours_many, bare_many, 0.8
        )
    )
    await pool.close()
    results += await _pool_cases(quick, url, store, n, writers, per_writer)
    results += await _reads(
        "PG",
        quick,
        store,
        lambda sql, *args: bare.fetch(sql.format("$1", "$2"), *args),
        lambda session_id, start, count: _pg_fill_events(bare, session_id, start, count),
        lambda start, count: _pg_fill_sessions(bare, start, count),
        lambda value: value,
    )
    return results


async def _no_reset(connection: asyncpg.Connection) -> None:
    """asyncpg's `reset=` tuned for the store: it changes no session state, so nothing is reset."""


async def _pool_cases(
    quick: bool, url: str, store: Any, n: int, writers: int, per_writer: int
) -> list[Result]:
    """Our pool (`postgres._Pool`) against asyncpg's pool with `reset=` tuned, both under the same store
    (`open_store(url, pool=...)`): whether our own pool still earns its place."""
    shared = await asyncpg.create_pool(url, min_size=writers, max_size=writers, reset=_no_reset)
    pooled = await open_store(url, pool=shared)

    def single(target: Any) -> Callable[[], Awaitable[Runner]]:
        async def prepare() -> Runner:
            events = _events(await _fresh(target), n)

            async def run() -> None:
                for event in events:
                    await target.append_event(event)

            return run

        return prepare

    def many(target: Any) -> Callable[[], Awaitable[Runner]]:
        async def prepare() -> Runner:
            work = [_events(await _fresh(target), per_writer) for _ in range(writers)]

            async def one(events: list[Event]) -> None:
                for event in events:
                    await target.append_event(event)

            async def run() -> None:
                await asyncio.gather(*(one(events) for events in work))

            return run

        return prepare

    try:
        return [
            await _compare("PG append 1 event: our pool / asyncpg's", n, single(store), single(pooled), None),
            await _compare(
                f"PG {writers} writers: our pool / asyncpg's",
                writers * per_writer,
                many(store),
                many(pooled),
                None,
            ),
        ]
    finally:
        await pooled.close()
        await shared.close()


async def _pg_fill_events(bare: asyncpg.Connection, session_id: str, start: int, count: int) -> None:
    step = 50_000
    for offset in range(0, count, step):
        size = min(step, count - offset)
        records = [
            (
                f"evt_{session_id}_{start + offset + i}",
                "message_sent",
                T0,
                session_id,
                None,
                start + offset + i + 1,
                PAYLOAD_TEXT,
                "{}",
                1,
                None,
                None,
            )
            for i in range(size)
        ]
        await bare.copy_records_to_table("asm_events", records=records, columns=EVENT_COLUMNS)
    await bare.execute(
        "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES ($1, $2) "
        "ON CONFLICT (session_id) DO UPDATE SET last_sequence = excluded.last_sequence",
        session_id,
        start + count,
    )
    await bare.execute("ANALYZE asm_events")  # fresh statistics (and plans) after a bulk load


async def _pg_fill_sessions(bare: asyncpg.Connection, start: int, count: int) -> None:
    step = 50_000
    for offset in range(0, count, step):
        size = min(step, count - offset)
        records = [
            (
                f"ses_bench_{start + offset + i:08d}",
                "pager",
                "pending",
                None,
                "{}",
                "{}",
                [],
                T0 + timedelta(milliseconds=start + offset + i),
                T0,
                None,
            )
            for i in range(size)
        ]
        await bare.copy_records_to_table(
            "asm_sessions",
            records=records,
            columns=(
                "id",
                "agent_id",
                "status",
                "parent_session_id",
                "metadata",
                "context",
                "tags",
                "created_at",
                "updated_at",
                "deleted_at",
            ),
        )
    await bare.execute("ANALYZE asm_sessions")


# -- reads (both engines) ------------------------------------------------------------------------


async def _reads(
    engine: str,
    quick: bool,
    store: Any,
    bare_fetch: Callable[..., Awaitable[Any]],
    fill_events: Callable[[str, int, int], Awaitable[None]],
    fill_sessions: Callable[[int, int], Awaitable[None]],
    time_param: Callable[[datetime], Any],
) -> list[Result]:
    results = []
    sizes = (100, 1000) if quick else (1_000, 100_000, 1_000_000)
    reads = 50 if quick else 500
    session_id = await _fresh(store)
    filled = 0
    for size in sizes:
        await fill_events(session_id, filled, size - filled)
        filled = size

        async def ours_latest(size: int = size) -> Runner:
            async def run() -> None:
                for _ in range(reads):
                    await store.get_events(session_id, after=size - 100, limit=100)

            return run

        async def bare_latest(size: int = size) -> Runner:
            async def run() -> None:
                for _ in range(reads):
                    await bare_fetch(LATEST, session_id, size - 100)

            return run

        results.append(
            await _compare(
                f"{engine} latest 100 events of {size:,}", reads, ours_latest, bare_latest, 0.5, "reads/s"
            )
        )
    filled = 0
    for size in sizes:
        await fill_sessions(filled, size - filled)
        filled = size
        middle = size // 2
        cursor = encode_cursor(
            SessionListing.build().scope,
            [(T0 + timedelta(milliseconds=middle)).isoformat(), f"ses_bench_{middle:08d}"],
        )
        position = time_param(T0 + timedelta(milliseconds=middle))

        async def ours_page(cursor: str = cursor) -> Runner:
            async def run() -> None:
                for _ in range(reads):
                    page = await store.list_sessions(limit=50, cursor=cursor)
                    assert len(page.items) == 50

            return run

        async def bare_page(position: Any = position, middle: int = middle) -> Runner:
            async def run() -> None:
                for _ in range(reads):
                    await bare_fetch(SESSION_PAGE, position, f"ses_bench_{middle:08d}")

            return run

        results.append(
            await _compare(
                f"{engine} page of 50 among {size:,} sessions", reads, ours_page, bare_page, 0.5, "reads/s"
            )
        )
    return results


# -- SQLite --------------------------------------------------------------------------------------


async def _sqlite_cases(quick: bool) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="asm-bench-") as directory:
        url = f"sqlite:///{directory}/asm.db"
        store = await open_store(url, migrate=True)
        threaded = await open_store(url, inline=False)
        assert isinstance(store, SQLSessionStore)
        bare = sqlite3.connect(f"{directory}/asm.db", isolation_level=None, timeout=30)
        bare.execute("PRAGMA synchronous=NORMAL")
        try:
            return await _sqlite_run(quick, store, threaded, bare)
        finally:
            bare.close()
            await threaded.close()
            await store.close()


async def _sqlite_run(quick: bool, store: Any, threaded: Any, bare: sqlite3.Connection) -> list[Result]:
    results = []
    n = 500 if quick else 10_000
    reserve = RESERVE.format("?", "?")

    async def ours_one() -> Runner:
        events = _events(await _fresh(store), n)

        async def run() -> None:
            for event in events:
                await store.append_event(event)

        return run

    async def bare_one() -> Runner:
        session_id = await _fresh(store)
        ids = _ids(n)

        async def run() -> None:
            for event_id in ids:
                bare.execute("BEGIN IMMEDIATE")
                seq = bare.execute(reserve, (session_id, 1)).fetchone()[0]
                bare.execute(
                    SQLITE_INSERT,
                    (
                        event_id,
                        _sqlite_time(datetime.now(UTC)),
                        session_id,
                        seq,
                        orjson.dumps(PAYLOAD).decode(),
                    ),
                )
                bare.execute("COMMIT")

        return run

    results.append(await _compare("SQLite append 1 event, 1 writer", n, ours_one, bare_one, 0.6))

    async def threaded_one() -> Runner:
        events = _events(await _fresh(threaded), n)

        async def run() -> None:
            for event in events:
                await threaded.append_event(event)

        return run

    # The same through the writer thread only (`?inline=0`): what the thread hop costs.
    results.append(await _compare("SQLite append 1 event, threads only", n, threaded_one, bare_one, None))

    for size, batches in ((100, 5 if quick else 100), (1000 if quick else 10_000, 1 if quick else 3)):
        ours_batch = _ours_batches(store, size, batches)

        async def bare_batch(size: int = size, batches: int = batches) -> Runner:
            session_id = await _fresh(store)
            work = [_ids(size) for _ in range(batches)]

            async def run() -> None:
                for ids in work:
                    bare.execute("BEGIN IMMEDIATE")
                    last = bare.execute(reserve, (session_id, size)).fetchone()[0]
                    now = _sqlite_time(datetime.now(UTC))
                    bare.executemany(
                        SQLITE_INSERT,
                        [
                            (
                                ids[i],
                                now,
                                session_id,
                                last - size + i + 1,
                                orjson.dumps(PAYLOAD).decode(),
                            )
                            for i in range(size)
                        ],
                    )
                    bare.execute("COMMIT")

            return run

        results.append(
            await _compare(f"SQLite append batch of {size:,}", size * batches, ours_batch, bare_batch, 0.6)
        )

    async def fetch(sql: str, *args: Any) -> Any:
        return bare.execute(sql.format("?", "?"), args).fetchall()

    async def fill_events(session_id: str, start: int, count: int) -> None:
        rows = (
            (f"evt_{session_id}_{start + i}", _sqlite_time(T0), session_id, start + i + 1, PAYLOAD_TEXT)
            for i in range(count)
        )
        bare.execute("BEGIN IMMEDIATE")
        bare.executemany(SQLITE_INSERT, rows)
        bare.execute(
            "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES (?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET last_sequence = excluded.last_sequence",
            (session_id, start + count),
        )
        bare.execute("COMMIT")

    async def fill_sessions(start: int, count: int) -> None:
        rows = (
            (
                f"ses_bench_{start + i:08d}",
                _sqlite_time(T0 + timedelta(milliseconds=start + i)),
                _sqlite_time(T0),
            )
            for i in range(count)
        )
        bare.execute("BEGIN IMMEDIATE")
        bare.executemany(
            "INSERT INTO asm_sessions (id, agent_id, status, metadata, context, tags, created_at, "
            "updated_at) VALUES (?, 'pager', 'pending', '{}', '{}', '[]', ?, ?)",
            rows,
        )
        bare.execute("COMMIT")

    results += await _reads("SQLite", quick, store, fetch, fill_events, fill_sessions, _sqlite_time)
    return results


# -- report --------------------------------------------------------------------------------------


def _write_readme(lines: list[str], elapsed: float) -> None:
    """Replace (or add) the "## SQL session store" section of bench/README.md with this run's table."""
    body = "\n".join(
        [
            SECTION,
            "",
            "Produced by `flock /tmp/asm-bench.lock .venv/bin/python -m bench sql` "
            f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s, {os.cpu_count()} CPUs shared with "
            "other work). Rates are medians of 3 alternating repetitions; ratio = ours / bare driver doing "
            "the same durable work in the same run (see `bench/bench_sql.py` for each case).",
            "",
            "| case | ours | baseline | unit | ratio | target |",
            "|---|---:|---:|---|---:|---|",
            *lines,
            "",
            "<!-- sql-notes -->",
            "",
            "",
        ]
    )
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    notes = ""
    match = re.search(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match:
        old = match.group(0)
        if "<!-- sql-notes -->" in old:
            notes = old.split("<!-- sql-notes -->", 1)[1].strip("\n")
        text = text[: match.start()] + body + (notes + "\n\n" if notes else "") + text[match.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + body
    README.write_text(text.rstrip("\n") + "\n")


def main(quick: bool) -> None:
    started = time.perf_counter()
    header()
    results = asyncio.run(_sqlite_cases(quick)) + asyncio.run(_pg_cases(quick))
    if quick:
        return
    lines = []
    for result in results:
        verdict = "" if result.target is None else ("ok" if result.ratio >= result.target else "**below**")
        target = "" if result.target is None else f">= {result.target:.2f} {verdict}"
        lines.append(
            f"| {result.case} | {result.ours:,.0f} | {result.baseline:,.0f} | {result.unit} "
            f"| {result.ratio:.2f} | {target} |"
        )
    _write_readme(lines, time.perf_counter() - started)
