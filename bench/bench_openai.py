"""`ASMSession` (the OpenAI Agents SDK's `Session` on our stores) against the SDK's own sessions.

Measured in the same run, on this machine, with the SDK's sessions as baselines:
* `add_items` of a 4-item turn (user message, function call, its output, assistant message), one call
  per turn: ours on SQLite against `SQLiteSession` on its own file, both at `synchronous=NORMAL` in WAL
  mode (`SQLiteSession` leaves SQLite's default, FULL; the baseline subclass sets NORMAL on each of its
  connections so both make the same durability promise), and ours on PostgreSQL against the SDK's
  `SQLAlchemySession` on PostgreSQL (asyncpg, same server). Ratio: our turns/s / theirs.
* `get_items(limit=100)` on a 10,000-item session: ours on SQLite against `SQLiteSession`; ratio of
  reads/s (ours / theirs; 1/1.2 = 0.83 means ours takes 1.2x their time).
* `pop_item` on a 10,000-item session against ours on a 100-item session (O(1): ratio near 1), with
  `SQLiteSession`'s pop on 10,000 items beside it for scale.

Ours and the baseline take turns, round by round, and each side's figure is its median round, so both see
the same load on a shared machine. `--quick` uses 1,000 items and one round, and checks no target.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agents import SQLiteSession
from agents.extensions.memory import SQLAlchemySession

from agent_session_manager import open_store
from agent_session_manager.integrations.openai_agents import ASMSession
from agent_session_manager.sessions.base import SessionStore

from .common import Result, header, pg_database, pg_drop, report

TURN: list[Any] = [
    {"role": "user", "content": "What is the weather in Paris today, and should I take an umbrella?"},
    {
        "type": "function_call",
        "call_id": "call_0123456789",
        "name": "get_weather",
        "arguments": '{"city": "Paris", "unit": "celsius"}',
    },
    {
        "type": "function_call_output",
        "call_id": "call_0123456789",
        "output": "light rain, 14 C, wind 20 km/h",
    },
    {
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "id": "msg_0123456789",
        "content": [
            {
                "type": "output_text",
                "text": "Light rain and 14 C in Paris: take an umbrella.",
                "annotations": [],
            }
        ],
    },
]


class NormalSQLiteSession(SQLiteSession):
    """The SDK's `SQLiteSession` with `synchronous=NORMAL` on every connection (our SQLite default)."""

    @staticmethod
    def _configure_connection(conn: sqlite3.Connection) -> None:
        SQLiteSession._configure_connection(conn)
        conn.execute("PRAGMA synchronous=NORMAL")


async def per_second(count: int, work: Callable[[], Awaitable[object]], reps: int) -> float:
    """Median over `reps` rounds of `count` awaited calls of `work`, in calls per second."""
    rates = []
    for _ in range(reps):
        started = time.perf_counter()
        for _ in range(count):
            await work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


async def side_by_side(
    count: int, ours: Callable[[], Awaitable[object]], theirs: Callable[[], Awaitable[object]], reps: int
) -> tuple[float, float]:
    """Rates of `ours` and `theirs` in alternating rounds (so both see the same machine load), medians."""
    mine, baseline = [], []
    for _ in range(reps):
        mine.append(await per_second(count, ours, 1))
        baseline.append(await per_second(count, theirs, 1))
    return statistics.median(mine), statistics.median(baseline)


async def fill(session: Any, items: int) -> None:
    for _ in range(items // 100):
        await session.add_items(TURN * 25)


async def add_turns(label: str, ours: Any, theirs: Any, turns: int, reps: int, target: float | None) -> None:
    await ours.add_items(TURN)
    await theirs.add_items(TURN)
    mine, baseline = await side_by_side(
        turns, lambda: ours.add_items(TURN), lambda: theirs.add_items(TURN), reps
    )
    report(Result(f"add_items, 4-item turn: {label}", mine, baseline, "turns/s", target))


async def sqlite_cases(tmp: Path, items: int, turns: int, reps: int, quick: bool) -> None:
    async with await open_store(f"sqlite:///{tmp / 'asm.db'}", migrate=True) as store:
        sdk_path = tmp / "sdk.db"
        ours = ASMSession(f"bench-{uuid.uuid4().hex}", store)
        theirs = NormalSQLiteSession(f"bench-{uuid.uuid4().hex}", sdk_path)
        try:
            target = None if quick else 1.5
            await add_turns("ours on SQLite vs SQLiteSession (NORMAL)", ours, theirs, turns, reps, target)
            await read_and_pop(store, theirs, sdk_path, items, reps, quick)
        finally:
            theirs.close()


async def read_and_pop(
    store: SessionStore, theirs: SQLiteSession, sdk_path: Path, items: int, reps: int, quick: bool
) -> None:
    ours = ASMSession(f"bench-{uuid.uuid4().hex}", store)
    baseline_session = NormalSQLiteSession(f"bench-{uuid.uuid4().hex}", sdk_path)
    try:
        await fill(ours, items)
        await fill(baseline_session, items)
        assert await ours.get_items(limit=100) == await baseline_session.get_items(limit=100)
        mine, baseline = await side_by_side(
            100, lambda: ours.get_items(limit=100), lambda: baseline_session.get_items(limit=100), reps * 2
        )
        report(
            Result(
                f"get_items(limit=100) of {items:,} items: ours vs SQLiteSession",
                mine,
                baseline,
                "reads/s",
                None if quick else 1 / 1.2,
            )
        )
        small = ASMSession(f"bench-{uuid.uuid4().hex}", store)
        await fill(small, 100)
        await fill(ours, 100)
        big_rate, small_rate, theirs_rate = await pop_rates(ours, small, baseline_session, reps)
        report(
            Result(
                f"pop_item on {items:,} items vs on 100 items (ours, O(1))",
                big_rate,
                small_rate,
                "pops/s",
                None if quick else 0.7,
            )
        )
        report(Result(f"pop_item on {items:,} items: ours vs SQLiteSession", big_rate, theirs_rate, "pops/s"))
    finally:
        baseline_session.close()


async def pop_rates(big: ASMSession, small: ASMSession, theirs: SQLiteSession, reps: int) -> list[float]:
    """Pops per second on the big and the small session and on the SDK's, in interleaved rounds of 10
    pops (each session loses 10 items a round; the small one keeps at least 70 of its 100)."""
    rounds: list[list[float]] = [[], [], []]
    for _ in range(max(reps, 3)):
        for rates, session in zip(rounds, (big, small, theirs), strict=True):
            rates.append(await per_second(10, session.pop_item, 1))
    return [statistics.median(rates) for rates in rounds]


async def postgres_cases(turns: int, reps: int, quick: bool) -> None:
    url = await pg_database()
    try:
        async with await open_store(url, migrate=True) as store:
            ours = ASMSession(f"bench-{uuid.uuid4().hex}", store)
            driver_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
            theirs = SQLAlchemySession.from_url(
                f"bench-{uuid.uuid4().hex}", url=driver_url, create_tables=True
            )
            try:
                target = None if quick else 2.0
                await add_turns("ours on PostgreSQL vs SQLAlchemySession", ours, theirs, turns, reps, target)
            finally:
                await theirs.engine.dispose()
    finally:
        await pg_drop(url)


def main(quick: bool) -> None:
    items, turns, reps = (1_000, 50, 1) if quick else (10_000, 100, 7)
    header()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(sqlite_cases(Path(tmp), items, turns, reps, quick))
    asyncio.run(postgres_cases(turns, reps, quick))
