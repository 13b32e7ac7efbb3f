"""Sessions, runs, events, event counters and artifacts, with the indexes the store's queries use.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent_session_manager.sessions.sql.schema import EMPTY_OBJECT, JSONDocument, TagList, Timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asm_sessions",
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
    )
    op.create_index("asm_sessions_created_at_id", "asm_sessions", ["created_at", "id"])
    op.create_index("asm_sessions_agent_id_created_at_id", "asm_sessions", ["agent_id", "created_at", "id"])
    op.create_index("asm_sessions_status", "asm_sessions", ["status"])
    op.create_index("asm_sessions_deleted_at", "asm_sessions", ["deleted_at"])

    op.create_table(
        "asm_runs",
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
    )
    op.create_index("asm_runs_session_id_started_at_id", "asm_runs", ["session_id", "started_at", "id"])
    op.create_index("asm_runs_session_id_status", "asm_runs", ["session_id", "status"])
    op.create_index("asm_runs_provider", "asm_runs", ["provider"])
    op.create_index("asm_runs_started_at", "asm_runs", ["started_at"])

    op.create_table(
        "asm_events",
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
    )
    op.create_index(
        "asm_events_session_id_sequence_number",
        "asm_events",
        ["session_id", "sequence_number"],
        unique=True,
    )
    op.create_index("asm_events_session_id_type", "asm_events", ["session_id", "type"])
    op.create_index("asm_events_session_id_run_id", "asm_events", ["session_id", "run_id"])
    op.create_index("asm_events_correlation_id", "asm_events", ["correlation_id"])
    op.create_index("asm_events_provider", "asm_events", ["provider"])
    op.create_index("asm_events_timestamp", "asm_events", ["timestamp"])

    op.create_table(
        "asm_session_sequences",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", Timestamp),
    )

    op.create_table(
        "asm_artifacts",
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
    )
    op.create_index("asm_artifacts_key", "asm_artifacts", ["key"], unique=True)
    op.create_index(
        "asm_artifacts_session_id_created_at_id", "asm_artifacts", ["session_id", "created_at", "id"]
    )
    op.create_index("asm_artifacts_created_at", "asm_artifacts", ["created_at"])


def downgrade() -> None:
    for table in ("asm_artifacts", "asm_session_sequences", "asm_events", "asm_runs", "asm_sessions"):
        op.drop_table(table)
