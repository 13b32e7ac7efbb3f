"""`SQLQueryAPI`: the query API on the SQL stores (SQLite and PostgreSQL), every filter in the database.

Statements are written once in PostgreSQL's `$n` style with the store's `SqlText` builder and `Dialect`
(`sessions/sql/dialect.py`, which spells lists, tags and the token counters of `core.usage` per engine),
and run through the store's own engine (its connection pool or its SQLite reader threads,
`SQLSessionStore.sql_read`).

Paging is keyset everywhere: `(updated_at, id) < ($1, $2)` and the like, served by the indexes of
`sessions/sql/schema.py` plus those of migration `0002` (`asm_sessions (updated_at, id)`, a GIN index on
`asm_sessions.tags`, `asm_runs (provider, started_at, id)`). Runs ordered by `token_usage_desc` sort on the
token expression (there is no index on it): every page, deep or not, costs one pass over the matching runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..core.errors import SessionNotFound
from ..core.models import Event, Run, RunStatus, Session
from ..core.pagination import MAX_PAGE_SIZE
from ..core.usage import TOKEN_KEYS
from ..sessions.sql import statements as q
from ..sessions.sql.dialect import SqlText
from ..sessions.sql.rows import events_from_rows, run_from_row, session_from_row
from ..sessions.sql.store import SQLSessionStore
from .base import EventFilter, RunFilter, SessionFilter, SessionStats
from .engine import KeysetQueryAPI
from .keyset import Keyset, SortKey
from .summary import StoredCostRow, UnpricedRun, UsageRow, usage_summary

_SESSION_COLUMNS = {"updated_at": 's."updated_at"', "created_at": 's."created_at"', "id": 's."id"'}
_EVENT_COLUMNS = {
    "timestamp": 'e."timestamp"',
    "id": 'e."id"',
    "session_id": 'e."session_id"',
    "sequence_number": 'e."sequence_number"',
}


class SQLQueryAPI(KeysetQueryAPI):
    """`QueryAPI` over a `SQLiteSessionStore` or a `PostgresSessionStore`."""

    def __init__(self, store: SQLSessionStore) -> None:
        super().__init__(store)
        self.store: SQLSessionStore = store
        self.dialect = store.dialect
        self._run_columns = {
            "started_at": 'r."started_at"',
            "id": 'r."id"',
            "total_tokens": self.dialect.total('r."token_usage"'),
        }

    # -- sessions -------------------------------------------------------------------------------

    def _session_text(self, filters: SessionFilter) -> SqlText:
        sql = self.dialect.text()
        if not filters.include_deleted:
            sql.where('s."deleted_at" IS NULL')
        if filters.agent_id is not None:
            sql.where(f's."agent_id" = {sql.param(filters.agent_id)}')
        if filters.user_id is not None:
            sql.where(f's."user_id" = {sql.param(filters.user_id)}')
        if filters.statuses is not None:
            sql.where(sql.one_of('s."status"', sorted(filters.statuses)))
        if filters.tags is not None:
            sql.where(sql.has_all_tags('s."tags"', filters.tags))
        if filters.created_after is not None:
            sql.where(f's."created_at" >= {sql.ts(filters.created_after)}')
        if filters.created_before is not None:
            sql.where(f's."created_at" <= {sql.ts(filters.created_before)}')
        if filters.providers is not None:
            sql.where(
                "EXISTS (SELECT 1 FROM asm_runs r WHERE r.session_id = s.id AND "
                f"{sql.one_of('r.provider', filters.providers)})"
            )
        return sql

    async def _sessions(
        self, filters: SessionFilter, keyset: Keyset, after: SortKey | None, limit: int
    ) -> list[Session]:
        sql = self._session_text(filters)
        order = sql.keyset([_SESSION_COLUMNS[c] for c in keyset.columns], after, descending=keyset.descending)
        text = sql.sql(f"{q.SESSION_SELECT} s", f" ORDER BY {order} LIMIT {sql.param(limit)}")
        rows = await self.store.sql_read(text, sql.args)
        return [session_from_row(self.dialect, row) for row in rows]

    async def _count_sessions(self, filters: SessionFilter) -> int:
        sql = self._session_text(filters)
        rows = await self.store.sql_read(sql.sql("SELECT count(*) FROM asm_sessions s"), sql.args)
        return int(rows[0][0])

    # -- runs -----------------------------------------------------------------------------------

    def _run_text(self, filters: RunFilter) -> SqlText:
        sql = self.dialect.text()
        if filters.session_id is not None:
            sql.where(f'r."session_id" = {sql.param(filters.session_id)}')
        if filters.agent_id is not None:
            agent = sql.param(filters.agent_id)
            sql.where(f'r."session_id" IN (SELECT id FROM asm_sessions WHERE agent_id = {agent})')
        if filters.providers is not None:
            sql.where(sql.one_of('r."provider"', filters.providers))
        if filters.statuses is not None:
            sql.where(sql.one_of('r."status"', sorted(filters.statuses)))
        if filters.started_after is not None:
            sql.where(f'r."started_at" >= {sql.ts(filters.started_after)}')
        if filters.started_before is not None:
            sql.where(f'r."started_at" <= {sql.ts(filters.started_before)}')
        if filters.min_tokens is not None:
            sql.where(f"{self._run_columns['total_tokens']} >= {sql.param(filters.min_tokens)}")
        return sql

    async def _runs(self, filters: RunFilter, keyset: Keyset, after: SortKey | None, limit: int) -> list[Run]:
        sql = self._run_text(filters)
        order = sql.keyset(
            [self._run_columns[c] for c in keyset.columns], after, descending=keyset.descending
        )
        text = sql.sql(f"{q.RUN_SELECT} r", f" ORDER BY {order} LIMIT {sql.param(limit)}")
        rows = await self.store.sql_read(text, sql.args)
        return [run_from_row(self.dialect, row) for row in rows]

    async def _usage_rows(self, filters: RunFilter) -> list[UsageRow]:
        sql = self._run_text(filters)
        model = self.dialect.model('r."provider_metadata"')
        tokens = self.dialect.token_sums("r.token_usage")
        head = f'SELECT r."provider", {model}, count(*), {tokens} FROM asm_runs r'
        rows = await self.store.sql_read(sql.sql(head, " GROUP BY 1, 2"), sql.args)
        return [
            UsageRow(row[0], row[1], int(row[2]), dict(zip(TOKEN_KEYS, map(int, row[3:]), strict=True)))
            for row in rows
        ]

    async def _stored_costs(self, filters: RunFilter) -> list[StoredCostRow]:
        sql = self._run_text(filters)
        sql.where('r."cost_usd" IS NOT NULL')
        model = self.dialect.model('r."provider_metadata"')
        tokens = self.dialect.token_sums("r.token_usage")
        head = f'SELECT r."provider", {model}, count(*), sum(r."cost_usd"), {tokens} FROM asm_runs r'
        rows = await self.store.sql_read(sql.sql(head, " GROUP BY 1, 2"), sql.args)
        return [
            StoredCostRow(row[0], row[1], int(row[2]), float(row[3]), int(row[4]), int(row[5]))
            for row in rows
        ]

    async def _unpriced_runs(self, filters: RunFilter) -> AsyncIterator[UnpricedRun]:
        last: str | None = None
        model = self.dialect.model('r."provider_metadata"')
        while True:
            sql = self._run_text(filters)
            sql.where('r."cost_usd" IS NULL')
            if last is not None:
                sql.where(f'r."id" > {sql.param(last)}')
            head = f'SELECT r."id", r."provider", {model}, r."token_usage" FROM asm_runs r'
            tail = f' ORDER BY r."id" LIMIT {sql.param(MAX_PAGE_SIZE)}'
            rows = await self.store.sql_read(sql.sql(head, tail), sql.args)
            for row in rows:
                yield UnpricedRun(row[1], row[2], self.dialect.json_out(row[3]))
            if len(rows) < MAX_PAGE_SIZE:
                return
            last = rows[-1][0]

    # -- events ---------------------------------------------------------------------------------

    def _event_text(self, filters: EventFilter) -> SqlText:
        sql = self.dialect.text()
        if filters.session_ids is not None:
            sql.where(sql.one_of('e."session_id"', filters.session_ids))
        if filters.run_ids is not None:
            sql.where(sql.one_of('e."run_id"', filters.run_ids))
        if filters.types is not None:
            sql.where(sql.one_of('e."type"', sorted(filters.types)))
        if filters.providers is not None:
            sql.where(sql.one_of('e."provider"', filters.providers))
        if filters.since is not None:
            sql.where(f'e."timestamp" >= {sql.ts(filters.since)}')
        if filters.until is not None:
            sql.where(f'e."timestamp" <= {sql.ts(filters.until)}')
        if filters.correlation_id is not None:
            sql.where(f'e."correlation_id" = {sql.param(filters.correlation_id)}')
        return sql

    async def _events(
        self, filters: EventFilter, keyset: Keyset, after: SortKey | None, limit: int
    ) -> list[Event]:
        sql = self._event_text(filters)
        order = sql.keyset([_EVENT_COLUMNS[c] for c in keyset.columns], after, descending=keyset.descending)
        text = sql.sql(f"{q.EVENT_SELECT} e", f" ORDER BY {order} LIMIT {sql.param(limit)}")
        rows = await self.store.sql_read(text, sql.args)
        return events_from_rows(self.dialect, rows)

    async def _count_events(self, filters: EventFilter) -> int:
        sql = self._event_text(filters)
        rows = await self.store.sql_read(sql.sql("SELECT count(*) FROM asm_events e"), sql.args)
        return int(rows[0][0])

    # -- statistics -----------------------------------------------------------------------------

    async def get_session_stats(self, session_id: str) -> SessionStats:
        dialect = self.dialect
        latest = await self.store.sql_read(q.LATEST_SEQUENCE, [session_id])
        if not latest:
            raise SessionNotFound(f"session {session_id!r} not found", details={"session_id": session_id})
        events = await self.store.sql_read(
            'SELECT count(*), min("timestamp"), max("timestamp") FROM asm_events WHERE session_id = $1',
            [session_id],
        )
        model = self.dialect.model('r."provider_metadata"')
        tokens = self.dialect.token_sums("r.token_usage")
        runs = await self.store.sql_read(
            f'SELECT r."status", r."provider", {model}, count(*), {tokens} FROM asm_runs r '
            "WHERE r.session_id = $1 GROUP BY 1, 2, 3",
            [session_id],
        )
        providers = await self.store.sql_read(
            "SELECT provider FROM asm_events WHERE session_id = $1 AND provider IS NOT NULL "
            "GROUP BY provider",
            [session_id],
        )
        artifacts = await self.store.sql_read(q.ARTIFACT_TOTALS, [session_id])
        statuses: dict[RunStatus, int] = {}
        for row in runs:
            statuses[RunStatus(row[0])] = statuses.get(RunStatus(row[0]), 0) + int(row[3])
        usage = usage_summary(
            UsageRow(row[1], row[2], int(row[3]), dict(zip(TOKEN_KEYS, map(int, row[4:]), strict=True)))
            for row in runs
        )
        used = {row[1] for row in runs if row[1] is not None} | {row[0] for row in providers}
        count, first, last = events[0]
        return SessionStats(
            session_id=session_id,
            event_count=int(count),
            latest_sequence=int(latest[0][0] or 0),
            first_event_at=dialect.ts_out(first),
            last_event_at=dialect.ts_out(last),
            run_count=usage.run_count,
            status_counts=statuses,
            token_totals=usage.token_totals(),
            providers_used=sorted(used),
            artifact_count=int(artifacts[0][0]) if artifacts else 0,
            artifact_bytes=int(artifacts[0][1]) if artifacts else 0,
        )
