"""What the SessionManager's event pipeline costs on top of the store.

Ours: an adapter emits N `message_received` events through `execute_run` (build, validate, shape check,
optional redaction, append — one awaited append per event, as a live run does), including the run's own
start and finalize writes. Baseline, in the same run on the same kind of store: the bare store appending N
equivalent `Event`s built in the loop. The ratio is ours / baseline (1.0 = the pipeline is free).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from agent_session_manager import Event, EventType, Run, Session, open_store
from agent_session_manager.manager import AdapterResult, Redactor, RunContext, SessionManager
from agent_session_manager.sessions.base import SessionStore

from .common import PAYLOAD, Result, header, rate, report


class Streamer:
    """An adapter that emits `count` assistant messages as fast as the pipeline takes them."""

    name = "bench"

    def __init__(self, count: int) -> None:
        self.count = count

    async def execute(self, ctx: RunContext) -> AdapterResult:
        for _ in range(self.count):
            await ctx.emit(EventType.MESSAGE_RECEIVED, PAYLOAD)
        return AdapterResult()

    async def cancel(self, run_id: str) -> None:
        return None


async def pipeline_rate(store: SessionStore, count: int, redactor: Redactor | None) -> float:
    manager = SessionManager(store, redactor=redactor)
    session = await manager.start_session("bench")
    await manager.activate_session(session.id)

    async def work() -> None:
        run = await manager.start_run(session.id)
        await manager.execute_run(run.id, Streamer(count))

    return await rate(count, work)


async def bare_rate(store: SessionStore, count: int) -> float:
    session = await store.save_session(Session(agent_id="bench"))
    run = await store.save_run(Run(session_id=session.id))

    async def work() -> None:
        for _ in range(count):
            await store.append_event(
                Event(type=EventType.MESSAGE_RECEIVED, session_id=session.id, run_id=run.id, data=PAYLOAD)
            )

    return await rate(count, work)


async def measure(label: str, url: str, count: int) -> None:
    async with await open_store(url, **({} if url == "memory://" else {"migrate": True})) as store:
        baseline = await bare_rate(store, count)
        plain = await pipeline_rate(store, count, None)
        redacted = await pipeline_rate(store, count, Redactor(categorized=True))
    report(Result(f"{label}: emit through the pipeline vs bare append_event", plain, baseline, "events/s"))
    report(
        Result(f"{label}: emit + redaction (deep scan) vs bare append_event", redacted, baseline, "events/s")
    )


def main(quick: bool) -> None:
    memory_count, sqlite_count = (200, 100) if quick else (20_000, 3_000)
    header()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure("memory", "memory://", memory_count))
        asyncio.run(measure("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_count))
