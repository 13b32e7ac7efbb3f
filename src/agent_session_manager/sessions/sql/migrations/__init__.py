"""Schema migrations of the SQL store (Alembic, shipped in the package, own table `asm_alembic_version`).

`upgrade(url)`, `downgrade(url, revision)` and `status(url) -> (current, head)` are what `asm db` calls;
`open_store(url, migrate=True)` calls `upgrade_async`. Each run is one transaction that first takes a lock
(`pg_advisory_xact_lock` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and only then reads the current
revision, so running it twice, or from two processes at once, applies each migration exactly once.
PostgreSQL runs DDL inside that transaction: a failed upgrade leaves the schema as it was.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from ....core.errors import (
    MigrationRequired,
    StorageConnectionFailed,
    StorageError,
    ValidationError,
)
from ....core.urls import redact_url, scheme_of
from ..schema import TABLE_NAMES, VERSION_TABLE
from ..urls import host_of, sqlalchemy_url, sqlite_location

#: Key of the PostgreSQL advisory lock that serialises migrations ("asm_mig" as a number).
ADVISORY_LOCK_KEY = 0x61736D5F6D6967
#: How long a SQLite migration waits for another writer (seconds).
SQLITE_LOCK_TIMEOUT = 60.0


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return config


@functools.cache
def head() -> str:
    """The newest revision this version of the library knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def pending(current: str | None) -> list[str]:
    """`"<revision> <message>"` of each migration between `current` and head, oldest first."""
    script = ScriptDirectory.from_config(_config())
    steps = list(script.iterate_revisions(head(), current))
    return [f"{step.revision} {(step.doc or '').splitlines()[0]}".strip() for step in reversed(steps)]


def check_schema(url: str, current: str | None, tables: Collection[str]) -> None:
    """Raise `migration_required`, naming what is missing, unless the schema at `url` is at head."""
    if current == head():
        return
    where = redact_url(url)
    fix = f"run `asm db upgrade {where}` or open it with open_store(url, migrate=True)"
    details: dict[str, Any] = {"url": where, "current": current, "head": head()}
    if current is None:
        missing = [name for name in TABLE_NAMES if name not in tables]
        details["missing_tables"] = missing
        raise MigrationRequired(
            f"the database at {where} has no agent-session-manager schema "
            f"(missing: {', '.join(missing) or VERSION_TABLE}); {fix}",
            details=details,
        )
    known = {step.revision for step in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise MigrationRequired(
            f"the database at {where} is at schema revision {current}, which this version of "
            f"agent-session-manager does not know (its newest is {head()}); upgrade the library",
            details=details,
        )
    steps = pending(current)
    details["pending"] = steps
    raise MigrationRequired(
        f"the database at {where} is at schema revision {current} and needs {'; '.join(steps)}; {fix}",
        details=details,
    )


# -- running Alembic on a connection -------------------------------------------------------------


def _current(connection: sa.Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _alembic(action: Callable[[Config], None]) -> Callable[[sa.Connection], None]:
    def run(connection: sa.Connection) -> None:
        config = _config()
        config.attributes["connection"] = connection
        action(config)

    return run


def _upgrade_to(revision: str) -> Callable[[Config], None]:
    return lambda config: command.upgrade(config, revision)


def _downgrade_to(revision: str) -> Callable[[Config], None]:
    def run(config: Config) -> None:
        command.downgrade(config, revision)
        if revision == "base":  # nothing of the store is left, so neither is its version table
            config.attributes["connection"].execute(sa.text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))

    return run


def _sqlite(url: str, work: Callable[[sa.Connection], Any], *, write: bool) -> Any:
    path, _ = sqlite_location(url)
    if not write and not path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        sqlalchemy_url(url),
        poolclass=NullPool,
        connect_args={"isolation_level": None, "timeout": SQLITE_LOCK_TIMEOUT},
    )
    try:
        with engine.connect() as connection:
            if write:
                mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
                if mode != "wal":
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            result = work(connection)
            connection.commit()
            return result
    except sa.exc.DBAPIError as exc:
        raise StorageError(f"SQLite migration on {redact_url(url)} failed: {exc.orig}") from exc
    finally:
        engine.dispose()


async def _postgres(url: str, work: Callable[[sa.Connection], Any], *, write: bool) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            if write:
                await connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            result = await connection.run_sync(work)
            await connection.commit()
            return result
    except (OSError, sa.exc.DBAPIError) as exc:
        from ..postgres import access_refused, refusal_in

        refusal = refusal_in(exc)
        if refusal is not None:  # the same error as the store's own for the same fault
            raise access_refused(url, refusal) from exc
        if isinstance(exc, OSError | sa.exc.InterfaceError | sa.exc.OperationalError):
            raise StorageConnectionFailed(
                f"could not reach PostgreSQL at {host_of(url)} to migrate {redact_url(url)}: "
                f"{type(getattr(exc, 'orig', exc)).__name__}",
                details={"host": host_of(url)},
            ) from exc
        raise StorageError(f"PostgreSQL migration on {redact_url(url)} failed: {exc.orig}") from exc
    finally:
        await engine.dispose()


async def _run(url: str, work: Callable[[sa.Connection], Any], *, write: bool) -> Any:
    scheme = scheme_of(url)
    if scheme == "sqlite":
        return await asyncio.to_thread(_sqlite, url, work, write=write)
    if scheme in ("postgresql", "postgres"):
        return await _postgres(url, work, write=write)
    raise ValidationError(f"migrations need a sqlite:// or postgresql:// URL, not {redact_url(url)}")


# -- the API -------------------------------------------------------------------------------------


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision` (default: head), creating it if the database is empty."""
    await _run(url, _alembic(_upgrade_to(revision)), write=True)


async def downgrade_async(url: str, revision: str) -> None:
    """Take the schema at `url` down to `revision` (`"base"` drops every table of the store)."""
    await _run(url, _alembic(_downgrade_to(revision)), write=True)


async def status_async(url: str) -> tuple[str | None, str]:
    """`(current revision or None, head revision)` of the schema at `url`."""
    current: str | None = await _run(url, _current, write=False)
    return current, head()


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking `upgrade_async`, for scripts and the CLI."""
    asyncio.run(upgrade_async(url, revision))


def downgrade(url: str, revision: str) -> None:
    """Blocking `downgrade_async`."""
    asyncio.run(downgrade_async(url, revision))


def status(url: str) -> tuple[str | None, str]:
    """Blocking `status_async`."""
    return asyncio.run(status_async(url))
