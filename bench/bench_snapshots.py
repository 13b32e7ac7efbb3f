"""What snapshot storage costs on top of bare obstore, on the same SeaweedFS in the same run.

A ~100 KiB Strands agent snapshot (a conversation of user/assistant/tool messages). Ours: `save_snapshot`
(serialise to Strands' 2-space JSON, PUT) as latest (overwrite) and as history (create-only PUT with
`If-None-Match: *`), and `load_snapshot` (GET, parse, validate the envelope). Baseline: bare
`obstore.put_async` / `get_async` of the same bytes, with the same mode; and, to show what loading costs
beyond the JSON parse any reader must do, a bare get followed by `orjson.loads`. Operations are awaited
one after the other (latency, not throughput); ours and the baseline alternate in rounds so that drift in
the server hits both, and the medians are compared. Ratio = ours / baseline (1.0 = free; target 0.8).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import obstore
import orjson

from agent_session_manager._s3 import parse_s3_url, s3_store
from agent_session_manager.snapshots import Snapshot, SnapshotLocation, new_snapshot_id
from agent_session_manager.snapshots.s3 import S3SnapshotStorage
from agent_session_manager.testing.services import SeaweedFS

from .common import Result, header, report

TARGET = 0.8
LOCATION = SnapshotLocation(session_id="bench-session", scope="agent", scope_id="agent")


def conversation(size: int) -> Snapshot:
    """A Strands-shaped agent snapshot of about `size` bytes of JSON."""
    messages: list[dict[str, Any]] = []
    turn = 0
    while len(Snapshot(scope="agent", data={"messages": messages}).to_json()) < size:
        turn += 1
        messages.append(
            {"role": "user", "content": [{"text": f"Question {turn}: " + "please look at " * 20}]}
        )
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"text": "Let me check. " * 10},
                    {"toolUse": {"toolUseId": f"tool-{turn}", "name": "search", "input": {"q": "x" * 40}}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": f"tool-{turn}",
                            "status": "success",
                            "content": [{"text": "result line " * 30}],
                        }
                    }
                ],
            }
        )
    return Snapshot(
        scope="agent",
        data={"messages": messages, "state": {"turns": turn}, "systemPrompt": "Be brief.", "modelState": {}},
        app_data={"tenant": "bench"},
    )


async def per_second(count: int, work: Callable[[int], Awaitable[None]]) -> float:
    started = time.perf_counter()
    for i in range(count):
        await work(i)
    return count / (time.perf_counter() - started)


async def compare(
    label: str,
    count: int,
    rounds: int,
    ours: Callable[[int], Awaitable[None]],
    bare: Callable[[int], Awaitable[None]],
) -> None:
    await ours(0)
    await bare(0)
    ours_rates, bare_rates = [], []
    for _ in range(rounds):
        bare_rates.append(await per_second(count, bare))
        ours_rates.append(await per_second(count, ours))
    report(Result(label, statistics.median(ours_rates), statistics.median(bare_rates), "ops/s", TARGET))


async def run(target_url: str, credentials: dict[str, str], count: int, rounds: int, size: int) -> None:
    snapshot = conversation(size)
    body = snapshot.to_json()
    print(f"snapshot: {len(body):,} bytes of JSON, {len(snapshot.data['messages'])} messages", flush=True)
    storage = await S3SnapshotStorage.from_url(target_url, **credentials)
    location, settings = parse_s3_url(target_url, **credentials)
    raw = s3_store(location, settings)
    bare_latest = "bench/bare/snapshot_latest.json"
    history_ids = iter(new_snapshot_id() for _ in range(10**9))

    async def save_latest(_: int) -> None:
        await storage.save_snapshot(LOCATION, None, True, snapshot)

    async def put_latest(_: int) -> None:
        await obstore.put_async(raw, bare_latest, body, attributes={"Content-Type": "application/json"})

    async def save_history(_: int) -> None:
        await storage.save_snapshot(LOCATION, next(history_ids), False, snapshot)

    async def put_history(_: int) -> None:
        await obstore.put_async(
            raw,
            f"bench/bare/immutable_history/snapshot_{next(history_ids)}.json",
            body,
            mode="create",
            attributes={"Content-Type": "application/json"},
        )

    async def load_latest(_: int) -> None:
        loaded = await storage.load_snapshot(LOCATION)
        assert loaded is not None and len(loaded.data["messages"]) == len(snapshot.data["messages"])

    async def get_latest(_: int) -> None:
        result = await obstore.get_async(raw, bare_latest)
        assert len(await result.bytes_async()) == len(body)

    async def get_and_parse_latest(_: int) -> None:
        result = await obstore.get_async(raw, bare_latest)
        assert len(orjson.loads(memoryview(await result.bytes_async()))["data"]["messages"])

    header()
    await compare("save latest (overwrite) vs bare put", count, rounds, save_latest, put_latest)
    await compare(
        "save history (create-only) vs bare put(mode=create)", count, rounds, save_history, put_history
    )
    await compare("load latest vs bare get", count, rounds, load_latest, get_latest)
    await compare("load latest vs bare get + orjson.loads", count, rounds, load_latest, get_and_parse_latest)


def main(quick: bool) -> None:
    count, rounds = (10, 1) if quick else (200, 5)
    size = 10 * 1024 if quick else 100 * 1024
    with SeaweedFS() as server:
        target = server.make_bucket()
        asyncio.run(run(target.url("bench"), target.credentials(), count, rounds, size))
