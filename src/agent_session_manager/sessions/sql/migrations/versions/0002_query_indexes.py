"""Indexes for the query API and maintenance: sessions by update time and by tag, runs by provider and time.

Revision ID: 0002_query_indexes
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002_query_indexes"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("asm_sessions_updated_at_id", "asm_sessions", ["updated_at", "id"])
    op.create_index("asm_sessions_tags", "asm_sessions", ["tags"], postgresql_using="gin")
    op.create_index("asm_runs_provider_started_at_id", "asm_runs", ["provider", "started_at", "id"])


def downgrade() -> None:
    op.drop_index("asm_runs_provider_started_at_id", table_name="asm_runs")
    op.drop_index("asm_sessions_tags", table_name="asm_sessions")
    op.drop_index("asm_sessions_updated_at_id", table_name="asm_sessions")
