"""`ASMSession`: the OpenAI Agents SDK's `Session` protocol on any of our session stores.

One SDK session is one of our sessions, and each item one event of it (see `items`), so a
conversation is durable on SQLite or PostgreSQL, shared by any number of processes, and browsable,
searchable and retained like every other session. Decided here:

* The ASM session id is the SDK's `session_id` when it is a valid ASM id (1-128 characters of
  `[A-Za-z0-9_.:-]`), else `oa_` and the first 40 hex digits of its SHA-256; the SDK id is kept in the
  session's `metadata["openai_agents"]["session_id"]`. The session is created by the first `add_items`
  (concurrent first writers in several processes all succeed, and no item is dropped).
* Every event of that session is an item: the session's log is the conversation. Runs recorded by
  `ASMTracingProcessor` are runs of the session, not events, and items added during a recorded run carry
  its `run_id`.
* `get_items(limit)` reads the newest `limit` events in one indexed query (on SQL stores only their `data`
  column, without building event objects); `limit` (or
  `session_settings.limit` when it is `None`) must be a non-negative integer (`validation_error`), and
  0 returns `[]`.
* `add_items` is one atomic batch: all items are stored, in order and contiguous, or none.
* `pop_item` is atomic across processes: it removes the newest event with `delete_events(ids=,
  expected_sequence=)`, so two concurrent poppers never get the same item and an item appended meanwhile
  is never skipped.
* `clear_session` deletes every item but keeps the session and its recorded runs (their cost stays
  counted); sequence numbers are never reused.
* `close()` closes the store only if `from_url` opened it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from agents.memory.session_settings import (
    SessionSettings,
    coerce_session_settings,
    resolve_session_limit,
)

from ... import sync
from ...core.errors import ConflictError, SessionNotFound, ValidationError
from ...core.models import Event, Session, SessionStatus
from .._stores import BoundStore
from .items import DEFAULT_AGENT_ID, asm_session_id, item_event, item_of
from .tracing import current_run_id

if TYPE_CHECKING:
    from agents.items import TResponseInputItem


#: The `data` of a session's newest events, newest first: `get_items(limit)` on a store with SQL access
#: (`sql_read`, the SQLite and PostgreSQL stores) reads only that column, in one backwards read of the
#: `(session_id, sequence_number)` index, without building event objects.
_NEWEST_DATA = "SELECT data FROM asm_events WHERE session_id = $1 ORDER BY sequence_number DESC LIMIT $2"


class ASMSession:
    """Conversation memory of the OpenAI Agents SDK, stored in an agent-session-manager store.

    Implements the SDK's `Session` protocol (`get_items`, `add_items`, `pop_item`, `clear_session`,
    `session_settings`). Works in async code, from sync code and under `Runner.run_sync`: give it a store
    opened on the loop that runs the agent, or a `sync.SyncStore`, or use `from_url`.

    Args:
        session_id: the SDK's session id.
        store: an async session store used on the caller's loop, or a `sync.SyncStore` (any thread).
        session_settings: the SDK's `SessionSettings` (or a dict of its fields); its `limit` applies when
            `get_items` is called without one.
        agent_id: the `agent_id` of the session this creates.

    Raises:
        ValidationError: an empty `session_id`, or a `store` that is not a session store.

    Example:
        >>> from agents import Agent, Runner
        >>> from agent_session_manager.integrations.openai_agents import ASMSession
        >>> session = ASMSession.from_url("user-42", url="sqlite:///./.asm/asm.db")
        >>> result = Runner.run_sync(Agent(name="helper"), "Hi!", session=session)  # doctest: +SKIP
        >>> session.close()
    """

    session_settings: SessionSettings | None = None

    def __init__(
        self,
        session_id: str,
        store: Any,
        *,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        agent_id: str = DEFAULT_AGENT_ID,
    ) -> None:
        self.session_id = session_id
        self.asm_session_id = asm_session_id(session_id)
        self.session_settings = (
            SessionSettings() if session_settings is None else coerce_session_settings(session_settings)
        )
        self.agent_id = agent_id
        self._bound = BoundStore(store)
        self._owned: sync.SyncStore | None = None
        self._closed = False

    @classmethod
    def from_url(
        cls,
        session_id: str,
        *,
        url: str,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        agent_id: str = DEFAULT_AGENT_ID,
        **options: Any,
    ) -> Self:
        """A session on the store at `url`, opened on the shared `sync.portal()` and closed by `close()`.

        Args:
            session_id: the SDK's session id.
            url: any `open_store` URL (`sqlite:///path`, `postgresql://...`, `memory://`).
            session_settings: as for the constructor.
            agent_id: as for the constructor.
            **options: passed to `open_store` (e.g. `migrate=True`).

        Returns:
            A session usable from any thread and any event loop.

        Raises:
            ASMError: the store cannot be opened (its code says why).
        """
        store = sync.portal().open_store(url, **options)
        session = cls(session_id, store, session_settings=session_settings, agent_id=agent_id)
        session._owned = store
        return session

    @property
    def store(self) -> Any:
        """The async store the items live in (on the portal's loop when one is used)."""
        return self._bound.store

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The newest `limit` items (all when `None` and the settings set none), oldest first."""
        self._check_open()
        wanted = resolve_session_limit(limit, self.session_settings)
        if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0):
            raise ValidationError("limit must be a non-negative integer or None", details={"field": "limit"})
        if wanted == 0:
            return []
        return await self._bound.call(self._read, wanted)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append `items` in order, atomically (all or none); `validation_error` for a non-JSON item."""
        self._check_open()
        if not items:
            return
        run_id = current_run_id(self.asm_session_id)
        events = [item_event(item, session_id=self.asm_session_id, run_id=run_id) for item in items]
        await self._bound.call(self._append, events)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item (`None` when there is none); atomic across processes."""
        self._check_open()
        return await self._bound.call(self._pop)

    async def clear_session(self) -> None:
        """Delete every item of the session (the session and its runs stay)."""
        self._check_open()
        await self._bound.call(self._clear)

    def close(self) -> None:
        """Stop using the session; closes the store if `from_url` opened it. Idempotent."""
        self._closed = True
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValidationError("this ASMSession is closed", details={"session_id": self.session_id})

    async def _read(self, limit: int | None) -> list[Any]:
        store = self._bound.store
        sql_read, dialect = getattr(store, "sql_read", None), getattr(store, "dialect", None)
        if limit is not None and sql_read is not None and dialect is not None:
            rows = await sql_read(_NEWEST_DATA, (self.asm_session_id, limit))
            found = [dialect.doc_out(row[0]) for row in reversed(rows)]
        else:
            try:
                events = await store.get_events(self.asm_session_id, last=limit)
            except SessionNotFound:
                return []
            found = [event.data for event in events]
        return [item for item in map(item_of, found) if item is not None]

    async def _append(self, events: list[Event]) -> None:
        store = self._bound.store
        try:
            await store.append_events(events)
        except SessionNotFound:
            await store.save_session(self._new_session())
            await store.append_events(events)

    def _new_session(self) -> Session:
        return Session(
            id=self.asm_session_id,
            agent_id=self.agent_id,
            status=SessionStatus.ACTIVE,
            metadata={"openai_agents": {"session_id": self.session_id}},
        )

    async def _pop(self) -> Any | None:
        store = self._bound.store
        while True:
            try:
                newest = await store.get_events(self.asm_session_id, last=1)
            except SessionNotFound:
                return None
            if not newest:
                return None
            event = newest[0]
            try:
                deleted = await store.delete_events(
                    self.asm_session_id, ids=[event.id], expected_sequence=event.sequence_number
                )
            except ConflictError:
                continue
            except SessionNotFound:
                return None
            item = item_of(event.data)
            if deleted and item is not None:
                return item

    async def _clear(self) -> None:
        try:
            await self._bound.store.delete_events(self.asm_session_id, after=0)
        except SessionNotFound:
            return
