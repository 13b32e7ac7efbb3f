"""State documents: `merge_state` against the bare driver doing the same atomic merge, in the same run.

`python -m bench state` (full sizes; run it under `flock /tmp/asm-bench.lock`) or
`python -m bench --quick state`.

* PostgreSQL, one writer: `store.merge_state(scope, delta)` (validation, the upsert that merges with
  `jsonb` operators, the merged value parsed into a `State`) vs one bare
  `UPDATE asm_states SET value = value || $1, version = version + 1 ... RETURNING value, version` on its
  own connection, the delta serialised and the returned value parsed by orjson. Target: >= 0.8.
* PostgreSQL, 8 writers merging into one document (each its own keys): one store with a pool of 8 vs 8
  bare connections running the same `UPDATE`. Both serialise on the row lock; shown for information.
* SQLite, one writer: `merge_state` (read, merge, write in one `BEGIN IMMEDIATE` transaction) vs the
  bare sqlite3 module doing the same three statements. Shown for information.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

from agent_session_manager import open_store
from agent_session_manager.sessions.sql import migrations

from .common import Result, compare, header, pg_database, pg_drop

REPS = 3
SCOPE = "app:bench"
BARE_MERGE = (
    "UPDATE asm_states SET value = value || $1::jsonb, version = version + 1, updated_at = $2 "
    "WHERE scope = $3 RETURNING value, version"
)
SQLITE_READ = "SELECT value, version FROM asm_states WHERE scope = ?"
SQLITE_WRITE = "UPDATE asm_states SET value = ?, version = ?, updated_at = ? WHERE scope = ?"
Runner = Callable[[], Awaitable[None]]


def _delta(i: int) -> dict[str, object]:
    """A small delta, like a framework's state change: two keys out of a document of about 50."""
    return {f"key_{i % 50}": i, "turn": {"n": i, "by": "bench"}}


async def _compare(case: str, count: int, ours: Runner, bare: Runner, target: float | None) -> Result:
    """`common.compare` in merges/s."""
    return await compare(case, count, ours, bare, "merges/s", target, reps=REPS)


async def _postgres(count: int, writers: int) -> None:
    url = await pg_database()
    try:
        await migrations.upgrade_async(url)
        store = await open_store(url, pool_size=writers)
        bare = [await asyncpg.connect(url) for _ in range(writers)]
        try:
            await store.put_state(SCOPE, {f"key_{i}": i for i in range(50)})

            async def ours_one() -> None:
                for i in range(count):
                    await store.merge_state(SCOPE, _delta(i))

            async def bare_merge(connection: asyncpg.Connection, i: int) -> None:
                row = await connection.fetchrow(
                    BARE_MERGE, orjson.dumps(_delta(i)).decode(), datetime.now(UTC), SCOPE
                )
                orjson.loads(row[0])

            async def bare_one() -> None:
                for i in range(count):
                    await bare_merge(bare[0], i)

            await _compare("PostgreSQL merge_state, 1 writer", count, ours_one, bare_one, 0.8)

            async def ours_many() -> None:
                async def writer(w: int) -> None:
                    for i in range(w, count, writers):
                        await store.merge_state(SCOPE, _delta(i))

                await asyncio.gather(*(writer(w) for w in range(writers)))

            async def bare_many() -> None:
                async def writer(w: int) -> None:
                    for i in range(w, count, writers):
                        await bare_merge(bare[w], i)

                await asyncio.gather(*(writer(w) for w in range(writers)))

            await _compare(
                f"PostgreSQL merge_state, {writers} writers, one document", count, ours_many, bare_many, None
            )
        finally:
            for connection in bare:
                await connection.close()
            await store.close()
    finally:
        await pg_drop(url)


async def _sqlite(count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'asm.db'}"
        await migrations.upgrade_async(url)
        async with await open_store(url) as store:
            await store.put_state(SCOPE, {f"key_{i}": i for i in range(50)})
            bare = sqlite3.connect(Path(directory) / "asm.db", isolation_level=None)
            bare.execute("PRAGMA synchronous=NORMAL")  # the store's default durability
            try:

                async def ours() -> None:
                    for i in range(count):
                        await store.merge_state(SCOPE, _delta(i))

                async def plain() -> None:
                    for i in range(count):
                        bare.execute("BEGIN IMMEDIATE")
                        value, version = bare.execute(SQLITE_READ, (SCOPE,)).fetchone()
                        merged = orjson.loads(value) | _delta(i)
                        when = datetime.now(UTC).isoformat()
                        bare.execute(SQLITE_WRITE, (orjson.dumps(merged).decode(), version + 1, when, SCOPE))
                        bare.execute("COMMIT")

                await _compare("SQLite merge_state, 1 writer", count, ours, plain, None)
            finally:
                bare.close()


def main(quick: bool) -> None:
    header()
    count = 40 if quick else 3000
    asyncio.run(_sqlite(count))
    asyncio.run(_postgres(count, 8))
