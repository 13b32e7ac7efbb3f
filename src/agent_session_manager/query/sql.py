"""`SQLQueryAPI`: the query API on the SQL stores (SQLite and PostgreSQL), every filter in the database.

Statements are written once in PostgreSQL's `$n` style and run through the store's own engine (its
connection pool or its SQLite reader threads, `SQLSessionStore.sql_read`). `SqlText` collects a statement's
parameters; `SqlDialect` spells what the engines spell differently: lists (`= ANY($1::text[])` vs
`IN (SELECT value FROM json_each(?1))`), tag containment (`tags @> $1` on a GIN index vs `json_each`), and
JSON numbers in `token_usage` (the token rule of `core.usage`, restated in SQL and checked against the
Python one by the contract suite).

Paging is keyset everywhere: `(updated_at, id) < ($1, $2)` and the like, served by the indexes of
`sessions/sql/schema.py` plus those of migration `0002` (`asm_sessions (updated_at, id)`, a GIN index on
`asm_sessions.tags`, `asm_runs (provider, started_at, id)`). Runs ordered by `token_usage_desc` sort on the
token expression (there is no index on it): every page, deep or not, costs one pass over the matching runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from ..core.errors import SessionNotFound
from ..core.models import Event, Run, RunStatus, Session
from ..core.pagination import MAX_PAGE_SIZE
from ..core.usage import CACHE_CREATION, CACHE_READ, COUNTERS, INPUT, OUTPUT, TOTAL
from ..sessions.sql import statements as q
from ..sessions.sql.rows import Row, event_from_row, run_from_row, session_from_row
from ..sessions.sql.store import SQLSessionStore
from .base import EventFilter, RunFilter, SessionFilter, SessionStats
from .engine import KeysetQueryAPI
from .keyset import Keyset, SortKey
from .summary import StoredCostRow, UnpricedRun, UsageRow, usage_summary


class SqlText:
    """The parameters of one statement, numbered `$1`, `$2`, ... as they are added."""

    def __init__(self, dialect: SqlDialect) -> None:
        self.dialect = dialect
        self.args: list[Any] = []
        self.conditions: list[str] = []

    def nested(self) -> SqlText:
        """A statement part with its own conditions that numbers its parameters with this one."""
        child = SqlText(self.dialect)
        child.args = self.args
        return child

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def ts(self, value: datetime) -> str:
        return self.param(self.dialect.store.dialect.timestamp_in(value))

    def where(self, condition: str) -> None:
        self.conditions.append(condition)

    def one_of(self, column: str, values: Iterable[str]) -> str:
        """`column` equals one of `values` (one parameter, whatever the number of values; a single value
        is a plain `=`, which lets the planner use an index's order)."""
        items = list(values)
        if len(items) == 1:
            return f"{column} = {self.param(items[0])}"
        if self.dialect.postgres:
            return f"{column} = ANY({self.param(items)}::text[])"
        return f"{column} IN (SELECT value FROM json_each({self.param(orjson.dumps(items).decode())}))"

    def none_of(self, column: str, values: Iterable[str]) -> str:
        return f"NOT ({self.one_of(column, values)})"

    def has_all_tags(self, column: str, tags: Sequence[str]) -> str:
        if self.dialect.postgres:
            return f"{column} @> {self.param(list(tags))}::text[]"
        chosen = self.param(orjson.dumps(list(tags)).decode())
        return (
            f"(SELECT count(DISTINCT t.value) FROM json_each({column}) t "
            f"WHERE t.value IN (SELECT value FROM json_each({chosen}))) = {len(tags)}"
        )

    def has_any_tag(self, column: str, tags: Iterable[str]) -> str:
        if self.dialect.postgres:
            return f"{column} && {self.param(sorted(tags))}::text[]"
        chosen = self.param(orjson.dumps(sorted(tags)).decode())
        return (
            f"EXISTS (SELECT 1 FROM json_each({column}) t "
            f"WHERE t.value IN (SELECT value FROM json_each({chosen})))"
        )

    def keyset(self, keyset: Keyset, columns: Sequence[str], after: SortKey | None) -> str:
        """Add the "after the cursor" condition; return the ORDER BY list."""
        direction = "DESC" if keyset.descending else "ASC"
        if after is not None:
            values = [self.ts(v) if isinstance(v, datetime) else self.param(v) for v in after]
            self.where(self.after(columns, values, keyset.descending))
        return ", ".join(f"{column} {direction}" for column in columns)

    @staticmethod
    def after(columns: Sequence[str], values: Sequence[str], descending: bool = False) -> str:
        """`(columns) > (values)` (`<` when descending), plus the same bound on the first column alone:
        an index on that column alone cannot use the row comparison, and would otherwise start from
        its first entry (and, after deletes, wade through dead entries) on every page."""
        op = "<" if descending else ">"
        return f"{columns[0]} {op}= {values[0]} AND ({', '.join(columns)}) {op} ({', '.join(values)})"

    def sql(self, head: str, tail: str = "") -> str:
        where = f" WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
        return f"{head}{where}{tail}"


class SqlDialect:
    """How SQLite and PostgreSQL spell JSON extraction; bound to one store for its engine."""

    def __init__(self, store: SQLSessionStore) -> None:
        self.store = store
        self.postgres = store.dialect.name == "postgresql"

    async def read(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return await self.store.sql_read(sql, args)

    async def write(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """One statement in its own transaction."""
        return await self.store.sql_write(sql, args)

    def text(self) -> SqlText:
        return SqlText(self)

    def _number(self, column: str, key: str) -> str:
        if self.postgres:
            return (
                f"(CASE WHEN jsonb_typeof({column}->'{key}') = 'number' "
                f"THEN trunc(({column}->>'{key}')::numeric)::bigint ELSE 0 END)"
            )
        return (
            f"(CASE WHEN json_type({column}, '$.{key}') IN ('integer', 'real') "
            f"THEN CAST(json_extract({column}, '$.{key}') AS INTEGER) ELSE 0 END)"
        )

    def _present(self, column: str, key: str) -> str:
        if self.postgres:
            return f"{column}->'{key}' IS NOT NULL"
        return f"json_type({column}, '$.{key}') IS NOT NULL"

    def counter(self, column: str, counter: str) -> str:
        """The SQL of one token counter of `core.usage` (first present name wins)."""
        names = dict(COUNTERS)[counter]
        expression = self._number(column, names[-1])
        for name in reversed(names[:-1]):
            present, number = self._present(column, name), self._number(column, name)
            expression = f"(CASE WHEN {present} THEN {number} ELSE {expression} END)"
        return expression

    def total(self, column: str) -> str:
        """A run's total tokens: `total_tokens` if numeric, else the sum of its other counters."""
        parts = " + ".join(self.counter(column, name) for name, _ in COUNTERS)
        if self.postgres:
            numeric = f"jsonb_typeof({column}->'{TOTAL}') = 'number'"
        else:
            numeric = f"json_type({column}, '$.{TOTAL}') IN ('integer', 'real')"
        return f"(CASE WHEN {numeric} THEN {self._number(column, TOTAL)} ELSE {parts} END)"

    def model(self, column: str) -> str:
        """`provider_metadata.model` when it is a string, else NULL."""
        if self.postgres:
            return f"(CASE WHEN jsonb_typeof({column}->'model') = 'string' THEN {column}->>'model' END)"
        return (
            f"(CASE WHEN json_type({column}, '$.model') = 'text' THEN json_extract({column}, '$.model') END)"
        )

    def token_sums(self, column: str) -> str:
        """`sum(...)` of every counter, in `TOKEN_SUMS` order."""
        parts = [self.counter(column, INPUT), self.counter(column, OUTPUT), self.total(column)]
        parts += [self.counter(column, CACHE_READ), self.counter(column, CACHE_CREATION)]
        return ", ".join(f"coalesce(sum({part}), 0)" for part in parts)


#: The order of the counters `SqlDialect.token_sums` returns.
TOKEN_SUMS = (INPUT, OUTPUT, TOTAL, CACHE_READ, CACHE_CREATION)

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
        self.db = SqlDialect(store)
        self.dialect = store.dialect
        self._run_columns = {
            "started_at": 'r."started_at"',
            "id": 'r."id"',
            "total_tokens": self.db.total('r."token_usage"'),
        }

    # -- sessions -------------------------------------------------------------------------------

    def _session_text(self, filters: SessionFilter) -> SqlText:
        sql = self.db.text()
        if not filters.include_deleted:
            sql.where('s."deleted_at" IS NULL')
        if filters.agent_id is not None:
            sql.where(f's."agent_id" = {sql.param(filters.agent_id)}')
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
        order = sql.keyset(keyset, [_SESSION_COLUMNS[c] for c in keyset.columns], after)
        text = sql.sql(f"{q.SESSION_SELECT} s", f" ORDER BY {order} LIMIT {sql.param(limit)}")
        rows = await self.db.read(text, sql.args)
        return [session_from_row(self.dialect, row) for row in rows]

    async def _count_sessions(self, filters: SessionFilter) -> int:
        sql = self._session_text(filters)
        rows = await self.db.read(sql.sql("SELECT count(*) FROM asm_sessions s"), sql.args)
        return int(rows[0][0])

    # -- runs -----------------------------------------------------------------------------------

    def _run_text(self, filters: RunFilter) -> SqlText:
        sql = self.db.text()
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
        order = sql.keyset(keyset, [self._run_columns[c] for c in keyset.columns], after)
        text = sql.sql(f"{q.RUN_SELECT} r", f" ORDER BY {order} LIMIT {sql.param(limit)}")
        rows = await self.db.read(text, sql.args)
        return [run_from_row(self.dialect, row) for row in rows]

    async def _usage_rows(self, filters: RunFilter) -> list[UsageRow]:
        sql = self._run_text(filters)
        model = self.db.model('r."provider_metadata"')
        head = (
            f'SELECT r."provider", {model}, count(*), {self.db.token_sums("r.token_usage")} FROM asm_runs r'
        )
        rows = await self.db.read(sql.sql(head, " GROUP BY 1, 2"), sql.args)
        return [
            UsageRow(row[0], row[1], int(row[2]), dict(zip(TOKEN_SUMS, map(int, row[3:]), strict=True)))
            for row in rows
        ]

    async def _stored_costs(self, filters: RunFilter) -> list[StoredCostRow]:
        sql = self._run_text(filters)
        sql.where('r."cost_usd" IS NOT NULL')
        model = self.db.model('r."provider_metadata"')
        tokens = self.db.token_sums("r.token_usage")
        head = f'SELECT r."provider", {model}, count(*), sum(r."cost_usd"), {tokens} FROM asm_runs r'
        rows = await self.db.read(sql.sql(head, " GROUP BY 1, 2"), sql.args)
        return [
            StoredCostRow(row[0], row[1], int(row[2]), float(row[3]), int(row[4]), int(row[5]))
            for row in rows
        ]

    async def _unpriced_runs(self, filters: RunFilter) -> AsyncIterator[UnpricedRun]:
        last: str | None = None
        model = self.db.model('r."provider_metadata"')
        while True:
            sql = self._run_text(filters)
            sql.where('r."cost_usd" IS NULL')
            if last is not None:
                sql.where(f'r."id" > {sql.param(last)}')
            head = f'SELECT r."id", r."provider", {model}, r."token_usage" FROM asm_runs r'
            tail = f' ORDER BY r."id" LIMIT {sql.param(MAX_PAGE_SIZE)}'
            rows = await self.db.read(sql.sql(head, tail), sql.args)
            for row in rows:
                yield UnpricedRun(row[1], row[2], self.dialect.json_out(row[3]))
            if len(rows) < MAX_PAGE_SIZE:
                return
            last = rows[-1][0]

    # -- events ---------------------------------------------------------------------------------

    def _event_text(self, filters: EventFilter) -> SqlText:
        sql = self.db.text()
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
        order = sql.keyset(keyset, [_EVENT_COLUMNS[c] for c in keyset.columns], after)
        text = sql.sql(f"{q.EVENT_SELECT} e", f" ORDER BY {order} LIMIT {sql.param(limit)}")
        rows = await self.db.read(text, sql.args)
        return [event_from_row(self.dialect, row) for row in rows]

    async def _count_events(self, filters: EventFilter) -> int:
        sql = self._event_text(filters)
        rows = await self.db.read(sql.sql("SELECT count(*) FROM asm_events e"), sql.args)
        return int(rows[0][0])

    # -- statistics -----------------------------------------------------------------------------

    async def get_session_stats(self, session_id: str) -> SessionStats:
        dialect = self.dialect
        latest = await self.db.read(q.LATEST_SEQUENCE, [session_id])
        if not latest:
            raise SessionNotFound(f"session {session_id!r} not found", details={"session_id": session_id})
        events = await self.db.read(
            'SELECT count(*), min("timestamp"), max("timestamp") FROM asm_events WHERE session_id = $1',
            [session_id],
        )
        model = self.db.model('r."provider_metadata"')
        tokens = self.db.token_sums("r.token_usage")
        runs = await self.db.read(
            f'SELECT r."status", r."provider", {model}, count(*), {tokens} FROM asm_runs r '
            "WHERE r.session_id = $1 GROUP BY 1, 2, 3",
            [session_id],
        )
        providers = await self.db.read(
            "SELECT provider FROM asm_events WHERE session_id = $1 AND provider IS NOT NULL "
            "GROUP BY provider",
            [session_id],
        )
        artifacts = await self.db.read(q.ARTIFACT_TOTALS, [session_id])
        statuses: dict[RunStatus, int] = {}
        for row in runs:
            statuses[RunStatus(row[0])] = statuses.get(RunStatus(row[0]), 0) + int(row[3])
        usage = usage_summary(
            UsageRow(row[1], row[2], int(row[3]), dict(zip(TOKEN_SUMS, map(int, row[4:]), strict=True)))
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
