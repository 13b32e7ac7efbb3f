"""The PostgreSQL backend passes the QueryAPI contract, and its main queries use indexes (EXPLAIN)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from agent_session_manager import open_store
from agent_session_manager.query.sql import SQLQueryAPI
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.schema import TABLE_NAMES
from agent_session_manager.testing.query import QueryAPIContract

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def query_pg_url(postgres_url: str) -> str:
    migrations.upgrade(postgres_url)
    return postgres_url


async def _truncate(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
    finally:
        await connection.close()


class TestPostgresQueryAPI(QueryAPIContract):
    backend = "postgresql"

    @pytest.fixture(autouse=True)
    def _database(self, query_pg_url: str) -> None:
        self.url = query_pg_url

    async def new_store(self) -> SessionStore:
        await _truncate(self.url)
        return await open_store(self.url)


# -- the main queries use indexes ---------------------------------------------------------------

SESSIONS, RUNS, EVENTS = 20_000, 40_000, 200_000
PROVIDERS = "ARRAY['anthropic', 'openai', 'google', 'mistral', 'local']"
SID = "'ses_' || lpad(({n} % 20000 + 1)::text, 8, '0')"
BULK = [
    f"""INSERT INTO asm_sessions (id, agent_id, status, metadata, context, tags, created_at, updated_at)
    SELECT {SID.format(n="i")}, 'agent-' || (i % 50), 'completed', '{{}}', '{{}}',
           CASE WHEN i % 200 = 0 THEN ARRAY['vip', 'common'] ELSE ARRAY['common'] END,
           $1::timestamptz + i * interval '1 minute', $1::timestamptz + i * interval '2 minute'
    FROM generate_series(0, {SESSIONS - 1}) AS i""",
    f"""INSERT INTO asm_runs (id, session_id, status, metadata, turn_count, token_usage, started_at,
                          provider, provider_metadata)
    SELECT 'run_' || lpad(i::text, 8, '0'), {SID.format(n="i")}, 'completed', '{{}}', 0,
           jsonb_build_object('input_tokens', i % 1000, 'output_tokens', 7),
           $1::timestamptz + i * interval '1 minute',
           CASE WHEN i % 100 = 0 THEN 'rare' ELSE ({PROVIDERS})[i % 5 + 1] END, '{{"model": "m"}}'
    FROM generate_series(0, {RUNS - 1}) AS i""",
    f"""INSERT INTO asm_events (id, type, "timestamp", session_id, run_id, sequence_number, data, metadata,
                            schema_version, provider, correlation_id)
    SELECT 'evt_' || lpad(i::text, 9, '0'), 'message_sent', $1::timestamptz + i * interval '1 second',
           {SID.format(n="i")}, NULL, i / 20000 + 1, '{{}}', '{{}}', 1, ({PROVIDERS})[i % 5 + 1],
           'corr-' || (i / 10)
    FROM generate_series(0, {EVENTS - 1}) AS i""",
    f"""INSERT INTO asm_session_sequences (session_id, last_sequence)
    SELECT {SID.format(n="i")}, {EVENTS // SESSIONS} FROM generate_series(0, {SESSIONS - 1}) AS i""",
]


async def _load(url: str) -> None:
    await _truncate(url)
    connection = await asyncpg.connect(url)
    try:
        for statement in BULK:
            await connection.execute(statement, *([T0] if "$1" in statement else []))
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def big_url(query_pg_url: str) -> str:
    """The test database holding 20k sessions, 40k runs and 200k events, analysed."""
    asyncio.run(_load(query_pg_url))
    return query_pg_url


@pytest.fixture
async def recording_api(big_url: str) -> AsyncIterator[tuple[SQLQueryAPI, list[tuple[str, list[Any]]]]]:
    store = await open_store(big_url)
    api = SQLQueryAPI(store)  # type: ignore[arg-type]
    statements: list[tuple[str, list[Any]]] = []
    read = store.sql_read  # type: ignore[attr-defined]

    async def recorded(sql: str, args: Any) -> Any:
        statements.append((sql, list(args)))
        return await read(sql, args)

    store.sql_read = recorded  # type: ignore[attr-defined]
    try:
        yield api, statements
    finally:
        await store.close()


async def _plan(url: str, sql: str, args: list[Any]) -> dict[str, Any]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    finally:
        await connection.close()
    plan: dict[str, Any] = json.loads(rows[0][0])[0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


async def _assert_indexed(url: str, statements: list[tuple[str, list[Any]]], index: str) -> None:
    assert statements, "the query API ran no statement"
    for sql, args in statements:
        nodes = _nodes(await _plan(url, sql, args))
        scans = {(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes}
        assert not [s for s in scans if s[0] == "Seq Scan"], f"sequential scan in {scans} for {sql}"
        assert index in {s[2] for s in scans}, f"{index} not used: {scans}"


async def test_events_by_correlation_id_use_their_index(recording_api: Any, big_url: str) -> None:
    api, statements = recording_api
    page = await api.search_events(correlation_id="corr-1234", limit=5)
    assert [e.id for e in page.items][:1] and all(e.correlation_id == "corr-1234" for e in page.items)
    second = await api.search_events(correlation_id="corr-1234", limit=5, cursor=page.next_cursor)
    assert len(page.items) + len(second.items) == 10
    assert await api.count_events(correlation_id="corr-1234") == 10
    await _assert_indexed(big_url, statements, "asm_events_correlation_id")


async def test_sessions_by_tag_use_the_gin_index(recording_api: Any, big_url: str) -> None:
    api, statements = recording_api
    page = await api.search_sessions(tags=["vip"], limit=60, total_count=True)
    assert page.total_count == SESSIONS // 200
    assert all("vip" in s.tags for s in page.items)
    await api.search_sessions(tags=["vip"], limit=60, cursor=page.next_cursor)
    await _assert_indexed(big_url, statements, "asm_sessions_tags")


async def test_runs_by_provider_and_time_use_their_index(recording_api: Any, big_url: str) -> None:
    api, statements = recording_api
    start, end = T0 + timedelta(hours=100), T0 + timedelta(hours=500)
    page = await api.search_runs(provider="rare", started_after=start, started_before=end, limit=50)
    assert len(page.items) == 50 and page.next_cursor is not None
    assert all(r.provider == "rare" and start <= r.started_at <= end for r in page.items)
    rest = await api.search_runs(
        provider="rare", started_after=start, started_before=end, limit=1000, cursor=page.next_cursor
    )
    assert len(page.items) + len(rest.items) == 241
    await _assert_indexed(big_url, statements, "asm_runs_provider_started_at_id")
