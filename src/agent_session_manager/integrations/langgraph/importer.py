"""Import every thread of a stock LangGraph saver's database (`SqliteSaver`, `PostgresSaver`) into ours.

Each checkpoint is replayed through `ASMSaver.aput` oldest first, with only the channels whose version
moved since its parent, then its pending writes: the imported thread stores its messages once and as core
events, like one written by `ASMSaver`, and a graph resumed on it continues where it stopped. A thread
that already has checkpoints in our store is `already_exists`, checked for every thread before anything
is written.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from ...core.errors import AlreadyExists, DependencyNotAvailable, ValidationError
from ...core.urls import redact_url
from ...sessions.base import SessionStore
from .layout import session_id_for
from .saver import ASMSaver

SCHEMES = ("langgraph-sqlite://", "langgraph-postgres://", "langgraph-postgresql://")


@dataclass(frozen=True, slots=True)
class LangGraphImport:
    """What `import_langgraph` copied."""

    threads: int
    checkpoints: int
    writes: int


@asynccontextmanager
async def _source(url: str) -> AsyncIterator[tuple[BaseCheckpointSaver[Any], Any]]:
    """The stock saver at `url` and its connection (to list the thread ids)."""
    try:
        if url.startswith("langgraph-sqlite://"):
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            path = url.removeprefix("langgraph-sqlite://")
            if not path.startswith("/") or not await asyncio.to_thread(os.path.isfile, path):
                raise ValidationError(
                    f"no SQLite database at {redact_url(url)} (expected langgraph-sqlite:///path.db)"
                )
            async with AsyncSqliteSaver.from_conn_string(path) as sqlite_saver:
                yield sqlite_saver, sqlite_saver.conn
            return
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        conn_string = "postgresql://" + url.split("://", 1)[1]
        async with AsyncPostgresSaver.from_conn_string(conn_string) as pg_saver:
            yield pg_saver, pg_saver.conn
    except ModuleNotFoundError as exc:
        raise DependencyNotAvailable(
            f"importing from {url.split('://')[0]} needs {exc.name}: "
            "pip install langgraph-checkpoint-sqlite (or langgraph-checkpoint-postgres)"
        ) from exc


async def _thread_ids(connection: Any) -> list[str]:
    cursor = await connection.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id")
    rows = await cursor.fetchall()
    return [row["thread_id"] if isinstance(row, dict) else row[0] for row in rows]


async def import_langgraph(store: SessionStore, url: str) -> LangGraphImport:
    """Copy every thread of the stock saver database at `url` into `store`.

    Args:
        store: the session store to import into.
        url: `langgraph-sqlite:///path/to/checkpoints.db` or `langgraph-postgres://user@host/db`.

    Returns:
        How many threads, checkpoints and pending writes were copied.

    Raises:
        ValidationError: an unsupported URL.
        AlreadyExists: a thread of the source already has checkpoints in `store` (nothing written).
        DependencyNotAvailable: the stock saver package is not installed.

    Example:
        >>> # asyncio.run(import_langgraph(store, "langgraph-sqlite:///var/app/checkpoints.db"))
    """
    if not url.startswith(SCHEMES):
        raise ValidationError(
            f"unsupported LangGraph source {redact_url(url)}; expected one of {', '.join(SCHEMES)}"
        )
    target = ASMSaver(store)
    checkpoints = writes = 0
    async with _source(url) as (source, connection):
        thread_ids = await _thread_ids(connection)
        for thread_id in thread_ids:
            if [t async for t in target.alist({"configurable": {"thread_id": thread_id}}, limit=1)]:
                raise AlreadyExists(
                    f"LangGraph thread {thread_id!r} is already in this store (session "
                    f"{session_id_for(thread_id)}); nothing was imported",
                    details={"thread_id": thread_id},
                )
        for thread_id in thread_ids:
            tuples = [t async for t in source.alist({"configurable": {"thread_id": thread_id}})]
            for found in sorted(tuples, key=lambda t: t.checkpoint["id"]):
                writes += await _replay(target, found)
                checkpoints += 1
    return LangGraphImport(threads=len(thread_ids), checkpoints=checkpoints, writes=writes)


async def _replay(target: ASMSaver, found: CheckpointTuple) -> int:
    """Put one checkpoint and its pending writes; the number of writes."""
    configurable = found.config["configurable"]
    parent_versions: dict[str, Any] = {}
    parent_id = found.parent_config["configurable"]["checkpoint_id"] if found.parent_config else None
    if parent_id is not None:
        parent = await target.aget_tuple({"configurable": {**configurable, "checkpoint_id": parent_id}})
        parent_versions = dict(parent.checkpoint["channel_versions"]) if parent is not None else {}
    versions = found.checkpoint["channel_versions"]
    new_versions = {ch: v for ch, v in versions.items() if parent_versions.get(ch) != v}
    config: RunnableConfig = {"configurable": {**configurable, "checkpoint_id": parent_id}}
    stored = await target.aput(config, found.checkpoint, found.metadata, new_versions)
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in found.pending_writes or []:
        by_task.setdefault(task_id, []).append((channel, value))
    for task_id, task_writes in by_task.items():
        await target.aput_writes(stored, task_writes, task_id)
    return sum(len(w) for w in by_task.values())
