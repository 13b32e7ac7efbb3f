"""The real-server fixtures really give working servers (so backend suites can rely on them)."""

from __future__ import annotations

import asyncpg
import obstore
from obstore.store import S3Store

from agent_session_manager.testing.services import S3Target


async def test_postgres_database_is_private_and_writable(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        name = await connection.fetchval("SELECT current_database()")
        assert name.startswith("asm_test_")
        assert postgres_url.endswith("/" + name)
        await connection.execute("CREATE TEMP TABLE probe (x int)")
        await connection.execute("INSERT INTO probe VALUES (42)")
        assert await connection.fetchval("SELECT x FROM probe") == 42
    finally:
        await connection.close()


def test_seaweedfs_bucket_stores_and_lists_objects(s3_target: S3Target) -> None:
    store = S3Store(
        s3_target.bucket,
        endpoint=s3_target.endpoint,
        region=s3_target.region,
        client_options={"allow_http": True},
        **s3_target.credentials(),
    )
    obstore.put(store, "a/b.txt", b"hello")
    assert bytes(obstore.get(store, "a/b.txt").bytes()) == b"hello"
    assert [item["path"] for item in obstore.list(store).collect()] == ["a/b.txt"]
