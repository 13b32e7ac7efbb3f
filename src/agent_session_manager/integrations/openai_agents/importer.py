"""Import the sessions of an OpenAI Agents SDK `SQLiteSession` database into one of our stores.

`asm import --from openai-sqlite:///path/to/conversations.db` (and `import_sqlite_sessions` in code)
reads every session of the file (its `agent_sessions` and `agent_messages` tables, or the names given as
`?sessions_table=...&messages_table=...`), read-only. Each becomes one of our sessions exactly as
`ASMSession` would have written it (same session id, one event per item, in the file's order, with the
row's `created_at` as timestamp), so `ASMSession(session_id, store)` continues it. Rows whose JSON is
corrupt are skipped and counted, as `SQLiteSession` itself skips them; so are rows we cannot store
exactly (`NaN`, which Python's `json` writes but JSON does not have).

Each session is imported atomically (`flush`). Before anything is written, every target id is checked:
a session that already exists is `already_exists` and nothing is imported.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from ...core.errors import AlreadyExists, SessionNotFound, StorageError, ValidationError
from ...core.models import Event, Session, SessionStatus
from ...core.urls import file_url_path
from .items import DEFAULT_AGENT_ID, asm_session_id, item_event

#: The URL scheme of `SQLiteSession` databases in `asm import --from`.
SCHEME = "openai-sqlite"
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class ImportedSession:
    """One imported SDK session: its SDK id, our id, how many items were stored and skipped."""

    sdk_session_id: str
    session_id: str
    items: int
    skipped: int


async def import_sqlite_sessions(
    store: Any, url: str, *, agent_id: str = DEFAULT_AGENT_ID
) -> list[ImportedSession]:
    """Import every session of the `SQLiteSession` database at `url` into `store`.

    Args:
        store: an async session store.
        url: `openai-sqlite:///abs/path.db` or `openai-sqlite://./relative.db`, optionally with
            `?sessions_table=NAME&messages_table=NAME`.
        agent_id: the `agent_id` of the sessions created.

    Returns:
        One `ImportedSession` per SDK session, in the file's order.

    Raises:
        ValidationError: a malformed URL or table name, or a file that is not such a database.
        AlreadyExists: one of the sessions is already in `store` (nothing is imported).
        StorageError: the file cannot be read.

    Example:
        >>> imported = await import_sqlite_sessions(store, "openai-sqlite:///./chats.db")  # doctest: +SKIP
    """
    path, sessions_table, messages_table = _location(url)
    rows = await asyncio.to_thread(_read, path, sessions_table, messages_table)
    plans = [_plan(sdk_id, created, messages, agent_id) for sdk_id, created, messages in rows]
    for session, _, _ in plans:
        try:
            await store.get_session(session.id)
        except SessionNotFound:
            continue
        raise AlreadyExists(
            f"session {session.id} already exists in the target store", details={"session_id": session.id}
        )
    imported = []
    for session, events, skipped in plans:
        await store.flush(session, None, events)
        sdk_id = session.metadata["openai_agents"]["session_id"]
        imported.append(ImportedSession(sdk_id, session.id, len(events), skipped))
    return imported


def _location(url: str) -> tuple[Path, str, str]:
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise ValidationError(f"expected an {SCHEME}:// URL", details={"field": "url"})
    path = file_url_path(url.split("?", 1)[0])
    if path is None:
        raise ValidationError(f"{SCHEME}:// needs the path of the database file", details={"field": "url"})
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"sessions_table", "messages_table"})
    if unknown:
        raise ValidationError(
            f"unknown option(s) {unknown} in the {SCHEME} URL", details={"options": unknown}
        )
    tables = options.get("sessions_table", "agent_sessions"), options.get("messages_table", "agent_messages")
    for table in tables:
        if not _TABLE.fullmatch(table):
            raise ValidationError(f"invalid table name {table!r}", details={"field": "table"})
    return Path(path), *tables


def _read(path: Path, sessions_table: str, messages_table: str) -> list[tuple[str, str | None, list[Any]]]:
    """Every session of the file with its `created_at` and its message rows, oldest first."""
    if not path.is_file():
        raise ValidationError(f"no such database file: {path}", details={"field": "url"})
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            sessions = connection.execute(
                f"SELECT session_id, created_at FROM {sessions_table} ORDER BY created_at, rowid"
            ).fetchall()
            found = []
            for sdk_id, created in sessions:
                messages = connection.execute(
                    f"SELECT message_data, created_at FROM {messages_table} WHERE session_id = ? ORDER BY id",
                    (sdk_id,),
                ).fetchall()
                found.append((str(sdk_id), created, messages))
            return found
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot read the SQLiteSession database {path}: {exc}") from exc


def _plan(
    sdk_id: str, created: str | None, messages: list[Any], agent_id: str
) -> tuple[Session, list[Event], int]:
    """The session and events an import writes for one SDK session, and how many rows it skips."""
    session_id = asm_session_id(sdk_id)
    events = []
    skipped = 0
    for data, stamp in messages:
        try:
            event = item_event(orjson.loads(data), session_id=session_id)
        except (orjson.JSONDecodeError, TypeError, ValidationError):
            skipped += 1
            continue
        events.append(event.model_copy(update={"timestamp": _moment(stamp) or event.timestamp}))
    session = Session(
        id=session_id,
        agent_id=agent_id,
        status=SessionStatus.ACTIVE,
        metadata={"openai_agents": {"session_id": sdk_id}},
        **({"created_at": moment} if (moment := _moment(created)) else {}),
    )
    return session, events, skipped


def _moment(stamp: Any) -> datetime | None:
    """SQLite's `CURRENT_TIMESTAMP` text (UTC, `YYYY-MM-DD HH:MM:SS`) as an aware datetime."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
