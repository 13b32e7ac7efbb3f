"""`asm ui`: server time of its pages against the store calls they make, on the embedded default.

`python -m bench ui` (full sizes; run it as `flock /tmp/asm-bench.lock .venv/bin/python -m bench ui`)
or `python -m bench --quick ui` (tiny, for CI).

A SQLite store gets 10,000 sessions (each with one run carrying token usage and a cost, and three
events) and one session of 100,000 events (quick: 300 sessions, 3,000 events). The application
(`ui.create_app`, the same one `asm ui` serves) is called in process as an ASGI application, so
"server time" is routing, the security middleware, the store calls, rendering and the response, without
a client or a socket. The baseline is the store calls alone: the `ui.data` function each page calls,
which holds nothing else. Each figure is the median of the repetitions, in milliseconds; the target is a ratio
(page / store calls) of at most 3 and a page under 100 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message

from agent_session_manager import Event, EventType, Run, RunStatus, Session, SessionStatus
from agent_session_manager.composite import open_composite_store
from agent_session_manager.open import open_snapshot_storage
from agent_session_manager.ui import Stores, UIConfig, create_app, data

from .common import PAYLOAD

#: The issue's targets: rendering costs at most this factor over the store calls, and a page this long.
MAX_RATIO = 3.0
MAX_MS = 100.0


async def _fill(stores: Stores, sessions: int, events: int) -> str:
    """`sessions` small sessions and one with `events` events; returns the big session's id."""
    store = stores.sessions
    for i in range(sessions):
        session = Session(agent_id=f"agent-{i % 20}", status=SessionStatus.COMPLETED, tags=["bench"])
        run = Run(
            session_id=session.id,
            status=RunStatus.COMPLETED,
            provider="anthropic",
            provider_metadata={"model": "claude-sonnet-4"},
            token_usage={"input_tokens": 800 + i % 100, "output_tokens": 90},
            cost_usd=0.0012,
        )
        await store.save_session(session)
        await store.flush(
            session,
            run,
            [
                Event(type=EventType.MESSAGE_RECEIVED, session_id=session.id, run_id=run.id, data=PAYLOAD)
                for _ in range(3)
            ],
        )
    big = await store.save_session(Session(agent_id="big", status=SessionStatus.ACTIVE))
    batch = 10_000
    for start in range(0, events, batch):
        await store.append_events(
            [
                Event(type=EventType.MESSAGE_STREAMED, session_id=big.id, data=PAYLOAD)
                for _ in range(min(batch, events - start))
            ]
        )
    return big.id


async def asgi_get(app: ASGIApp, path: str) -> None:
    """One GET answered by the application itself: the server's time, without a client or a socket."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    status: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    assert status == [200], (path, status)


async def _medians_ms(
    page: Callable[[], Awaitable[Any]], calls: Callable[[], Awaitable[Any]], reps: int
) -> tuple[float, float]:
    """Median milliseconds of the page and of its store calls, measured alternately (so that load from
    other work on the machine falls on both alike), after one warm-up of each."""
    await page()
    await calls()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(reps):
        for work, into in ((page, times[0]), (calls, times[1])):
            started = time.perf_counter()
            await work()
            into.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def _line(case: str, page_ms: float, store_ms: float) -> None:
    ratio = page_ms / store_ms
    verdict = "ok" if ratio <= MAX_RATIO and page_ms < MAX_MS else "**over target**"
    print(
        f"| {case} | {page_ms:.1f} | {store_ms:.1f} | ms | {ratio:.2f} "
        f"| <= {MAX_RATIO:.0f}x, < {MAX_MS:.0f} ms {verdict} |",
        flush=True,
    )


async def run(sessions: int, events: int, reps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="asm-bench-ui-") as tmp:
        root = Path(tmp)
        config = UIConfig(
            database_url=f"sqlite:///{root}/asm.db",
            artifacts_url=f"file://{root}/artifacts",
            snapshots_url=f"file://{root}/snapshots",
        )
        async with (
            await open_composite_store(
                config.database_url, config.artifacts_url, session_options={"migrate": True}
            ) as store,
            await open_snapshot_storage(config.snapshots_url) as snapshots,
        ):
            stores = Stores(store, snapshots)
            started = time.perf_counter()
            big = await _fill(stores, sessions, events)
            print(
                f"filled {sessions:,} sessions and {events:,} events in {time.perf_counter() - started:.1f}s"
            )
            app = create_app(config, stores)
            print("| case | page | store calls | unit | ratio | target |", flush=True)
            print("|---|---:|---:|---|---:|---|", flush=True)
            middle = events // 2
            cases: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
                (
                    f"sessions page (50 of {sessions:,}, newest updated)",
                    "/sessions",
                    lambda: data.list_sessions(store, data.SessionFilters()),
                ),
                (
                    f"sessions page, agent filter (of {sessions:,})",
                    "/sessions?agent=agent-7",
                    lambda: data.list_sessions(store, data.SessionFilters(agent_id="agent-7")),
                ),
                (
                    f"timeline page in the middle of {events:,} events",
                    f"/sessions/{big}?after={middle}",
                    lambda: data.session_view(store, big, data.TimelineQuery(after=middle)),
                ),
                (
                    f"timeline latest page of {events:,} events",
                    f"/sessions/{big}?latest=1",
                    lambda: data.session_view(store, big, data.TimelineQuery(latest=True)),
                ),
            ]
            for case, path, calls in cases:
                _line(case, *await _medians_ms(lambda path=path: asgi_get(app, path), calls, reps))  # type: ignore[misc]


def main(quick: bool) -> None:
    sessions, events, reps = (300, 3_000, 15) if quick else (10_000, 100_000, 30)
    asyncio.run(run(sessions, events, reps))
