"""Shared helpers for benchmarks: timing, repetitions, and the ratio table."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

#: One JSON payload of about 300 bytes per event, like `reference/limits.md`.
PAYLOAD = {
    "role": "assistant",
    "content": "x" * 220,
    "tool_call_id": "call_0123456789",
    "usage": {"input_tokens": 812, "output_tokens": 96},
}


@dataclass
class Result:
    case: str
    ours: float
    baseline: float
    unit: str
    target: float | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")

    def line(self) -> str:
        verdict = ""
        if self.target is not None:
            verdict = "  ok" if self.ratio >= self.target else f"  BELOW target {self.target:.2f}"
        return (
            f"| {self.case} | {self.ours:,.0f} | {self.baseline:,.0f} | {self.unit} "
            f"| {self.ratio:.2f} |{verdict}"
        )


def header() -> None:
    print("| case | ours | baseline | unit | ratio |", flush=True)
    print("|---|---:|---:|---|---:|", flush=True)


def report(result: Result) -> Result:
    print(result.line(), flush=True)
    return result


async def rate(count: int, work: Callable[[], Awaitable[None]], reps: int = 3) -> float:
    """Median of `reps` runs of `work`, as `count / seconds`."""
    rates = []
    for _ in range(reps):
        started = time.perf_counter()
        await work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


async def compare(
    case: str,
    count: int,
    ours: Callable[[], Awaitable[None]],
    bare: Callable[[], Awaitable[None]],
    unit: str,
    target: float | None,
    *,
    reps: int = 3,
    warm: bool = False,
) -> Result:
    """Report the median rates of `ours` and `bare` (each doing `count` operations), timed in alternating
    repetitions so both see the same machine load; `warm` runs one untimed round of each first (statement
    caches, prepared statements, the page cache)."""
    if warm:
        await bare()
        await ours()
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(reps):
        for name, work in (("bare", bare), ("ours", ours)):
            started = time.perf_counter()
            await work()
            rates[name].append(count / (time.perf_counter() - started))
    return report(
        Result(case, statistics.median(rates["ours"]), statistics.median(rates["bare"]), unit, target)
    )


async def pg_database() -> str:
    """The URL of a new, empty PostgreSQL database on the test server, for one benchmark run (imports
    the PostgreSQL driver here, so benchmarks without PostgreSQL do not need it)."""
    import asyncpg

    from agent_session_manager.testing.services import postgres_admin_url

    name = f"asm_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_admin_url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(postgres_admin_url())
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def pg_drop(url: str) -> None:
    """Drop the database `pg_database` made (its connections are closed by force)."""
    import asyncpg

    from agent_session_manager.testing.services import postgres_admin_url

    admin = await asyncpg.connect(postgres_admin_url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await admin.close()
