"""What the Strands and OpenTelemetry integrations cost, against baselines measured in the same run.

* `ASMStorage` (Strands' `Storage` over our file artifact store) writing and reading a ~100 KiB agent
  snapshot document, against Strands' own `LocalFileStorage` in a directory of the same disk. Ours also
  parses the document, translates it between dialects when configured for TypeScript, records and
  verifies a SHA-256, writes durably (fsync) and does its file I/O in a worker thread so the event
  loop never blocks; Strands' storage reads and writes on the event loop itself, without fsync.
* The same read against our artifact store's own `get`: what the integration (parse, dialect check,
  translation) adds on top of the store.
* A whole `SnapshotSessionManager.save_snapshot` of a real Strands `Agent` on each storage.
* `otel.export_session` replaying a stored session of 20 runs (12 events each, memory store) as spans,
  against the same store reads followed by the OpenTelemetry SDK creating as many spans without
  attributes, both into an exporter that drops them: the ratio is the cost of our mapping.

Operations are awaited one after the other; ours and the baseline alternate in rounds and the medians
are compared. Ratio = ours / baseline in operations per second (1.0 = free).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from strands import Agent
from strands.session import SnapshotSessionManager
from strands.storage import LocalFileStorage

import agent_session_manager as asm
from agent_session_manager.demo import SCRIPT
from agent_session_manager.integrations.strands import ASMStorage
from agent_session_manager.otel import export_session
from agent_session_manager.snapshots.dialects import render

from .bench_snapshots import conversation
from .common import Result, header, report

KEY = "session/bench/scopes/agent/agent/snapshots/snapshot_latest.json"


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def per_second(count: int, work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await work()
    return count / (time.perf_counter() - started)


async def compare(
    label: str,
    count: int,
    rounds: int,
    ours: Callable[[], Awaitable[object]],
    bare: Callable[[], Awaitable[object]],
) -> None:
    await ours()
    await bare()
    ours_rates, bare_rates = [], []
    for _ in range(rounds):
        bare_rates.append(await per_second(count, bare))
        ours_rates.append(await per_second(count, ours))
    report(Result(label, statistics.median(ours_rates), statistics.median(bare_rates), "ops/s"))


async def storage_cases(base: Path, count: int, rounds: int, size: int) -> None:
    body = render(conversation(size).to_wire(), "python", compact=True)
    print(f"snapshot document: {len(body):,} bytes", flush=True)
    artifacts = await asm.open_artifact_store((base / "asm").as_uri())
    python, typescript = ASMStorage(artifacts), ASMStorage(artifacts, format="typescript")
    strands = LocalFileStorage(str(base / "strands"))
    await typescript.write("session/ts/" + KEY.removeprefix("session/"), body)
    await strands.write(KEY, body)

    header()
    await compare(
        "write (python dialect) vs LocalFileStorage",
        count,
        rounds,
        lambda: python.write(KEY, body),
        lambda: strands.write(KEY, body),
    )
    await compare(
        "write (translated to typescript) vs LocalFileStorage",
        count,
        rounds,
        lambda: typescript.write(KEY, body),
        lambda: strands.write(KEY, body),
    )
    await compare(
        "read vs LocalFileStorage", count, rounds, lambda: python.read(KEY), lambda: strands.read(KEY)
    )
    await compare(
        "read vs our artifact store's get alone",
        count,
        rounds,
        lambda: python.read(KEY),
        lambda: artifacts.get(KEY),
    )
    ts_key = "session/ts/" + KEY.removeprefix("session/")
    await compare(
        "read (translated from typescript) vs LocalFileStorage",
        count,
        rounds,
        lambda: typescript.read(ts_key),
        lambda: strands.read(KEY),
    )

    messages = conversation(size).data["messages"]
    ours_manager = SnapshotSessionManager("bench-agent", storage=python)
    bare_manager = SnapshotSessionManager("bench-agent", storage=strands)
    ours_agent = Agent(
        agent_id="agent", messages=messages, session_manager=ours_manager, callback_handler=None
    )
    bare_agent = Agent(
        agent_id="agent", messages=messages, session_manager=bare_manager, callback_handler=None
    )
    await compare(
        "SnapshotSessionManager.save_snapshot vs on LocalFileStorage",
        count,
        rounds,
        lambda: ours_manager.save_snapshot(ours_agent, is_latest=True),
        lambda: bare_manager.save_snapshot(bare_agent, is_latest=True),
    )
    await artifacts.close()


async def otel_case(count: int, rounds: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    tracer = provider.get_tracer("bench")
    async with await asm.open_store("memory://") as store:
        manager = asm.SessionManager(store)
        session = await manager.start_session("bench")
        await manager.activate_session(session.id)
        for _ in range(20):
            run = await manager.start_run(session.id, "question")
            await manager.execute_run(run.id, asm.ScriptedAdapter(SCRIPT))
        spans = (await export_session(store, session.id, provider)).spans
        runs = (await store.list_runs(session.id)).items

        async def bare() -> None:
            for run in runs:
                await store.get_events(session.id, run_id=run.id)
            for _ in range(spans):
                tracer.start_span("span").end()

        await compare(
            f"export_session ({spans} spans) vs same reads + bare SDK spans",
            count,
            rounds,
            lambda: export_session(store, session.id, provider),
            bare,
        )
    provider.shutdown()


def main(quick: bool) -> None:
    count, rounds = (5, 1) if quick else (100, 5)
    size = 10 * 1024 if quick else 100 * 1024
    with tempfile.TemporaryDirectory(prefix="asm-bench-strands-") as base:
        asyncio.run(storage_cases(Path(base), count, rounds, size))
    asyncio.run(otel_case(max(2, count // 5), rounds))
