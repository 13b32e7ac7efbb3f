"""The SQL schema as SQLAlchemy Core tables (sessions, runs, events, event counters, artifacts, state
documents), one definition for SQLite and PostgreSQL.

Column names and meanings are the same on both engines, so data moves between them as is. Types differ
only where the engines do: JSON is `jsonb` on PostgreSQL and TEXT on SQLite; timestamps are `timestamptz`
on PostgreSQL and TEXT on SQLite (ISO-8601 UTC with microseconds, `2026-01-01T00:00:00.000000Z`, fixed
width so text order is time order, as Ecto writes them); tags are `text[]` on PostgreSQL and a JSON array
on SQLite.

Indexes serve the store's queries: `(session_id, sequence_number)` (unique) for appends and event pages,
keyset indexes `(created_at, id)` / `(agent_id, created_at, id)` for `list_sessions`,
`(session_id, started_at, id)` for `list_runs`, `(session_id, created_at, id)` for artifact listings,
lookup indexes by status, type, run, correlation id, provider and time, and the query API's (migration
0002: sessions by update time and by tag, runs by provider and time). State documents are keyed by
scope (migration 0003). Sessions are listed by owner and by update time (migration 0004: the `user_id`
column, `(user_id, created_at, id)`, `(user_id, updated_at, id)`, `(agent_id, updated_at, id)`).
Migrations (`migrations/versions`) build exactly this; a test compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

#: Alembic's version table for this library (its own name, so it can share a database with an app).
VERSION_TABLE = "asm_alembic_version"

JSONDocument = sa.Text().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.Text().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
TagList = sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
ScopeText = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
EMPTY_OBJECT = sa.text("'{}'")

metadata = sa.MetaData()

sessions = sa.Table(
    "asm_sessions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("parent_session_id", sa.Text),
    sa.Column("metadata", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("context", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("tags", TagList, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("deleted_at", Timestamp),
    sa.Column("user_id", sa.Text),
    sa.Index("asm_sessions_created_at_id", "created_at", "id"),
    sa.Index("asm_sessions_agent_id_created_at_id", "agent_id", "created_at", "id"),
    sa.Index("asm_sessions_status", "status"),
    sa.Index("asm_sessions_deleted_at", "deleted_at"),
    sa.Index("asm_sessions_updated_at_id", "updated_at", "id"),
    sa.Index("asm_sessions_tags", "tags", postgresql_using="gin"),
    sa.Index("asm_sessions_agent_id_updated_at_id", "agent_id", "updated_at", "id"),
    sa.Index("asm_sessions_user_id_created_at_id", "user_id", "created_at", "id"),
    sa.Index("asm_sessions_user_id_updated_at_id", "user_id", "updated_at", "id"),
)

runs = sa.Table(
    "asm_runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("input", JSONDocument),
    sa.Column("output", JSONDocument),
    sa.Column("error", JSONDocument),
    sa.Column("metadata", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("turn_count", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("token_usage", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp),
    sa.Column("provider", sa.Text),
    sa.Column("provider_metadata", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("cost_usd", sa.Float),
    sa.Index("asm_runs_session_id_started_at_id", "session_id", "started_at", "id"),
    sa.Index("asm_runs_session_id_status", "session_id", "status"),
    sa.Index("asm_runs_provider", "provider"),
    sa.Index("asm_runs_started_at", "started_at"),
    sa.Index("asm_runs_provider_started_at_id", "provider", "started_at", "id"),
)

events = sa.Table(
    "asm_events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("sequence_number", sa.BigInteger, nullable=False),
    sa.Column("data", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("metadata", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("schema_version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("provider", sa.Text),
    sa.Column("correlation_id", sa.Text),
    sa.Index("asm_events_session_id_sequence_number", "session_id", "sequence_number", unique=True),
    sa.Index("asm_events_session_id_type", "session_id", "type"),
    sa.Index("asm_events_session_id_run_id", "session_id", "run_id"),
    sa.Index("asm_events_correlation_id", "correlation_id"),
    sa.Index("asm_events_provider", "provider"),
    sa.Index("asm_events_timestamp", "timestamp"),
)

session_sequences = sa.Table(
    "asm_session_sequences",
    metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("last_sequence", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("updated_at", Timestamp),
)

artifacts = sa.Table(
    "asm_artifacts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text),
    sa.Column("run_id", sa.Text),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text),
    sa.Column("byte_size", sa.BigInteger, nullable=False),
    sa.Column("checksum_sha256", sa.Text, nullable=False),
    sa.Column("storage_backend", sa.Text, nullable=False),
    sa.Column("storage_ref", sa.Text, nullable=False),
    sa.Column("metadata", JSONDocument, nullable=False, server_default=EMPTY_OBJECT),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("deleted_at", Timestamp),
    sa.Index("asm_artifacts_key", "key", unique=True),
    sa.Index("asm_artifacts_session_id_created_at_id", "session_id", "created_at", "id"),
    sa.Index("asm_artifacts_created_at", "created_at"),
)

#: Scoped state documents (`sessions.state`). The scope orders by code point on both engines
#: (`COLLATE "C"` on PostgreSQL, SQLite's default BINARY), so `list_states` pages identically.
states = sa.Table(
    "asm_states",
    metadata,
    sa.Column("scope", ScopeText, primary_key=True),
    sa.Column("value", JSONDocument, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

#: Every table of the store, in the order a cascade deletes from them (the session row last).
TABLE_NAMES = tuple(t.name for t in (events, runs, artifacts, session_sequences, states, sessions))
