"""The SQL both engines run, written once in PostgreSQL's `$n` style (`Dialect.sql` adapts it to SQLite).

Writes that must respect a rule do so in the statement itself, so there is no read-then-write race:
a session or run upsert changes a stored row only if the status change is allowed by the state machine of
`core.models` (the transition table is rendered into the SQL), and a run upsert only if its session
exists and the stored run belongs to the same session. A statement that returns no row was refused; the
store then reads why (`session_refusal` / `run_refusal` in `store.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...core.models import RUN_TRANSITIONS, SESSION_TRANSITIONS
from .rows import ARTIFACT_COLUMNS, EVENT_COLUMNS, RUN_COLUMNS, SESSION_COLUMNS


def column_list(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _params(casts: tuple[str, ...]) -> str:
    return ", ".join(f"${i}{'::' + cast if cast else ''}" for i, cast in enumerate(casts, 1))


def _assignments(names: tuple[str, ...], skip: tuple[str, ...] = ("id",)) -> str:
    return ", ".join(f'"{name}" = excluded."{name}"' for name in names if name not in skip)


def _transitions(table: str, transitions: Mapping[Any, frozenset[Any]]) -> str:
    """SQL true when `table.status -> excluded.status` is allowed (staying put always is)."""
    pairs = ", ".join(
        f"('{old.value}', '{new.value}')" for old, targets in transitions.items() for new in targets
    )
    return f"({table}.status = excluded.status OR ({table}.status, excluded.status) IN (VALUES {pairs}))"


SESSION_SELECT = f"SELECT {column_list(SESSION_COLUMNS)} FROM asm_sessions"
RUN_SELECT = f"SELECT {column_list(RUN_COLUMNS)} FROM asm_runs"
EVENT_SELECT = f"SELECT {column_list(EVENT_COLUMNS)} FROM asm_events"
ARTIFACT_SELECT = f"SELECT {column_list(ARTIFACT_COLUMNS)} FROM asm_artifacts"

_SESSION_CASTS = (
    "text",
    "text",
    "text",
    "text",
    "jsonb",
    "jsonb",
    "text[]",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "text",
)
_RUN_CASTS = (
    "text",
    "text",
    "text",
    "jsonb",
    "jsonb",
    "jsonb",
    "jsonb",
    "integer",
    "jsonb",
    "float8",
    "timestamptz",
    "timestamptz",
    "text",
    "jsonb",
)
#: PostgreSQL types of `EVENT_COLUMNS`, for statements that need explicit casts.
EVENT_CASTS = (
    "text",
    "text",
    "timestamptz",
    "text",
    "text",
    "bigint",
    "jsonb",
    "jsonb",
    "integer",
    "text",
    "text",
)
_ARTIFACT_CASTS = (
    "text",
    "text",
    "text",
    "text",
    "text",
    "bigint",
    "text",
    "text",
    "text",
    "jsonb",
    "timestamptz",
    "timestamptz",
)

#: Insert or update a session; refused (no row) when the status change is not allowed. An update sets
#: `updated_at` to the time of the save (the parameter after the columns); the row's `updated_at` is
#: returned.
UPSERT_SESSION = (
    f"INSERT INTO asm_sessions ({column_list(SESSION_COLUMNS)}) VALUES ({_params(_SESSION_CASTS)}) "
    f"ON CONFLICT (id) DO UPDATE SET {_assignments(SESSION_COLUMNS, skip=('id', 'updated_at'))}, "
    f'"updated_at" = ${len(_SESSION_CASTS) + 1}::timestamptz '
    f"WHERE {_transitions('asm_sessions', SESSION_TRANSITIONS)} RETURNING updated_at"
)

#: Insert or update a run; refused when its session is missing, the stored run belongs to another
#: session, or the status change is not allowed.
UPSERT_RUN = (
    f"INSERT INTO asm_runs ({column_list(RUN_COLUMNS)}) SELECT {_params(_RUN_CASTS)} "
    "WHERE EXISTS (SELECT 1 FROM asm_sessions WHERE id = $2::text) "
    f"ON CONFLICT (id) DO UPDATE SET {_assignments(RUN_COLUMNS)} "
    "WHERE asm_runs.session_id = excluded.session_id "
    f"AND {_transitions('asm_runs', RUN_TRANSITIONS)} RETURNING id"
)

SESSION_STATUS = "SELECT status FROM asm_sessions WHERE id = $1"
RUN_OWNER = "SELECT session_id, status FROM asm_runs WHERE id = $1"
SESSION_EXISTS = "SELECT 1 FROM asm_sessions WHERE id = $1"
GET_SESSION = f"{SESSION_SELECT} WHERE id = $1"
GET_RUN = f"{RUN_SELECT} WHERE id = $1"
ACTIVE_RUN = (
    f"{RUN_SELECT} WHERE session_id = $1 AND status = 'running' ORDER BY started_at DESC, id DESC LIMIT 1"
)
LATEST_SEQUENCE = (
    "SELECT q.last_sequence FROM asm_sessions s "
    "LEFT JOIN asm_session_sequences q ON q.session_id = s.id WHERE s.id = $1"
)

#: Delete a session and everything it owns (run in one transaction). The session row goes first: on
#: PostgreSQL its row lock is what concurrent appends wait on (see `postgres.APPEND_ONE`), so the deletes
#: of the children run after any append in progress has committed, and see its events. The session's
#: own state document (`session:<id>`) goes too.
DELETE_SESSION = (
    *(
        f"DELETE FROM {table} WHERE {column} = $1"
        for table, column in (
            ("asm_sessions", "id"),
            ("asm_events", "session_id"),
            ("asm_runs", "session_id"),
            ("asm_artifacts", "session_id"),
            ("asm_session_sequences", "session_id"),
        )
    ),
    "DELETE FROM asm_states WHERE scope = 'session:' || $1::text",
)

STATE_SELECT = "SELECT scope, value, version, updated_at FROM asm_states"
GET_STATE = f"{STATE_SELECT} WHERE scope = $1"
STATE_VERSION = "SELECT version FROM asm_states WHERE scope = $1"
DELETE_STATE = "DELETE FROM asm_states WHERE scope = $1 RETURNING scope"

#: Insert or replace a document with a value and version computed by the caller, inside the write
#: transaction that read the stored version (SQLite, whose write transactions are serialised).
WRITE_STATE = (
    "INSERT INTO asm_states (scope, value, version, updated_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (scope) DO UPDATE SET value = excluded.value, version = excluded.version, "
    "updated_at = excluded.updated_at"
)

#: Insert or replace the record of a key; refused when it names a session that does not exist.
REGISTER_ARTIFACT = (
    f"INSERT INTO asm_artifacts ({column_list(ARTIFACT_COLUMNS)}) SELECT {_params(_ARTIFACT_CASTS)} "
    "WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM asm_sessions WHERE id = $2::text) "
    f"ON CONFLICT (key) DO UPDATE SET {_assignments(ARTIFACT_COLUMNS, skip=('key',))} RETURNING id"
)
GET_ARTIFACT = f"{ARTIFACT_SELECT} WHERE key = $1"
DELETE_ARTIFACT = "DELETE FROM asm_artifacts WHERE key = $1"
ARTIFACT_TOTALS = (
    "SELECT count(a.id), coalesce(sum(a.byte_size), 0) FROM asm_sessions s "
    "LEFT JOIN asm_artifacts a ON a.session_id = s.id WHERE s.id = $1 GROUP BY s.id"
)

#: The counter upsert of an append: reserves `$2` numbers for session `$1` if the session exists, and
#: returns the last one reserved (no row: the session does not exist).
RESERVE_SEQUENCES = (
    "INSERT INTO asm_session_sequences AS q (session_id, last_sequence) "
    "SELECT id, $2::bigint FROM asm_sessions WHERE id = $1::text "
    "ON CONFLICT (session_id) DO UPDATE SET last_sequence = q.last_sequence + excluded.last_sequence "
    "RETURNING last_sequence"
)


def counter_guards(expected: str, session_id: str) -> tuple[str, str]:
    """The two guards that make a counter upsert (`INSERT ... SELECT ... ON CONFLICT DO UPDATE`) happen
    only if the counter is `expected` (a parameter): the insert branch (no counter row in the
    statement's snapshot) needs an expectation of 0; the update branch compares with the latest, locked
    version of the row, so of concurrent writers with one expectation only the first succeeds."""
    return (
        f" AND {expected}::bigint = coalesce("
        f"(SELECT last_sequence FROM asm_session_sequences WHERE session_id = {session_id}::text), 0)",
        f" WHERE q.last_sequence = {expected}::bigint",
    )


_INSERT_GUARD, _UPDATE_GUARD = counter_guards("$3", "$1")
#: `RESERVE_SEQUENCES` if the counter is `$3`. No row: the session does not exist, or its counter is
#: another number (nothing written).
RESERVE_EXPECTED_SEQUENCES = (
    "INSERT INTO asm_session_sequences AS q (session_id, last_sequence) "
    f"SELECT id, $2::bigint FROM asm_sessions WHERE id = $1::text{_INSERT_GUARD} "
    "ON CONFLICT (session_id) DO UPDATE SET last_sequence = q.last_sequence + excluded.last_sequence"
    f"{_UPDATE_GUARD} RETURNING last_sequence"
)

#: The number of the newest stored event of session `$1` (0 for none): what a deletion's expectation is
#: compared with. Reads the `(session_id, sequence_number)` index backwards.
NEWEST_SEQUENCE = "SELECT coalesce(max(sequence_number), 0) FROM asm_events WHERE session_id = $1"

INSERT_EVENT = f"INSERT INTO asm_events ({column_list(EVENT_COLUMNS)}) VALUES ({_params(EVENT_CASTS)})"
