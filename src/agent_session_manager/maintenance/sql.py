"""`SQLMaintenance`: retention and repair on the SQL stores (SQLite and PostgreSQL).

Each primitive of `BatchedMaintenance` is one statement, so each batch is its own short transaction:
an `UPDATE ... WHERE id IN (batch) AND <still qualifies> RETURNING id` for soft delete (a session that
became active meanwhile is left alone), and for pruning without an archive a single
`DELETE ... WHERE id IN (SELECT id ... ORDER BY ... LIMIT batch) RETURNING ...`, one round trip per batch
like a bare batched `DELETE`. With an archive, the batch is read first, archived, then deleted by id.
Deletes take row locks only on the old events they remove; appends insert new rows and update the
session's counter, which pruning never touches, so they do not wait for each other on PostgreSQL (on
SQLite every write waits for the current one, which lasts one batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..artifacts.base import ArtifactStore
from ..core.models import ArtifactRecord, Event, EventType
from ..sessions.sql import statements as q
from ..sessions.sql.dialect import SqlText
from ..sessions.sql.rows import EVENT_COLUMNS, artifact_from_row, event_from_row
from ..sessions.sql.store import SQLSessionStore
from .base import HealthIssue, IssueKind
from .engine import BatchedMaintenance, EventKey, Expiry, Scope, Take, counter_behind
from .policy import PROTECTED_EVENT_TYPES

_PROTECTED = sorted(PROTECTED_EVENT_TYPES)
_EVENT_COLUMNS = ", ".join(f'e."{column}"' for column in EVENT_COLUMNS)


def _in_scope(sql: SqlText, scope: Scope, s: str) -> None:
    """Conditions on sessions table alias `s` for "a policy with `scope` may touch it"."""
    if scope.exempt_statuses:
        sql.where(sql.none_of(f"{s}.status", sorted(scope.exempt_statuses)))
    if scope.exempt_tags:
        sql.where(f"NOT ({sql.has_any_tag(f'{s}.tags', scope.exempt_tags)})")
    if scope.purge_before is not None:
        sql.where(f"({s}.deleted_at IS NULL OR {s}.deleted_at >= {sql.ts(scope.purge_before)})")


def _expired(sql: SqlText, expiry: Expiry, scope: Scope, s: str) -> None:
    sql.where(f"{s}.deleted_at IS NULL")
    _in_scope(sql, scope, s)
    reasons = []
    if expiry.created_before is not None:
        reasons.append(f"{s}.created_at < {sql.ts(expiry.created_before)}")
    if expiry.ended_before is not None:
        ended = sql.one_of(f"{s}.status", sorted(expiry.ended_statuses))
        reasons.append(f"({ended} AND {s}.updated_at < {sql.ts(expiry.ended_before)})")
    sql.where(f"({' OR '.join(reasons)})")


def _type_condition(sql: SqlText, types: frozenset[EventType] | None, e: str) -> str:
    """Events of `types` (None: of any unprotected type; see `policy.is_protected`)."""
    if types is None:
        return f"{sql.none_of(f'{e}.type', _PROTECTED)} AND {e}.type NOT LIKE '%.%'"
    return sql.one_of(f"{e}.type", sorted(types - PROTECTED_EVENT_TYPES))


def _after(sql: SqlText, column: str, after: str | None) -> None:
    if after is not None:
        sql.where(f"{column} > {sql.param(after)}")


class SQLMaintenance(BatchedMaintenance):
    """`Maintenance` over a `SQLiteSessionStore` or a `PostgresSessionStore`."""

    #: SQLite allows 500 terms in a compound SELECT; PostgreSQL takes arrays of any length.
    SQLITE_SESSIONS_PER_STATEMENT = 100

    def __init__(
        self,
        store: SQLSessionStore,
        artifacts: ArtifactStore | None = None,
        *,
        unregistered_blob_grace: timedelta | None = None,
    ) -> None:
        super().__init__(store, artifacts, unregistered_blob_grace=unregistered_blob_grace)
        self.store: SQLSessionStore = store
        self.dialect = store.dialect
        if not self.dialect.postgres:
            self.sessions_per_statement = self.SQLITE_SESSIONS_PER_STATEMENT

    async def _ids(self, sql: SqlText, head: str, column: str, limit: int) -> list[str]:
        rows = await self.store.sql_read(
            sql.sql(head, f" ORDER BY {column} LIMIT {sql.param(limit)}"), sql.args
        )
        return [row[0] for row in rows]

    async def _expired_sessions(
        self, expiry: Expiry, scope: Scope, after: str | None, limit: int
    ) -> list[str]:
        sql = self.dialect.text()
        _expired(sql, expiry, scope, "s")
        _after(sql, "s.id", after)
        return await self._ids(sql, "SELECT s.id FROM asm_sessions s", "s.id", limit)

    async def _mark_deleted(self, ids: Sequence[str], expiry: Expiry, scope: Scope, now: datetime) -> int:
        sql = self.dialect.text()
        stamp = sql.ts(now)
        sql.where(sql.one_of("s.id", ids))
        _expired(sql, expiry, scope, "s")
        text = sql.sql(f"UPDATE asm_sessions AS s SET deleted_at = {stamp}", " RETURNING id")
        rows = await self.store.sql_write(text, sql.args)
        return len(rows)

    async def _purgeable_sessions(self, before: datetime, after: str | None, limit: int) -> list[str]:
        sql = self.dialect.text()
        sql.where(f"s.deleted_at < {sql.ts(before)}")
        _after(sql, "s.id", after)
        return await self._ids(sql, "SELECT s.id FROM asm_sessions s", "s.id", limit)

    async def _event_counts(
        self, more_than: int, scope: Scope, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        sql = self.dialect.text()
        sql.where(f"c.last_sequence > {sql.param(more_than)}")
        _in_scope(sql, scope, "s")
        _after(sql, "c.session_id", after)
        head = (
            "SELECT c.session_id, (SELECT count(*) FROM asm_events e WHERE e.session_id = c.session_id) "
            "FROM asm_session_sequences c JOIN asm_sessions s ON s.id = c.session_id"
        )
        rows = await self.store.sql_read(
            sql.sql(head, f" ORDER BY c.session_id LIMIT {sql.param(limit)}"), sql.args
        )
        return [(row[0], int(row[1])) for row in rows]

    async def _session_event_count(self, session_id: str) -> int:
        rows = await self.store.sql_read(
            "SELECT count(*) FROM asm_events WHERE session_id = $1", [session_id]
        )
        return int(rows[0][0])

    async def _count_events(self, purge_before: datetime | None) -> int:
        sql = self.dialect.text()
        if purge_before is not None:
            sql.where(
                "NOT EXISTS (SELECT 1 FROM asm_sessions s WHERE s.id = e.session_id "
                f"AND s.deleted_at < {sql.ts(purge_before)})"
            )
        rows = await self.store.sql_read(sql.sql("SELECT count(*) FROM asm_events e"), sql.args)
        return int(rows[0][0])

    def _scoped(self, scope: Scope) -> SqlText:
        """Events (alias `e`) that store-wide pruning may take: no exempt or purge-due session owns them.

        Written as an anti-join on the exempt sessions: PostgreSQL's generic plan for a prepared
        statement cannot estimate "not exempt" and would otherwise start from the sessions and read
        every event of each of them, instead of walking the `(timestamp)` index for one batch."""
        sql = self.dialect.text()
        inner = sql.nested()
        if scope.exempt_statuses:
            inner.where(inner.one_of("s.status", sorted(scope.exempt_statuses)))
        if scope.exempt_tags:
            inner.where(inner.has_any_tag("s.tags", scope.exempt_tags))
        if scope.purge_before is not None:
            inner.where(f"s.deleted_at < {inner.ts(scope.purge_before)}")
        if inner.conditions:
            exempt = " OR ".join(inner.conditions)
            sql.where(f"NOT EXISTS (SELECT 1 FROM asm_sessions s WHERE s.id = e.session_id AND ({exempt}))")
        return sql

    async def _count_prunable(self, scope: Scope) -> int:
        sql = self._scoped(scope)
        sql.where(_type_condition(sql, None, "e"))
        rows = await self.store.sql_read(sql.sql("SELECT count(*) FROM asm_events e"), sql.args)
        return int(rows[0][0])

    async def _prunable_counts(self, session_ids: Sequence[str]) -> dict[str, int]:
        sql = self.dialect.text()
        sql.where(sql.one_of("e.session_id", session_ids))
        sql.where(_type_condition(sql, None, "e"))
        head = "SELECT e.session_id, count(*) FROM asm_events e"
        rows = await self.store.sql_read(sql.sql(head, " GROUP BY e.session_id"), sql.args)
        return {row[0]: int(row[1]) for row in rows}

    def _in_sessions(
        self, requests: Sequence[Take], types: frozenset[EventType] | None, columns: str
    ) -> tuple[str, list[Any]]:
        """Each request's oldest events, each from its own index range: one LATERAL join over arrays on
        PostgreSQL, a UNION ALL of `LIMIT`ed subqueries on SQLite."""
        sql = self.dialect.text()
        kinds = _type_condition(sql, types, "e")
        pick = (
            f"SELECT {columns} FROM asm_events e WHERE e.session_id = {{0}} AND e.sequence_number > {{1}} "
            f"AND {kinds} ORDER BY e.sequence_number LIMIT {{2}}"
        )
        if self.dialect.postgres:
            ids = sql.param([r.session_id for r in requests])
            counts = sql.param([r.count for r in requests])
            afters = sql.param([r.after for r in requests])
            text = (
                f"SELECT x.* FROM unnest({ids}::text[], {counts}::bigint[], {afters}::bigint[]) "
                f"AS q(sid, n, after) CROSS JOIN LATERAL ({pick.format('q.sid', 'q.after', 'q.n')}) x"
            )
            return text, sql.args
        parts = [
            f"SELECT * FROM ({pick.format(sql.param(r.session_id), sql.param(r.after), sql.param(r.count))})"
            for r in requests
        ]
        return " UNION ALL ".join(parts), sql.args

    async def _oldest_in_sessions(
        self, requests: Sequence[Take], types: frozenset[EventType] | None
    ) -> list[Event]:
        text, args = self._in_sessions(requests, types, _EVENT_COLUMNS)
        return [event_from_row(self.dialect, row) for row in await self.store.sql_read(text, args)]

    async def _delete_oldest_in_sessions(
        self, requests: Sequence[Take], types: frozenset[EventType] | None
    ) -> list[tuple[str, int]]:
        text, args = self._in_sessions(requests, types, "e.id")
        rows = await self.store.sql_write(
            f"DELETE FROM asm_events WHERE id IN ({text}) RETURNING session_id, sequence_number", args
        )
        return [(row[0], int(row[1])) for row in rows]

    def _oldest(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int, head: str
    ) -> tuple[str, list[Any]]:
        sql = self._scoped(scope)
        sql.where(_type_condition(sql, types, "e"))
        if after is not None:
            sql.where(sql.after(['e."timestamp"', "e.id"], [sql.ts(after[0]), sql.param(after[1])]))
        return sql.sql(head, f' ORDER BY e."timestamp", e.id LIMIT {sql.param(limit)}'), sql.args

    async def _oldest_events(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int
    ) -> list[Event]:
        text, args = self._oldest(scope, types, after, limit, f"SELECT {_EVENT_COLUMNS} FROM asm_events e")
        return [event_from_row(self.dialect, row) for row in await self.store.sql_read(text, args)]

    async def _delete_oldest(
        self, scope: Scope, types: frozenset[EventType] | None, after: EventKey | None, limit: int
    ) -> list[EventKey]:
        text, args = self._oldest(scope, types, after, limit, "SELECT e.id FROM asm_events e")
        rows = await self.store.sql_write(
            f'DELETE FROM asm_events WHERE id IN ({text}) RETURNING "timestamp", id', args
        )
        return [(self.dialect.timestamp_out(row[0]), row[1]) for row in rows]

    async def _delete_events(self, events: Sequence[Event]) -> int:
        sql = self.dialect.text()
        sql.where(sql.one_of("id", [e.id for e in events]))
        rows = await self.store.sql_write(sql.sql("DELETE FROM asm_events", " RETURNING id"), sql.args)
        return len(rows)

    async def _orphan_artifact_records(self, after: str | None, limit: int) -> list[ArtifactRecord]:
        sql = self.dialect.text()
        sql.where("a.session_id IS NOT NULL")
        sql.where("NOT EXISTS (SELECT 1 FROM asm_sessions s WHERE s.id = a.session_id)")
        _after(sql, "a.key", after)
        text = sql.sql(f"{q.ARTIFACT_SELECT} a", f" ORDER BY a.key LIMIT {sql.param(limit)}")
        rows = await self.store.sql_read(text, sql.args)
        return [artifact_from_row(self.dialect, row) for row in rows]

    async def _orphan_counters(self, after: str | None, limit: int) -> list[str]:
        sql = self.dialect.text()
        sql.where("NOT EXISTS (SELECT 1 FROM asm_sessions s WHERE s.id = c.session_id)")
        _after(sql, "c.session_id", after)
        return await self._ids(sql, "SELECT c.session_id FROM asm_session_sequences c", "c.session_id", limit)

    async def _delete_counters(self, session_ids: Sequence[str]) -> int:
        sql = self.dialect.text()
        sql.where(sql.one_of("c.session_id", session_ids))
        sql.where("NOT EXISTS (SELECT 1 FROM asm_sessions s WHERE s.id = c.session_id)")
        rows = await self.store.sql_write(
            sql.sql("DELETE FROM asm_session_sequences AS c", " RETURNING session_id"), sql.args
        )
        return len(rows)

    async def health_check(self) -> list[HealthIssue]:
        issues: list[HealthIssue] = []
        checks: list[tuple[IssueKind, str, str]] = [
            ("events_without_session", "asm_events", "events reference"),
            ("runs_without_session", "asm_runs", "runs reference"),
            ("artifacts_without_session", "asm_artifacts", "artifact records reference"),
            ("counter_without_session", "asm_session_sequences", "sequence counters belong to"),
        ]
        for kind, table, what in checks:
            rows = await self.store.sql_read(
                f"SELECT count(*) FROM {table} x WHERE x.session_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM asm_sessions s WHERE s.id = x.session_id)",
                [],
            )
            count = int(rows[0][0])
            if count:
                issues.append(HealthIssue(kind=kind, count=count, message=f"{count} {what} missing sessions"))
        behind = await self.store.sql_read(
            "SELECT e.session_id, max(e.sequence_number), coalesce(max(c.last_sequence), 0) "
            "FROM asm_events e LEFT JOIN asm_session_sequences c ON c.session_id = e.session_id "
            "GROUP BY e.session_id HAVING max(e.sequence_number) > coalesce(max(c.last_sequence), 0) "
            "ORDER BY e.session_id",
            [],
        )
        issues.extend(
            counter_behind(session_id, int(highest), int(counter)) for session_id, highest, counter in behind
        )
        return issues
