"""Sessions get an owner (`user_id`) and are listed by owner and by update time.

Adds the nullable column `asm_sessions.user_id` in place (existing sessions have no owner) and the keyset
indexes of `list_sessions(user_id=..., order_by=...)`: `(user_id, created_at, id)`,
`(user_id, updated_at, id)` and `(agent_id, updated_at, id)`.

Revision ID: 0004_session_owners
Revises: 0003_state_documents
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_session_owners"
down_revision = "0003_state_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("asm_sessions", sa.Column("user_id", sa.Text))
    op.create_index("asm_sessions_agent_id_updated_at_id", "asm_sessions", ["agent_id", "updated_at", "id"])
    op.create_index("asm_sessions_user_id_created_at_id", "asm_sessions", ["user_id", "created_at", "id"])
    op.create_index("asm_sessions_user_id_updated_at_id", "asm_sessions", ["user_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("asm_sessions_user_id_updated_at_id", table_name="asm_sessions")
    op.drop_index("asm_sessions_user_id_created_at_id", table_name="asm_sessions")
    op.drop_index("asm_sessions_agent_id_updated_at_id", table_name="asm_sessions")
    with op.batch_alter_table("asm_sessions") as batch:
        batch.drop_column("user_id")
