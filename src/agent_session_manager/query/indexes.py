"""Indexes the query API and maintenance need beyond the store's own, declared on the shared tables.

They are created by migration `0002_query_indexes` and declared here on `sessions.sql.schema`'s tables, so
the schema's metadata describes the migrated database exactly. The package imports this module, so any
use of the schema sees them.

* `asm_sessions (updated_at, id)`: `search_sessions` in its default order (`updated_at_desc`) and the
  retention of finished sessions by last update.
* `asm_sessions USING gin (tags)` (PostgreSQL; a plain index on SQLite, where tags are JSON text):
  "sessions with all these tags" and exempt tags, without scanning every session.
* `asm_runs (provider, started_at, id)`: runs of a provider in a time window, in keyset order.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..sessions.sql.schema import runs, sessions

QUERY_INDEXES = (
    sa.Index("asm_sessions_updated_at_id", sessions.c.updated_at, sessions.c.id),
    sa.Index("asm_sessions_tags", sessions.c.tags, postgresql_using="gin"),
    sa.Index("asm_runs_provider_started_at_id", runs.c.provider, runs.c.started_at, runs.c.id),
)
