"""Scoped state documents: `asm_states` (scope, value, version, updated_at), keyed by scope.

Revision ID: 0003_state_documents
Revises: 0002_query_indexes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent_session_manager.sessions.sql.schema import JSONDocument, ScopeText, Timestamp

revision = "0003_state_documents"
down_revision = "0002_query_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asm_states",
        sa.Column("scope", ScopeText, primary_key=True),
        sa.Column("value", JSONDocument, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("asm_states")
