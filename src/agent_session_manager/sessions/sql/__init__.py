"""The SQL session store: SQLite (the embedded default) and PostgreSQL over one schema and one set of rules.

* `schema.py`: SQLAlchemy Core tables (five), `migrations/`: Alembic, shipped in the package.
* `store.py`: `SQLSessionStore`, everything both engines share (validation, SQL, row <-> model, paging,
  long-poll); `sqlite.py` and `postgres.py`: how each engine runs it (threads and sqlite3; asyncpg).
"""
