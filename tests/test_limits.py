"""One limit per quantity, enforced at input and identical on every backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent_session_manager import Event, Run, Session, ValidationError, query_api
from agent_session_manager.core.ids import validate_id
from agent_session_manager.core.models import MAX_EVENT_BYTES
from agent_session_manager.core.usage import MAX_TOKENS
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.snapshots.base import validate_identifier
from agent_session_manager.workspaces.files import generate_session_id

COUNTER_NAMES = [
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_read_input_tokens",
    "cache_creation_tokens",
    "cache_creation_input_tokens",
    "total_tokens",
]


@pytest.mark.parametrize("name", COUNTER_NAMES)
@pytest.mark.parametrize("count", [MAX_TOKENS + 1, 2**63, -(MAX_TOKENS + 1), 1e300])
def test_token_counts_beyond_the_limit_are_refused_at_input(name: str, count: float) -> None:
    with pytest.raises(ValidationError) as info:
        Run(session_id="ses_1", token_usage={name: count})
    assert info.value.details["field"] == "token_usage"
    with pytest.raises(ValidationError):
        Run(session_id="ses_1", token_usage={name: MAX_TOKENS}).add_token_usage({name: 1})


async def test_token_counts_at_the_limit_count_identically_everywhere(store: SessionStore) -> None:
    session = await store.save_session(Session(agent_id="a"))
    usage = {"input_tokens": MAX_TOKENS, "output_tokens": MAX_TOKENS, "cache_read_input_tokens": MAX_TOKENS}
    for second in range(3):
        started = datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)
        await store.save_run(Run(session_id=session.id, token_usage=usage, started_at=started))
    api = query_api(store)
    stats = await api.get_session_stats(session.id)
    assert stats.token_totals.input_tokens == 3 * MAX_TOKENS
    assert stats.token_totals.total_tokens == 9 * MAX_TOKENS
    usage_summary = await api.get_usage_summary()
    assert usage_summary.total_tokens == 9 * MAX_TOKENS
    heavy = await api.search_runs(min_tokens=3 * MAX_TOKENS, order_by="token_usage_desc")
    assert len(heavy.items) == 3
    assert (await api.search_runs(min_tokens=3 * MAX_TOKENS + 1)).items == []


@pytest.mark.parametrize(
    "moment", [datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)], ids=["max", "min"]
)
async def test_the_extreme_timestamps_round_trip_and_page_everywhere(
    store: SessionStore, moment: datetime
) -> None:
    edge = await store.save_session(Session(agent_id="edge", created_at=moment, updated_at=moment))
    middle = await store.save_session(Session(agent_id="edge", created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    assert (await store.get_session(edge.id)).created_at == moment
    first = await store.list_sessions(agent_id="edge", limit=1)
    assert first.next_cursor is not None
    second = await store.list_sessions(agent_id="edge", limit=1, cursor=first.next_cursor)
    listed = [*first.items, *second.items]
    assert [s.id for s in listed] == [s.id for s in sorted([edge, middle], key=lambda s: s.created_at)]
    assert all(s.created_at.tzinfo is not None for s in listed)
    await store.delete_session(edge.id)
    await store.delete_session(middle.id)


def test_an_event_beyond_the_size_limit_is_refused_at_input() -> None:
    fits = "x" * (MAX_EVENT_BYTES - 100)
    assert len(Event(type="message_sent", session_id="s", data={"t": fits}).data["t"]) == len(fits)
    with pytest.raises(ValidationError) as info:
        Event(type="message_sent", session_id="s", data={"t": "x" * MAX_EVENT_BYTES})
    assert info.value.details["max_bytes"] == MAX_EVENT_BYTES
    with pytest.raises(ValidationError):
        Event(type="message_sent", session_id="s", metadata={"t": "x" * MAX_EVENT_BYTES})


async def test_an_oversized_event_is_refused_by_every_backend_before_anything_is_written(
    store: SessionStore,
) -> None:
    session = await store.save_session(Session(agent_id="a"))
    small = Event(type="message_sent", session_id=session.id, data={"t": ""})
    big = small.model_copy(update={"data": {"t": "x" * MAX_EVENT_BYTES}})
    with pytest.raises(ValidationError):
        await store.append_events([Event(type="message_sent", session_id=session.id), big])
    assert await store.get_events(session.id) == []


def test_generated_workspace_session_ids_are_valid_everywhere() -> None:
    generated = {generate_session_id() for _ in range(200)}
    assert len(generated) == 200
    for session_id in generated:
        assert validate_id(session_id) == session_id
        assert validate_identifier(session_id, "session_id") == session_id
        assert Session(id=session_id, agent_id="a").id == session_id
