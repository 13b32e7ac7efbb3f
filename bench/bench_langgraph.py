"""`ASMSaver` against LangGraph's stock savers (`AsyncSqliteSaver`, `AsyncPostgresSaver`), in one run.

A real `MessagesState` graph (one scripted agent node, no model) runs 300 turns (quick: 20) on one thread
with each saver, on the same database engine. Printed, ours next to theirs, with the factor by which we
are better (the issue's targets in brackets):

* bytes stored after the run (SQLite: the database file after a WAL checkpoint; PostgreSQL: the saver's
  tables with their indexes and TOAST), theirs ÷ ours [>= 10];
* per-turn time over the last 50 turns ÷ the first 50 (medians, so a stall of the shared machine does not
  count; quick: 3), for each saver [ours <= 1.2];
* turns per second, ours ÷ theirs [>= 2];
* listing 10,000 threads (quick: 200), each with one checkpoint: ours with `alist_threads()` (one keyset
  scan of our sessions), theirs with `alist(None)` reduced to distinct thread ids, the only way their API
  offers; theirs ÷ ours seconds [>= 10].

Run: `python -m bench langgraph` (full) or `python -m bench --quick langgraph`.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.graph import END, START, MessagesState, StateGraph

from agent_session_manager import open_store
from agent_session_manager.integrations.langgraph import ASMSaver

from .common import pg_database, pg_drop

WORDS = [
    "invoice",
    "refund",
    "charge",
    "account",
    "billing",
    "plan",
    "customer",
    "order",
    "payment",
    "card",
    "receipt",
    "credit",
    "period",
    "subscription",
    "renewal",
    "support",
    "ticket",
    "update",
    "status",
    "shipping",
    "address",
    "delivery",
    "tracking",
    "policy",
    "review",
    "approve",
    "request",
    "balance",
    "amount",
    "date",
    "month",
    "annual",
    "discount",
    "tax",
    "total",
    "pending",
    "processed",
]


def _text(seed: int, words: int) -> str:
    """Deterministic prose-like text of `words` words: real answers do not repeat one sentence, and
    repeated text would let PostgreSQL's TOAST compression hide what a saver really stores."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    def agent(state: MessagesState) -> dict[str, list[AnyMessage]]:
        n = len(state["messages"])
        usage = {"input_tokens": 40 * n, "output_tokens": 80, "total_tokens": 40 * n + 80}
        return {"messages": [AIMessage(_text(n, 60), id=f"ai-{n}", usage_metadata=usage)]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    return builder.compile(checkpointer=saver)


async def _turns(saver: BaseCheckpointSaver[Any], turns: int) -> list[float]:
    graph = _graph(saver)
    config = {"configurable": {"thread_id": "bench-thread"}}
    times = []
    await graph.ainvoke(
        {"messages": [HumanMessage("warm-up", id="h-warm")]}, {"configurable": {"thread_id": "warm"}}
    )
    for turn in range(turns):
        started = time.perf_counter()
        question = HumanMessage(_text(-turn, 15), id=f"h-{turn}")
        await graph.ainvoke({"messages": [question]}, config)
        times.append(time.perf_counter() - started)
    return times


async def _populate(saver: BaseCheckpointSaver[Any], threads: int) -> None:
    for i in range(threads):
        checkpoint = empty_checkpoint()
        config = {"configurable": {"thread_id": f"thread-{i:05d}", "checkpoint_ns": ""}}
        await saver.aput(config, checkpoint, {"source": "input", "step": -1}, {})


async def _list_theirs(saver: BaseCheckpointSaver[Any]) -> int:
    return len({t.config["configurable"]["thread_id"] async for t in saver.alist(None)})


async def _list_ours(saver: ASMSaver) -> int:
    return len([t async for t in saver.alist_threads()])


async def _timed(work: Callable[[], Awaitable[int]], expected: int) -> float:
    started = time.perf_counter()
    found = await work()
    elapsed = time.perf_counter() - started
    assert found == expected, (found, expected)
    return elapsed


def _sqlite_bytes(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return path.stat().st_size


async def _pg_bytes(url: str, tables: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        value = await connection.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE '{tables}'"
        )
    finally:
        await connection.close()
    return int(value)


def _row(case: str, ours: float, theirs: float, unit: str, factor: float, target: str) -> None:
    print(f"| {case} | {ours:,.3f} | {theirs:,.3f} | {unit} | {factor:.2f} | {target} |", flush=True)


def _report(engine: str, turns: int, ours: dict[str, Any], theirs: dict[str, Any], threads: int) -> None:
    window = max(3, min(50, turns // 6))

    def growth(times: list[float]) -> float:
        return statistics.median(times[-window:]) / statistics.median(times[:window])

    _row(
        f"{engine}: MB after {turns} turns",
        ours["bytes"] / 1e6,
        theirs["bytes"] / 1e6,
        "MB",
        theirs["bytes"] / ours["bytes"],
        "theirs/ours >= 10",
    )
    _row(
        f"{engine}: per-turn time, last {window} / first {window}",
        growth(ours["times"]),
        growth(theirs["times"]),
        "ratio",
        growth(ours["times"]),
        "ours <= 1.2",
    )
    ours_rate, theirs_rate = turns / sum(ours["times"]), turns / sum(theirs["times"])
    _row(f"{engine}: turns/s", ours_rate, theirs_rate, "turns/s", ours_rate / theirs_rate, "ours/theirs >= 2")
    _row(
        f"{engine}: list {threads:,} threads",
        ours["list"],
        theirs["list"],
        "s",
        theirs["list"] / ours["list"],
        "theirs/ours >= 10",
    )


async def _sqlite(turns: int, threads: int) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    with tempfile.TemporaryDirectory() as tmp:
        ours_path, theirs_path = Path(tmp, "asm.db"), Path(tmp, "stock.db")
        ours: dict[str, Any] = {}
        theirs: dict[str, Any] = {}
        async with await open_store(f"sqlite:///{ours_path}", migrate=True) as store:
            saver = ASMSaver(store)
            ours["times"] = await _turns(saver, turns)
        ours["bytes"] = _sqlite_bytes(ours_path)
        async with AsyncSqliteSaver.from_conn_string(str(theirs_path)) as stock:
            theirs["times"] = await _turns(stock, turns)
        theirs["bytes"] = _sqlite_bytes(theirs_path)
        list_path, stock_list_path = Path(tmp, "asm-list.db"), Path(tmp, "stock-list.db")
        async with await open_store(f"sqlite:///{list_path}", migrate=True) as store:
            saver = ASMSaver(store)
            await _populate(saver, threads)
            ours["list"] = await _timed(lambda: _list_ours(saver), threads)
        async with AsyncSqliteSaver.from_conn_string(str(stock_list_path)) as stock:
            await _populate(stock, threads)
            theirs["list"] = await _timed(lambda: _list_theirs(stock), threads)
    _report("SQLite", turns, ours, theirs, threads)


async def _postgres(turns: int, threads: int) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    ours_url, theirs_url = await pg_database(), await pg_database()
    try:
        ours: dict[str, Any] = {}
        theirs: dict[str, Any] = {}
        async with await open_store(ours_url, migrate=True) as store:
            saver = ASMSaver(store)
            ours["times"] = await _turns(saver, turns)
            ours["bytes"] = await _pg_bytes(ours_url, "asm\\_%")
            await _populate(saver, threads)
            ours["list"] = await _timed(lambda: _list_ours(saver), threads + 2)
        async with AsyncPostgresSaver.from_conn_string(theirs_url) as stock:
            await stock.setup()
            theirs["times"] = await _turns(stock, turns)
            theirs["bytes"] = await _pg_bytes(theirs_url, "checkpoint%")
            await _populate(stock, threads)
            theirs["list"] = await _timed(lambda: _list_theirs(stock), threads + 2)
    finally:
        await pg_drop(ours_url)
        await pg_drop(theirs_url)
    _report("PostgreSQL", turns, ours, theirs, threads)


def main(quick: bool) -> None:
    turns, threads = (12, 100) if quick else (300, 10_000)
    print("| case | ours | theirs (stock saver) | unit | factor | target |", flush=True)
    print("|---|---:|---:|---|---:|---|", flush=True)
    asyncio.run(_sqlite(turns, threads))
    asyncio.run(_postgres(turns, threads))
