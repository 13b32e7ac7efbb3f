"""The query API and maintenance on PostgreSQL, at 10k sessions and 10k / 100k / 1M events.

`python -m bench query` (full sizes; run it as `flock /tmp/asm-bench.lock .venv/bin/python -m bench query`)
or `python -m bench --quick query` (tiny, for CI).

1. Queries. The data is bulk-loaded server-side (`INSERT ... SELECT generate_series`, like COPY): 10k
   sessions (1% tagged `vip`), two runs each (1% by provider `rare`), then events in three stages (10k,
   100k, 1M: 1, 10, 100 per session, ~300-byte payloads). After each stage (and ANALYZE) every query runs
   5 times; the table shows the median in milliseconds of the first page and of a deep page (a cursor in
   the middle of the listing), per stage. A paged query that stays flat from 10k to 1M events is served by
   an index range scan; the last column is time at 1M / time at 10k.
2. Maintenance. Half of the sessions are pruned from 100 to 10 events by `Maintenance.execute`
   (`max_events_per_session`), the other half by a bare batched `DELETE` of the same rows (oldest
   unprotected events per session, one statement per session); then the store-wide cap
   (`max_total_events`, batches of 1,000 oldest events across sessions) against a bare
   `DELETE ... WHERE id IN (SELECT id ... ORDER BY timestamp, id LIMIT 1000)` loop over the same number
   of rows. Rates in events pruned per second; ratio = ours / bare.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from agent_session_manager import RetentionPolicy, SessionStatus, maintenance_api, open_store, query_api
from agent_session_manager.maintenance.policy import PROTECTED_EVENT_TYPES
from agent_session_manager.query.base import (
    EventFilter,
    EventOrder,
    RunFilter,
    RunOrder,
    SessionFilter,
    SessionOrder,
)
from agent_session_manager.query.keyset import EVENT_KEYSETS, RUN_KEYSETS, SESSION_KEYSETS
from agent_session_manager.sessions.sql import migrations

from .common import PAYLOAD, Result, header, pg_database, pg_drop, report

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REPS = 5
PROVIDERS = "ARRAY['anthropic', 'openai', 'google', 'mistral']"
TYPES = "ARRAY['message_sent', 'message_received', 'message_streamed', 'tool_call_started']"


def _sid(expression: str) -> str:
    return f"'ses_' || lpad(({expression})::text, 8, '0')"


async def _load_sessions(connection: asyncpg.Connection, sessions: int) -> None:
    await connection.execute(
        f"""INSERT INTO asm_sessions (id, agent_id, status, metadata, context, tags, created_at, updated_at)
        SELECT {_sid("i")}, 'agent-' || (i % 20), '{SessionStatus.COMPLETED.value}', '{{}}', '{{}}',
               CASE WHEN i % 100 = 0 THEN ARRAY['vip', 'half-' || (i % 2)] ELSE ARRAY['half-' || (i % 2)] END,
               $1::timestamptz + i * interval '1 minute', $1::timestamptz + i * interval '90 second'
        FROM generate_series(0, {sessions - 1}) AS i""",
        T0,
    )
    await connection.execute(
        f"""INSERT INTO asm_runs (id, session_id, status, metadata, turn_count, token_usage, cost_usd,
                              started_at, provider, provider_metadata)
        SELECT 'run_' || lpad(i::text, 8, '0'), {_sid(f"i % {sessions}")}, 'completed', '{{}}', 0,
               jsonb_build_object('input_tokens', i % 997, 'output_tokens', i % 101),
               CASE WHEN i % 3 = 0 THEN 0.001 END, $1::timestamptz + i * interval '30 second',
               CASE WHEN i % 100 = 0 THEN 'rare' ELSE ({PROVIDERS})[i % 4 + 1] END,
               jsonb_build_object('model', CASE WHEN i % 2 = 0 THEN 'claude-sonnet-4' ELSE 'gpt-4o' END)
        FROM generate_series(0, {2 * sessions - 1}) AS i""",
        T0,
    )


async def _add_events(connection: asyncpg.Connection, sessions: int, start: int, stop: int) -> None:
    """Events `start..stop-1`: event i belongs to session i % sessions with sequence i // sessions + 1."""
    await connection.execute(
        f"""INSERT INTO asm_events (id, type, "timestamp", session_id, run_id, sequence_number, data,
                                metadata, schema_version, provider, correlation_id)
        SELECT 'evt_' || lpad(i::text, 10, '0'), ({TYPES})[i % 4 + 1], $1::timestamptz + i * interval '1 ms',
               {_sid(f"i % {sessions}")}, NULL, i / {sessions} + 1, $2::jsonb, '{{}}', 1,
               ({PROVIDERS})[i % 4 + 1], 'corr-' || (i / 10)
        FROM generate_series({start}, {stop - 1}) AS i""",
        T0,
        orjson.dumps(PAYLOAD).decode(),
    )
    await connection.execute(
        f"""INSERT INTO asm_session_sequences AS q (session_id, last_sequence)
        SELECT {_sid("i")}, {(stop - 1) // sessions + 1} FROM generate_series(0, {sessions - 1}) AS i
        ON CONFLICT (session_id) DO UPDATE SET last_sequence = excluded.last_sequence"""
    )
    await connection.execute("ANALYZE")


async def _median_ms(call: Callable[[], Awaitable[Any]]) -> float:
    await call()
    times = []
    for _ in range(REPS):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _cases(api: Any, sessions: int, events: int) -> list[tuple[str, str, Callable[[], Awaitable[Any]]]]:
    """(query, page, call) for every query; deep pages start from a cursor in the middle."""
    middle = _sid_value(sessions // 2)
    by_update = SESSION_KEYSETS[SessionOrder.UPDATED_AT_DESC]
    deep_session = by_update.encode(
        (T0 + timedelta(seconds=90 * (sessions // 2)), middle), SessionFilter.build().fingerprint()
    )
    vip = SessionFilter.build(tags=["vip"])
    deep_vip = by_update.encode((T0 + timedelta(seconds=90 * (sessions // 2)), middle), vip.fingerprint())
    window = {"started_after": T0, "started_before": T0 + timedelta(days=365)}
    runs_filter = RunFilter.build(provider="rare", **window)
    deep_runs = RUN_KEYSETS[RunOrder.STARTED_AT_DESC].encode(
        (T0 + timedelta(seconds=30 * sessions), "run_x"), runs_filter.fingerprint()
    )
    deep_tokens = RUN_KEYSETS[RunOrder.TOKEN_USAGE_DESC].encode(
        (600, "run_x"), RunFilter.build().fingerprint()
    )
    deep_seq = EVENT_KEYSETS[EventOrder.SEQUENCE_ASC].encode((middle, 0), EventFilter.build().fingerprint())
    deep_time = EVENT_KEYSETS[EventOrder.TIMESTAMP_DESC].encode(
        (T0 + timedelta(milliseconds=events // 2), "evt_x"), EventFilter.build().fingerprint()
    )
    correlation = f"corr-{events // 20}"
    return [
        ("search_sessions (updated_at_desc)", "first", lambda: api.search_sessions()),
        ("search_sessions (updated_at_desc)", "deep", lambda: api.search_sessions(cursor=deep_session)),
        ("search_sessions tags=vip", "first", lambda: api.search_sessions(tags=["vip"])),
        ("search_sessions tags=vip", "deep", lambda: api.search_sessions(tags=["vip"], cursor=deep_vip)),
        ("search_sessions provider=rare", "first", lambda: api.search_sessions(provider="rare")),
        ("search_runs provider+time", "first", lambda: api.search_runs(provider="rare", **window)),
        (
            "search_runs provider+time",
            "deep",
            lambda: api.search_runs(provider="rare", cursor=deep_runs, **window),
        ),
        ("search_runs token_usage_desc", "first", lambda: api.search_runs(order_by="token_usage_desc")),
        (
            "search_runs token_usage_desc",
            "deep",
            lambda: api.search_runs(order_by="token_usage_desc", cursor=deep_tokens),
        ),
        ("search_events (sequence_asc)", "first", lambda: api.search_events()),
        ("search_events (sequence_asc)", "deep", lambda: api.search_events(cursor=deep_seq)),
        ("search_events timestamp_desc", "first", lambda: api.search_events(order_by="timestamp_desc")),
        (
            "search_events timestamp_desc",
            "deep",
            lambda: api.search_events(order_by="timestamp_desc", cursor=deep_time),
        ),
        ("search_events correlation_id", "first", lambda: api.search_events(correlation_id=correlation)),
        ("search_events one session", "first", lambda: api.search_events(session_ids=[middle])),
        ("count_events correlation_id", "-", lambda: api.count_events(correlation_id=correlation)),
        ("get_session_stats", "-", lambda: api.get_session_stats(middle)),
        ("get_usage_summary (all runs)", "-", lambda: api.get_usage_summary()),
        ("get_cost_summary (all runs)", "-", lambda: api.get_cost_summary()),
        ("export_session", "-", lambda: api.export_session(middle)),
    ]


def _sid_value(index: int) -> str:
    return f"ses_{index:08d}"


async def _queries(url: str, sessions: int, stages: list[int]) -> None:
    store = await open_store(url)
    api = query_api(store)
    timings: dict[tuple[str, str], list[float]] = {}
    connection = await asyncpg.connect(url)
    try:
        loaded = 0
        for stage in stages:
            started = time.perf_counter()
            await _add_events(connection, sessions, loaded, stage)
            loaded = stage
            print(f"loaded {stage:,} events in {time.perf_counter() - started:.1f} s", flush=True)
            for name, page, call in _cases(api, sessions, stage):
                timings.setdefault((name, page), []).append(await _median_ms(call))
    finally:
        await connection.close()
        await store.close()
    labels = " | ".join(f"{stage:,} events" for stage in stages)
    print(f"\n| query | page | {labels} | last / first |", flush=True)
    print(f"|---|---|{'---:|' * len(stages)}---:|", flush=True)
    for (name, page), values in timings.items():
        cells = " | ".join(f"{value:.2f} ms" for value in values)
        print(f"| {name} | {page} | {cells} | {values[-1] / values[0]:.2f} |", flush=True)


async def _bare_delete(connection: asyncpg.Connection, sql: str, *args: Any) -> int:
    status = await connection.execute(sql, *args)
    return int(status.split()[-1])


async def _prune(url: str, sessions: int, keep: int) -> list[Result]:
    """Store-wide, then per-session pruning, ours against a bare batched DELETE of as many rows.

    `prune_event_types_first` is empty here so that ours takes the same (oldest) rows as the bare
    DELETE; with preferred types, the work is the same per batch but the rows differ."""
    store = await open_store(url)
    maint = maintenance_api(store)
    connection = await asyncpg.connect(url)
    protected = sorted(t.value for t in PROTECTED_EVENT_TYPES)
    common: dict[str, Any] = {
        "max_completed_session_age_days": None,
        "hard_delete_after_days": None,
        "prune_event_types_first": (),
    }
    results = []
    try:
        total = await connection.fetchval("SELECT count(*) FROM asm_events")
        quota = total // 5
        started = time.perf_counter()
        report_ = await maint.execute(RetentionPolicy(max_total_events=total - quota, **common))
        ours = report_.events_pruned / (time.perf_counter() - started)
        started = time.perf_counter()
        deleted = 0
        while deleted < quota:
            deleted += await _bare_delete(
                connection,
                "DELETE FROM asm_events WHERE id IN "
                '(SELECT id FROM asm_events ORDER BY "timestamp", id LIMIT $1)',
                min(1000, quota - deleted),
            )
        bare = deleted / (time.perf_counter() - started)
        case = f"prune store-wide, batches of 1,000 ({report_.events_pruned:,} vs {deleted:,} events)"
        results.append(report(Result(case, ours, bare, "events/s")))

        per_session = await connection.fetchval("SELECT count(*) FROM asm_events") // sessions - keep
        policy = RetentionPolicy(max_events_per_session=keep, exempt_tags=["half-1"], **common)
        started = time.perf_counter()
        report_ = await maint.execute(policy)
        ours = report_.events_pruned / (time.perf_counter() - started)
        started = time.perf_counter()
        deleted = 0
        for index in range(1, sessions, 2):
            deleted += await _bare_delete(
                connection,
                "DELETE FROM asm_events WHERE id IN (SELECT id FROM asm_events WHERE session_id = $1 "
                "AND type <> ALL($2::text[]) ORDER BY sequence_number LIMIT $3)",
                _sid_value(index),
                protected,
                per_session,
            )
        bare = deleted / (time.perf_counter() - started)
        case = f"prune per session to {keep} ({report_.events_pruned:,} vs {deleted:,} events)"
        results.append(report(Result(case, ours, bare, "events/s")))
        return results
    finally:
        await connection.close()
        await store.close()


async def _run(quick: bool) -> None:
    sessions = 200 if quick else 10_000
    stages = [sessions, 10 * sessions] if quick else [sessions, 10 * sessions, 100 * sessions]
    url = await pg_database()
    try:
        await migrations.upgrade_async(url)
        connection = await asyncpg.connect(url)
        try:
            await _load_sessions(connection, sessions)
        finally:
            await connection.close()
        await _queries(url, sessions, stages)
        print(flush=True)
        header()
        await _prune(url, sessions, keep=stages[-1] // sessions // 10)
    finally:
        await pg_drop(url)


def main(quick: bool) -> None:
    asyncio.run(_run(quick))
