"""`ASMConversationStore`: Pydantic AI's `ConversationStore` on our stores (extra `[pydantic-ai]`,
`pydantic-ai-slim==2.78.0`).

A conversation is one of our sessions (id: the conversation id when it is a valid ASM id, else `pai_`
and 40 hex digits of its SHA-256; agent `pydantic-ai`; the conversation id and scope in `metadata`), and
its log holds, in order:

* one event per stored entry: `message_sent` for a `ModelRequest`, `message_received` for a
  `ModelResponse` (so our timelines and queries read them), `data = {"entry": {id, parent_id, kind},
  "message": <the message as Pydantic AI serialises it>}` (or `"message_json"`, its JSON text, when it
  holds what our JSON rules refuse, such as U+0000), and the entry id as the event's `correlation_id`;
* after each write, one `pydantic_ai.record` event holding the whole `ConversationRecord`;
* on delete, one `pydantic_ai.record_deleted` event.

So the last event of a conversation's session is always its current record (or its deletion), read with
one query (`get_events(last=1)`). Every write (`write_record`, `write_details`, `delete_record`) reads that
event, checks the expected revision, and appends its batch (new entries and the new record together)
with `expected_sequence` set to the sequence number it read: a concurrent write moves the sequence, so
the slower writer gets `ConversationConflict` and writes nothing, across processes and machines. A
record written again after a delete starts from the deletion's sequence, so a copy loaded before the
delete cannot be saved over the new one (its revision is gone too).

Entries are found by id in any conversation (`read_entry`) through the indexed `correlation_id`; forked
conversations point into their source's log instead of copying it, and `read_history` walks parents
across sessions, reading each session's entries backwards in batches, not one query per entry.

`delete_record` keeps the entries (a fork may still reach them): `delete_session` on the conversation's
session, or our retention policies, remove them for good. `read_records` reads every conversation's
record (one query each), so listing costs grow with the number of conversations.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any, Self

from pydantic import TypeAdapter
from pydantic_ai.conversation_store import (
    ConversationConflict,
    ConversationDetails,
    ConversationEntry,
    ConversationRecord,
    ConversationStore,
)
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelRequest

from .. import sync
from ..core import ids
from ..core.errors import ConflictError, SessionNotFound, ValidationError
from ..core.models import Event, EventType, Session, SessionStatus
from ..core.pagination import pages
from ..query import query_api
from ._stores import BoundStore

#: The agent id of the sessions this store creates, unless one is passed.
DEFAULT_AGENT_ID = "pydantic-ai"
RECORD = "pydantic_ai.record"
DELETED = "pydantic_ai.record_deleted"
ENTRY_TYPES = (EventType.MESSAGE_SENT, EventType.MESSAGE_RECEIVED)
#: How many entries `read_history` reads per query when it walks a log backwards.
HISTORY_BATCH = 500

_records = TypeAdapter(ConversationRecord)


def conversation_session_id(conversation_id: str) -> str:
    """Our session id for a conversation id (see the module docstring)."""
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ValidationError(
            "conversation_id must be a non-empty string", details={"field": "conversation_id"}
        )
    try:
        return ids.validate_id(conversation_id, "conversation_id")
    except ValidationError:
        return "pai_" + hashlib.sha256(conversation_id.encode()).hexdigest()[:40]


class ASMConversationStore(ConversationStore):
    """Pydantic AI conversations, entries and records in an agent-session-manager store.

    Args:
        store: an async session store used on the caller's loop, or a `sync.SyncStore` (any thread).
        agent_id: the `agent_id` of the sessions it creates.

    Example:
        >>> from pydantic_ai import Agent
        >>> from pydantic_ai.conversation import Conversation
        >>> from agent_session_manager.integrations.pydantic_ai import ASMConversationStore
        >>> store = ASMConversationStore.from_url("sqlite:///./.asm/asm.db")
        >>> async def turn(agent: Agent, prompt: str) -> str:  # doctest: +SKIP
        ...     conversation = await store.load("chat-1") or Conversation(conversation_id="chat-1")
        ...     result = await agent.run(prompt, conversation=conversation)
        ...     await store.save(result)
        ...     return result.output
        >>> store.close()
    """

    def __init__(self, store: Any, *, agent_id: str = DEFAULT_AGENT_ID) -> None:
        self._bound = BoundStore(store)
        self._owned: sync.SyncStore | None = None
        self.agent_id = agent_id

    @classmethod
    def from_url(cls, url: str, *, agent_id: str = DEFAULT_AGENT_ID, **options: Any) -> Self:
        """A conversation store on the store at `url`, opened on the shared portal; `close()` closes it.

        Args:
            url: any `open_store` URL.
            agent_id: as for the constructor.
            **options: passed to `open_store` (e.g. `migrate=True`).
        """
        opened = sync.portal().open_store(url, **options)
        conversations = cls(opened, agent_id=agent_id)
        conversations._owned = opened
        return conversations

    def close(self) -> None:
        """Close the store if `from_url` opened it; idempotent."""
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()

    async def read_record(self, conversation_id: str) -> ConversationRecord | None:
        return (await self._bound.call(self._current, conversation_id))[0]

    async def read_records(
        self, *, scope: str | None = None, limit: int | None = None
    ) -> Sequence[ConversationRecord]:
        records = await self._bound.call(self._all_records)
        chosen = [record for record in records if scope is None or record.scope == scope]
        chosen.sort(key=lambda record: record.updated_at, reverse=True)
        return chosen if limit is None else chosen[:limit]

    async def write_record(
        self,
        record: ConversationRecord,
        *,
        new_entries: Sequence[ConversationEntry] = (),
        expected_revision: str | None,
    ) -> None:
        await self._bound.call(self._write_record, record, list(new_entries), expected_revision)

    async def write_details(
        self,
        conversation_id: str,
        details: ConversationDetails,
        *,
        expected_revision: str,
        expected: ConversationDetails | None = None,
    ) -> ConversationRecord:
        return await self._bound.call(
            self._write_details, conversation_id, dict(details), expected_revision, dict(expected or {})
        )

    async def delete_record(self, conversation_id: str, *, expected_revision: str) -> None:
        await self._bound.call(self._delete, conversation_id, expected_revision)

    async def read_entry(self, entry_id: str) -> ConversationEntry:
        found = await self._bound.call(self._find, entry_id)
        if found is None:
            raise KeyError(entry_id)
        return _entry_of(found)

    async def read_history(self, head_id: str | None, *, limit: int | None = None) -> list[ConversationEntry]:
        """The entries from the first up to `head_id` (or its last `limit`), reading each log backwards
        in batches; `KeyError` (a `LookupError`) when an entry is missing."""
        return await self._bound.call(self._history, head_id, limit)

    # -- on the store's loop ---------------------------------------------------------------------

    async def _current(self, conversation_id: str) -> tuple[ConversationRecord | None, int]:
        """The conversation's record (None when absent or deleted) and the sequence number it was read at."""
        store = self._bound.store
        try:
            last = await store.get_events(conversation_session_id(conversation_id), last=1)
        except SessionNotFound:
            return None, -1
        if not last:
            return None, 0
        event = last[0]
        return (_record_of(event) if event.type == RECORD else None), event.sequence_number or 0

    async def _all_records(self) -> list[ConversationRecord]:
        store = self._bound.store
        records = []
        async for page in pages(lambda cursor: store.list_sessions(agent_id=self.agent_id, cursor=cursor)):
            for session in page.items:
                conversation_id = session.metadata.get("pydantic_ai", {}).get("conversation_id")
                if isinstance(conversation_id, str):
                    record, _ = await self._current(conversation_id)
                    if record is not None:
                        records.append(record)
        return records

    async def _write_record(
        self, record: ConversationRecord, entries: list[ConversationEntry], expected_revision: str | None
    ) -> None:
        conversation_id = record.conversation_id
        stored, sequence = await self._current(conversation_id)
        if (stored.revision if stored is not None else None) != expected_revision:
            raise ConversationConflict(conversation_id)
        new_ids = {entry.id for entry in entries}
        if (
            record.head_id is not None
            and record.head_id not in new_ids
            and await self._find(record.head_id) is None
        ):
            raise ConversationConflict(conversation_id)
        if stored is not None:
            record = dataclasses.replace(record, title=stored.title, metadata=stored.metadata)
        session_id = conversation_session_id(conversation_id)
        events = [_entry_event(entry, session_id) for entry in entries]
        events.append(_record_event(RECORD, record, session_id))
        if sequence < 0:
            await self._bound.store.save_session(self._new_session(record))
            sequence = 0
        await self._append(conversation_id, events, sequence)

    async def _write_details(
        self, conversation_id: str, details: dict[str, Any], expected_revision: str, expected: dict[str, Any]
    ) -> ConversationRecord:
        stored, sequence = await self._current(conversation_id)
        if stored is None or stored.revision != expected_revision:
            raise ConversationConflict(conversation_id)
        if any(getattr(stored, key) != value for key, value in expected.items()):
            raise ConversationConflict(conversation_id)
        updated = dataclasses.replace(stored, **details)
        session_id = conversation_session_id(conversation_id)
        await self._append(conversation_id, [_record_event(RECORD, updated, session_id)], sequence)
        return updated

    async def _delete(self, conversation_id: str, expected_revision: str) -> None:
        stored, sequence = await self._current(conversation_id)
        if stored is None or stored.revision != expected_revision:
            raise ConversationConflict(conversation_id)
        session_id = conversation_session_id(conversation_id)
        await self._append(conversation_id, [_record_event(DELETED, stored, session_id)], sequence)

    async def _append(self, conversation_id: str, events: list[Event], sequence: int) -> None:
        try:
            await self._bound.store.append_events(events, expected_sequence=sequence)
        except ConflictError:
            raise ConversationConflict(conversation_id) from None

    def _new_session(self, record: ConversationRecord) -> Session:
        return Session(
            id=conversation_session_id(record.conversation_id),
            agent_id=self.agent_id,
            status=SessionStatus.ACTIVE,
            metadata={"pydantic_ai": {"conversation_id": record.conversation_id, "scope": record.scope}},
        )

    async def _find(self, entry_id: str) -> Event | None:
        page = await query_api(self._bound.store).search_events(
            correlation_id=entry_id, types=list(ENTRY_TYPES), limit=1
        )
        return page.items[0] if page.items else None

    async def _history(self, head_id: str | None, limit: int | None) -> list[ConversationEntry]:
        store = self._bound.store
        entries: list[ConversationEntry] = []
        wanted = head_id
        while wanted is not None and (limit is None or len(entries) < limit):
            found = await self._find(wanted)
            if found is None:
                raise KeyError(wanted)
            batch = await store.get_events(
                found.session_id,
                before=(found.sequence_number or 0) + 1,
                last=HISTORY_BATCH,
                types=ENTRY_TYPES,
            )
            by_id = {event.correlation_id: event for event in batch}
            while wanted in by_id and (limit is None or len(entries) < limit):
                entry = _entry_of(by_id[wanted])
                entries.append(entry)
                wanted = entry.parent_id
        entries.reverse()
        return entries


def _entry_event(entry: ConversationEntry, session_id: str) -> Event:
    """The event that stores one entry (its message typed as sent or received)."""
    kind = EventType.MESSAGE_SENT if isinstance(entry.message, ModelRequest) else EventType.MESSAGE_RECEIVED
    head = {"entry": {"id": entry.id, "parent_id": entry.parent_id, "kind": entry.kind}}
    message = ModelMessagesTypeAdapter.dump_python([entry.message], mode="json")[0]
    try:
        return Event(
            type=kind, session_id=session_id, correlation_id=entry.id, data={**head, "message": message}
        )
    except ValidationError:
        text = ModelMessagesTypeAdapter.dump_json([entry.message]).decode()
        return Event(
            type=kind, session_id=session_id, correlation_id=entry.id, data={**head, "message_json": text}
        )


def _entry_of(event: Event) -> ConversationEntry:
    head = event.data["entry"]
    message: ModelMessage
    if "message" in event.data:
        message = ModelMessagesTypeAdapter.validate_python([event.data["message"]])[0]
    else:
        message = ModelMessagesTypeAdapter.validate_json(event.data["message_json"])[0]
    return ConversationEntry(id=head["id"], parent_id=head["parent_id"], message=message, kind=head["kind"])


def _record_event(kind: str, record: ConversationRecord, session_id: str) -> Event:
    """The event that stores a record (or its deletion)."""
    try:
        return Event(
            type=kind, session_id=session_id, data={"record": _records.dump_python(record, mode="json")}
        )
    except ValidationError:
        return Event(
            type=kind, session_id=session_id, data={"record_json": _records.dump_json(record).decode()}
        )


def _record_of(event: Event) -> ConversationRecord:
    if "record" in event.data:
        return _records.validate_python(event.data["record"])
    return _records.validate_json(event.data["record_json"])
