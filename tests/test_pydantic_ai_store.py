"""`ASMConversationStore`, Pydantic AI's `ConversationStore` on our stores (memory, SQLite, PostgreSQL): a
real `Agent` on a `FunctionModel` persisting and resuming a conversation, conflicting writes rejected
with nothing written, every primitive (records, entries, revisions, deletion, listing by scope), forks
sharing their source's entries, branches, and messages our JSON rules refuse kept exactly."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import ConversationConflict, ConversationEntry, ConversationRecord
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent_session_manager import EventType
from agent_session_manager.integrations.pydantic_ai import ASMConversationStore, conversation_session_id
from agent_session_manager.sessions.base import SessionStore


def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Says how many prompts it has seen and the first one, so a resumed history shows in the answer."""
    prompts = [
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart)
    ]
    return ModelResponse(parts=[TextPart(f"{len(prompts)} prompts, first: {prompts[0]}")])


def agent() -> Agent[None, str]:
    return Agent(FunctionModel(reply))


def new_id() -> str:
    return f"chat-{uuid.uuid4().hex}"


async def turn(conversations: ASMConversationStore, conversation_id: str, prompt: str) -> str:
    conversation = await conversations.load(conversation_id) or Conversation(conversation_id=conversation_id)
    result = await agent().run(prompt, conversation=conversation)
    await conversations.save(result)
    return result.output


async def test_an_agent_conversation_persists_and_resumes(store: SessionStore) -> None:
    conversation_id = new_id()
    assert await turn(ASMConversationStore(store), conversation_id, "hello") == "1 prompts, first: hello"
    resumed = ASMConversationStore(store)
    assert await turn(resumed, conversation_id, "again") == "2 prompts, first: hello"
    loaded = await resumed.load(conversation_id)
    assert loaded is not None
    assert len(loaded.messages) == 4
    entries = await resumed.load_entries(conversation_id)
    assert entries is not None
    assert [e.parent_id for e in entries] == [None, entries[0].id, entries[1].id, entries[2].id]
    events = await store.get_events(conversation_session_id(conversation_id))
    assert [e.type for e in events] == [
        EventType.MESSAGE_SENT,
        EventType.MESSAGE_RECEIVED,
        "pydantic_ai.record",
        EventType.MESSAGE_SENT,
        EventType.MESSAGE_RECEIVED,
        "pydantic_ai.record",
    ]
    assert [e.correlation_id for e in events if e.type != "pydantic_ai.record"] == [e.id for e in entries]
    record = await resumed.read_record(conversation_id)
    assert record is not None
    assert record.head_id == entries[-1].id
    assert record.usage.requests == 2
    assert (await resumed.load(conversation_id, limit=1)).messages == loaded.messages[-1:]  # type: ignore[union-attr]


async def test_a_conflicting_save_is_rejected_and_writes_nothing(store: SessionStore) -> None:
    conversations = ASMConversationStore(store)
    conversation_id = new_id()
    await turn(conversations, conversation_id, "hello")
    first = await conversations.load(conversation_id)
    second = await conversations.load(conversation_id)
    assert first is not None and second is not None
    await conversations.save(await agent().run("from one tab", conversation=first))
    session_id = conversation_session_id(conversation_id)
    before = await store.get_latest_sequence(session_id)
    with pytest.raises(ConversationConflict):
        await conversations.save(await agent().run("from another tab", conversation=second))
    assert await store.get_latest_sequence(session_id) == before
    loaded = await conversations.load(conversation_id)
    assert loaded is not None
    assert [m.parts[0].content for m in loaded.messages if isinstance(m, ModelRequest)] == [
        "hello",
        "from one tab",
    ]


def entry(text: str, parent: str | None) -> ConversationEntry:
    return ConversationEntry(parent_id=parent, message=ModelRequest(parts=[UserPromptPart(text)]))


async def test_write_record_checks_revision_and_head(store: SessionStore) -> None:
    conversations = ASMConversationStore(store)
    conversation_id = new_id()
    one = entry("one", None)
    record = ConversationRecord(conversation_id=conversation_id, head_id=one.id, scope="u1")
    await conversations.write_record(record, new_entries=[one], expected_revision=None)
    stored = await conversations.read_record(conversation_id)
    assert stored == record
    assert await conversations.read_entry(one.id) == one
    two = entry("two", one.id)
    newer = ConversationRecord(conversation_id=conversation_id, head_id=two.id)
    for expected in (None, "not-the-revision"):
        with pytest.raises(ConversationConflict):
            await conversations.write_record(newer, new_entries=[two], expected_revision=expected)
    dangling = ConversationRecord(conversation_id=conversation_id, head_id="no-such-entry")
    with pytest.raises(ConversationConflict):
        await conversations.write_record(dangling, expected_revision=record.revision)
    with pytest.raises(KeyError):
        await conversations.read_entry(two.id)
    await conversations.write_record(newer, new_entries=[two], expected_revision=record.revision)
    assert await conversations.read_history(two.id) == [one, two]
    assert await conversations.read_history(two.id, limit=1) == [two]
    assert await conversations.read_history(None) == []


async def test_delete_record_checks_revision_and_a_new_conversation_gets_a_new_revision(
    store: SessionStore,
) -> None:
    conversations = ASMConversationStore(store)
    conversation_id = new_id()
    await turn(conversations, conversation_id, "hello")
    old = await conversations.read_record(conversation_id)
    assert old is not None
    with pytest.raises(ConversationConflict):
        await conversations.delete_record(conversation_id, expected_revision="stale")
    await conversations.delete(conversation_id)
    assert await conversations.read_record(conversation_id) is None
    assert await conversations.load(conversation_id) is None
    with pytest.raises(ConversationConflict):
        await conversations.delete_record(conversation_id, expected_revision=old.revision)
    assert await turn(conversations, conversation_id, "anew") == "1 prompts, first: anew"
    with pytest.raises(ConversationConflict):
        await conversations.write_record(old, expected_revision=old.revision)


async def test_records_are_listed_newest_first_by_scope(store: SessionStore) -> None:
    conversations = ASMConversationStore(store, agent_id=f"pai-{uuid.uuid4().hex[:8]}")
    made = []
    for scope in ("alice", "bob", "alice"):
        conversation_id = new_id()
        conversation = Conversation(conversation_id=conversation_id)
        await conversations.save(await agent().run("hi", conversation=conversation), scope=scope)
        made.append(conversation_id)
    assert [r.conversation_id for r in await conversations.list_conversations()] == made[::-1]
    assert [r.conversation_id for r in await conversations.list_conversations(scope="alice")] == [
        made[2],
        made[0],
    ]
    assert [r.conversation_id for r in await conversations.list_conversations(limit=1)] == [made[2]]
    assert await conversations.load(made[1], scope="alice") is None


async def test_a_fork_shares_its_source_entries(store: SessionStore) -> None:
    conversations = ASMConversationStore(store)
    source = new_id()
    await turn(conversations, source, "hello")
    await turn(conversations, source, "again")
    fork_id = new_id()
    fork = await conversations.fork(source, at=2, new_conversation_id=fork_id)
    assert len(fork.messages) == 2
    fork_events = await store.get_events(conversation_session_id(fork_id))
    assert [e.type for e in fork_events] == ["pydantic_ai.record"]
    result = await agent().run("elsewhere", conversation=fork)
    assert result.output == "2 prompts, first: hello"
    await conversations.save(result)
    forked = await conversations.load_entries(fork_id)
    original = await conversations.load_entries(source)
    assert forked is not None and original is not None
    assert forked[:2] == original[:2]
    assert len(forked) == 4
    assert len(await store.get_events(conversation_session_id(fork_id), types=[EventType.MESSAGE_SENT])) == 1
    assert await conversations.read_entry(original[0].id) == original[0]


async def test_branch_keeps_the_old_history_reachable(store: SessionStore) -> None:
    conversations = ASMConversationStore(store)
    conversation_id = new_id()
    await turn(conversations, conversation_id, "hello")
    await turn(conversations, conversation_id, "again")
    before = await conversations.load_entries(conversation_id)
    record = await conversations.read_record(conversation_id)
    assert before is not None and record is not None
    branched = await conversations.branch(conversation_id, at=2, expected_revision=record.revision)
    await conversations.save(await agent().run("instead", conversation=branched))
    after = await conversations.read_record(conversation_id)
    assert after is not None
    assert after.branches == [before[-1].id]
    back = await conversations.branch(
        conversation_id, from_entry=before[-1].id, expected_revision=after.revision
    )
    assert back.messages == [e.message for e in before]


async def test_title_and_metadata_updates_survive_saves(store: SessionStore) -> None:
    conversations = ASMConversationStore(store)
    conversation_id = new_id()
    await turn(conversations, conversation_id, "hello")
    updated = await conversations.update(
        conversation_id, title="Greetings", metadata={"model": "x"}, expected_title=None
    )
    assert (updated.title, updated.metadata) == ("Greetings", {"model": "x"})
    with pytest.raises(ConversationConflict):
        await conversations.update(conversation_id, title="Other", expected_title=None)
    await turn(conversations, conversation_id, "again")
    record = await conversations.read_record(conversation_id)
    assert record is not None
    assert (record.title, record.metadata) == ("Greetings", {"model": "x"})


async def test_messages_our_json_rules_refuse_round_trip(store: SessionStore) -> None:
    conversations = ASMConversationStore(store)
    conversation_id = new_id()
    assert await turn(conversations, conversation_id, "nul \x00 here") == "1 prompts, first: nul \x00 here"
    loaded = await conversations.load(conversation_id)
    assert loaded is not None
    first = loaded.messages[0]
    assert isinstance(first, ModelRequest)
    assert first.parts[0].content == "nul \x00 here"  # type: ignore[union-attr]


async def test_from_url_in_a_running_loop(tmp_path: Path) -> None:
    conversations = ASMConversationStore.from_url(f"sqlite:///{tmp_path}/asm.db", migrate=True)
    try:
        conversation_id = new_id()
        await turn(conversations, conversation_id, "hello")
        assert await turn(conversations, conversation_id, "again") == "2 prompts, first: hello"
    finally:
        conversations.close()
