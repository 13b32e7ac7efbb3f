"""pytest fixtures for real servers.

Enable with `pytest_plugins = ["agent_session_manager.testing.fixtures"]`.

* `seaweedfs` (session): a private SeaweedFS S3 server, stopped by PID at the end.
* `s3_target`: a fresh, empty bucket on it (or the external endpoint from `ASM_TEST_S3_*`).
* `postgres_url` (session): a fresh database on the PostgreSQL at `ASM_TEST_POSTGRES_URL`, dropped at
  the end. Without a server these skip, or fail when `ASM_REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from ..core.urls import redact_url
from .services import S3Target, SeaweedFS, postgres_admin_url, s3_target_from_env, unavailable


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS | None]:
    if s3_target_from_env() is not None:
        yield None
        return
    server = SeaweedFS()
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        unavailable(f"SeaweedFS could not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_target(seaweedfs: SeaweedFS | None) -> S3Target:
    external = s3_target_from_env()
    if external is not None:
        return external
    assert seaweedfs is not None
    return seaweedfs.make_bucket()


async def _admin(sql: str) -> None:
    try:
        import asyncpg
    except ModuleNotFoundError:
        unavailable("asyncpg is not installed (pip install 'agent-session-manager[postgres]')")
    connection = await asyncpg.connect(postgres_admin_url(), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL of a fresh, empty database (created for this test session, dropped afterwards)."""
    name = f"asm_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        unavailable(f"PostgreSQL at {redact_url(postgres_admin_url())} does not answer: {exc}")
    except Exception as exc:  # asyncpg's own errors: authentication, missing database, ...
        unavailable(f"PostgreSQL at {redact_url(postgres_admin_url())} refused: {type(exc).__name__}")
    parts = urlsplit(postgres_admin_url())
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
