"""Alembic environment of the SQL session store.

Run through `agent_session_manager.sessions.sql.migrations` (or `asm db upgrade`), which opens the
connection, takes the migration lock and the transaction, and hands the connection over in
`config.attributes["connection"]`; this file only binds Alembic to it and to the store's version table.
"""

from __future__ import annotations

from alembic import context

from agent_session_manager.sessions.sql.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
