"""Strands Agents on our stores (extra `[strands]`, pinned `strands-agents`).

Two entry points, one per Strands persistence design:

* **`ASMStorage(artifacts, format=...)`**: Strands' unified `Storage` protocol (async `write`, `read`,
  `delete`, `list`) over any of our artifact stores, for the recommended `SnapshotSessionManager`::

      from strands import Agent
      from strands.session import SnapshotSessionManager
      from agent_session_manager.integrations.strands import ASMStorage

      storage = ASMStorage("s3://bucket/agents?endpoint=http://127.0.0.1:8333&foreign=true")
      agent = Agent(session_manager=SnapshotSessionManager("chat-1", storage=storage))

  Snapshot documents (`.../snapshots/snapshot_latest.json` and `.../immutable_history/snapshot_*.json`)
  are read in either Strands dialect and always handed to Strands in the Python one (what it can load).
  They are written in the configured `format` (a document already in it byte for byte): `"python"`
  (default, what Strands' own Python storages write) or `"typescript"` (camelCase, what the TypeScript
  SDK reads), so one S3 bucket can be shared with TypeScript agents; `snapshots.dialects` has the
  translation rules. A document in neither dialect is refused with `validation_error` naming its key.
  History entries are written create-only (`already_exists` if one is written twice). Other keys are
  stored as given. Our S3 store opened with `foreign=true` reads objects other programs wrote (they
  carry no checksum of ours); the file artifact store keeps a record with each blob, so its directory
  cannot be shared with another program.

* **`ASMSessionRepository(store)`**: the older sync `SessionRepository` (sessions, agents, messages) on
  our session store, for `RepositorySessionManager`. A Strands session is our session (same id, agent
  `strands` unless `agent_id=` says otherwise); agents and multi-agent states live in its
  `metadata["strands"]`; each message is appended as a `message_sent` (user) or `message_received`
  (assistant) event holding the original Strands record losslessly under `data["strands"]`, followed
  by a `tool_call_started` per `toolUse` block and a `tool_call_completed`/`_failed` per `toolResult`, so a
  Strands conversation shows in our timelines, queries and CLI. `update_message` (Strands' guardrail
  redaction) replaces a message's events by those of the new version (appended, then the old ones
  deleted); the events show the redacted text, while the record keeps Strands' own `message` and
  `redact_message` fields, as Strands' file and S3 repositories do.

Stores are reached from whatever thread or loop Strands calls from: pass a URL (opened on the shared
`sync.portal()`), a `sync.SyncStore` (its portal runs every call), or an async store that only the loop
which opened it will call.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from .. import sync
from ..artifacts.base import ArtifactStore
from ..core.errors import (
    AlreadyExists,
    NotFound,
    SessionNotFound,
    StorageError,
    ValidationError,
    require_extra,
)
from ..core.models import Event, EventType, Session
from ..sessions.base import SessionStore
from ..snapshots.dialects import Format, canonical, check_format, dialect_of, render
from ._stores import BoundStore

require_extra("strands", "strands")

from strands.session.session_repository import SessionRepository  # noqa: E402
from strands.storage.search.keyword import KeywordSearchStrategy  # noqa: E402
from strands.storage.storage import StorageSearchResult  # noqa: E402
from strands.types.exceptions import SessionException  # noqa: E402
from strands.types.session import Session as StrandsSession  # noqa: E402
from strands.types.session import SessionAgent, SessionMessage, SessionType, encode_bytes_values  # noqa: E402

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase

__all__ = ["ASMSessionRepository", "ASMStorage"]

T = TypeVar("T")
#: Keys holding one snapshot document (latest or history), in any namespace.
_SNAPSHOT_KEY = re.compile(
    r"(?:^|/)scopes/(?:agent|multiAgent)/[^/]+/snapshots/"
    r"(?:snapshot_latest\.json|immutable_history/(snapshot_[^/]+\.json))$"
)


def _opened(store: Any, open_url: Callable[[str], sync.SyncStore]) -> Any:
    """`store`, or the store its URL names opened on the shared portal."""
    return open_url(store) if isinstance(store, str) else store


# -- the unified Storage (SnapshotSessionManager) ---------------------------------------------------


class ASMStorage:
    """Strands' `Storage` protocol over one of our artifact stores (see the module docstring).

    Args:
        artifacts: an artifact store URL (`file:///dir`, `s3://bucket/prefix?endpoint=...&foreign=true`),
            a `sync.SyncStore` of one, or an async `ArtifactStore` called only from its own loop.
        format: the dialect snapshot documents are written in, `"python"` (default) or `"typescript"`.

    Raises:
        ValidationError: an unknown `format` or a store of the wrong kind.

    Example:
        >>> storage = ASMStorage("memory://")                         # doctest: +SKIP
        >>> SnapshotSessionManager("s1", storage=storage)           # doctest: +SKIP
    """

    def __init__(self, artifacts: ArtifactStore | sync.SyncStore | str, *, format: Format = "python") -> None:
        self.format: Format = check_format(format)
        opened = _opened(artifacts, lambda url: sync.portal().open_artifact_store(url))
        self._store: BoundStore[ArtifactStore] = BoundStore(opened, ArtifactStore)

    async def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key`; a snapshot document is translated to the configured dialect."""
        snapshot = _SNAPSHOT_KEY.search(key)
        if snapshot is None:
            await self._store.call(self._store.store.put, key, data)
            return
        document = _json_object(data, key, ValidationError)
        body = data
        if dialect_of(document, key) != self.format:
            body = render(canonical(document, key), self.format, compact=True)
        put = self._store.store.put
        try:
            await self._store.call(
                put, key, body, content_type="application/json", if_absent=snapshot.group(1) is not None
            )
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"snapshot history entry {key!r} already exists; history is immutable", details={"key": key}
            ) from exc

    async def read(self, key: str) -> bytes | None:
        """The bytes at `key` (a snapshot document in the Python dialect), or None when missing."""
        try:
            data: bytes = await self._store.call(self._store.store.get, key)
        except NotFound:
            return None
        if _SNAPSHOT_KEY.search(key) is None:
            return data
        document = _json_object(data, key, StorageError)
        try:
            if dialect_of(document, key) == "python":
                return data
            return render(canonical(document, key), "python", compact=True)
        except ValidationError as exc:
            raise StorageError(exc.message, details=exc.details) from None

    async def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        await self._store.call(self._store.store.delete, key)

    async def list(self, query: str) -> builtins.list[str]:
        """Every key starting with `query`, in ascending (code point) order as Strands expects."""

        async def every(prefix: str) -> builtins.list[str]:
            keys: builtins.list[str] = []
            cursor: str | None = None
            while True:
                page = await self._store.store.list(prefix, limit=1000, cursor=cursor)
                keys.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    return sorted(keys)

        return await self._store.call(every, query)

    async def search(self, query: str) -> builtins.list[StorageSearchResult]:
        """Keys ranked by keyword overlap with `query`, as Strands' default `Storage.search` does."""
        return await KeywordSearchStrategy().search(self, query)


def _json_object(data: bytes, key: str, error: type[ValidationError] | type[StorageError]) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise error(f"{key!r} is not valid JSON: {exc}", details={"key": key}) from None
    if not isinstance(value, dict):
        raise error(f"{key!r} holds JSON {type(value).__name__}, not a snapshot object", details={"key": key})
    return value


# -- the legacy SessionRepository (RepositorySessionManager) ----------------------------------------

_MESSAGE_TYPES = [EventType.MESSAGE_SENT, EventType.MESSAGE_RECEIVED]


class ASMSessionRepository(SessionRepository):
    """Strands' `SessionRepository` on one of our session stores (see the module docstring).

    Args:
        store: a session store URL (opened on `sync.portal()`, migrated), a `sync.SyncStore`, or an
            async `SessionStore` (then Strands must call from a thread without a running loop; calls run
            on `sync.portal()`, so the store must not be bound to another loop).
        agent_id: our `Session.agent_id` for sessions this repository creates.

    Example:
        >>> from strands.session.repository_session_manager import RepositorySessionManager
        >>> repository = ASMSessionRepository("sqlite:///./.asm/asm.db")             # doctest: +SKIP
        >>> manager = RepositorySessionManager("chat-1", session_repository=repository)  # doctest: +SKIP
    """

    def __init__(self, store: SessionStore | sync.SyncStore | str, *, agent_id: str = "strands") -> None:
        self._store: BoundStore = BoundStore(
            _opened(store, lambda url: sync.portal().open_store(url, migrate=True))
        )
        self.agent_id = agent_id

    # -- sessions -------------------------------------------------------------------------------

    def create_session(self, session: StrandsSession, **kwargs: Any) -> StrandsSession:
        """Create our session `session.session_id` (`SessionException` if it exists)."""
        if self._session(session.session_id) is not None:
            raise SessionException(f"Session {session.session_id} already exists")
        record = Session(
            id=session.session_id, agent_id=self.agent_id, metadata={"strands": session.to_dict()}
        )
        self._call(self._target.save_session, record)
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> StrandsSession | None:
        """The Strands session, or None when we have no such session."""
        record = self._session(session_id)
        if record is None:
            return None
        stored = record.metadata.get("strands") or {}
        return StrandsSession.from_dict(
            {
                "session_id": record.id,
                "session_type": SessionType.AGENT,
                "created_at": record.created_at.isoformat(),
                "updated_at": record.updated_at.isoformat(),
                **{k: v for k, v in stored.items() if k in ("session_type", "created_at", "updated_at")},
            }
        )

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Delete the session with its events (`SessionException` if there is none)."""
        if self._session(session_id) is None:
            raise SessionException(f"Session {session_id} does not exist")
        self._call(self._target.delete_session, session_id)

    # -- agents ---------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Keep the agent's record in the session's `metadata["strands"]["agents"]`."""
        self._put_record(session_id, "agents", session_agent.agent_id, session_agent.to_dict())

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        record = self._record(session_id, "agents", agent_id)
        return None if record is None else SessionAgent.from_dict(record)

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Replace the agent's record, keeping its `created_at` (`SessionException` if it is missing)."""
        previous = self._record(session_id, "agents", session_agent.agent_id)
        if previous is None:
            raise SessionException(f"Agent {session_agent.agent_id} in session {session_id} does not exist")
        record = {**session_agent.to_dict(), "created_at": previous.get("created_at")}
        self._put_record(session_id, "agents", session_agent.agent_id, record)

    # -- messages -------------------------------------------------------------------------------

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Append the message (and its tool calls) as events."""
        self._call(self._target.append_events, message_events(session_id, agent_id, session_message))

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        return self._messages(session_id, agent_id).get(message_id)

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Replace a message's events by those of its new version (`SessionException` if it has none).

        The new events are appended first and the old ones deleted after, so a failure in between
        leaves both versions (reads take the newer), never neither.
        """
        previous = self.read_message(session_id, agent_id, session_message.message_id)
        if previous is None:
            raise SessionException(f"Message {session_message.message_id} does not exist")
        session_message.created_at = previous.created_at
        stale = [
            event.id
            for event in self._call(self._target.get_events, session_id)
            if _owner(event) == (agent_id, session_message.message_id)
        ]
        self._call(self._target.append_events, message_events(session_id, agent_id, session_message))
        self._call(self._target.delete_events, session_id, ids=stale)

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """The agent's messages in `message_id` order (latest version of each), paged."""
        messages = [m for _, m in sorted(self._messages(session_id, agent_id).items())]
        return messages[offset:] if limit is None else messages[offset : offset + limit]

    # -- multi-agent ----------------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        self._put_record(session_id, "multi_agents", multi_agent.id, multi_agent.serialize_state())

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        return self._record(session_id, "multi_agents", multi_agent_id)

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        if self._record(session_id, "multi_agents", multi_agent.id) is None:
            raise SessionException(
                f"MultiAgent state {multi_agent.id} in session {session_id} does not exist"
            )
        self._put_record(session_id, "multi_agents", multi_agent.id, multi_agent.serialize_state())

    # -- helpers --------------------------------------------------------------------------------

    @property
    def _target(self) -> SessionStore:
        return self._store.store

    def _call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        return self._store.block(fn, *args, **kwargs)

    def _session(self, session_id: str) -> Session | None:
        try:
            session: Session = self._call(self._target.get_session, session_id)
            return session
        except SessionNotFound:
            return None

    def _existing(self, session_id: str) -> Session:
        session = self._session(session_id)
        if session is None:
            raise SessionException(f"Session {session_id} does not exist")
        return session

    def _record(self, session_id: str, kind: str, key: str) -> dict[str, Any] | None:
        strands = self._existing(session_id).metadata.get("strands") or {}
        record = (strands.get(kind) or {}).get(key)
        return dict(record) if isinstance(record, Mapping) else None

    def _put_record(self, session_id: str, kind: str, key: str, record: dict[str, Any]) -> None:
        session = self._existing(session_id)
        strands = dict(session.metadata.get("strands") or {})
        strands[kind] = {**(strands.get(kind) or {}), key: record}
        updated = session.model_copy(update={"metadata": {**session.metadata, "strands": strands}})
        self._call(self._target.save_session, updated)

    def _messages(self, session_id: str, agent_id: str) -> dict[int, SessionMessage]:
        self._existing(session_id)
        events: list[Event] = self._call(self._target.get_events, session_id, types=_MESSAGE_TYPES)
        latest: dict[int, SessionMessage] = {}
        for event in events:
            record = event.data.get("strands")
            if isinstance(record, Mapping) and record.get("agent_id") == agent_id and "message" in record:
                message = SessionMessage.from_dict(dict(record["message"]))
                latest[message.message_id] = message
        return latest


def message_events(session_id: str, agent_id: str, message: SessionMessage) -> list[Event]:
    """One Strands message as our events: the message (holding the original record), then one
    `tool_call_started` per `toolUse` block and one `tool_call_completed`/`_failed` per `toolResult`.

    Each event's `data["strands"]` names the agent and message it came from; the text and tool payloads
    shown are those of the message as Strands reads it back (the redacted version when there is one).
    """
    body = message.to_message()
    role = str(body.get("role", "user"))
    blocks: list[Any] = list(body.get("content") or [])
    text = "".join(block["text"] for block in blocks if isinstance(block, Mapping) and "text" in block)
    owner = {"agent_id": agent_id, "message_id": message.message_id}
    kind = EventType.MESSAGE_RECEIVED if role == "assistant" else EventType.MESSAGE_SENT
    record = {**owner, "message": message.to_dict()}
    events = [
        Event(type=kind, session_id=session_id, data={"role": role, "content": text, "strands": record})
    ]
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        if "toolUse" in block:
            use = block["toolUse"]
            data = {
                "tool_call_id": use.get("toolUseId"),
                "tool_name": use.get("name"),
                "tool_input": use.get("input"),
            }
            kind = EventType.TOOL_CALL_STARTED
        elif "toolResult" in block:
            result = block["toolResult"]
            data = {
                "tool_call_id": result.get("toolUseId"),
                "tool_output": {"content": result.get("content")},
            }
            kind = EventType.TOOL_CALL_COMPLETED
            if result.get("status") == "error":
                data["error_code"] = "tool_error"
                kind = EventType.TOOL_CALL_FAILED
        else:
            continue
        events.append(Event(type=kind, session_id=session_id, data=_json_safe({**data, "strands": owner})))
    return events


def _owner(event: Event) -> tuple[Any, Any] | None:
    """The (agent id, message id) a repository event belongs to, or None for other events."""
    owner = event.data.get("strands")
    return (owner.get("agent_id"), owner.get("message_id")) if isinstance(owner, Mapping) else None


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with bytes encoded the way Strands encodes them (so tool payloads with images store)."""
    encoded: dict[str, Any] = encode_bytes_values(data)
    return encoded
