"""The contract of the core primitives agent frameworks build on (issue 11, part A), on every backend.

Namespaced event types, newest-N reads, streaming reads, expected-sequence appends, deletion without
renumbering, owners and listing by update time. `SessionStoreContract` includes these tests; they live in
their own module so a backend author can read them apart from the record and log basics.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..core.errors import InvalidEventType
from ..core.models import NAMESPACED_EVENT_TYPE, Event, EventType, Session
from ..sessions.base import SessionStore


async def new_session(store: SessionStore, **fields: Any) -> Session:
    """A saved session of agent `agent` (or `agent_id=`)."""
    return await store.save_session(Session(agent_id=fields.pop("agent_id", "agent"), **fields))


def message(session: Session, kind: EventType | str = EventType.MESSAGE_SENT, **fields: Any) -> Event:
    """An unsaved event of `session`."""
    return Event(type=kind, session_id=session.id, **fields)


class PrimitivesContract:
    """Tests of the core primitives; mixed into `SessionStoreContract`, which provides `store`."""

    # -- namespaced event types -----------------------------------------------------------------

    async def test_namespaced_event_types_are_stored_and_filtered(self, store: SessionStore) -> None:
        session = await new_session(store)
        kinds: list[EventType | str] = ["langgraph.checkpoint", EventType.MESSAGE_SENT, "adk.state_delta"]
        stored = await store.append_events([message(session, kind) for kind in kinds * 2])
        assert [e.type for e in stored] == kinds * 2
        got = await store.get_events(session.id)
        assert [e.type for e in got] == kinds * 2
        assert got[1].type is EventType.MESSAGE_SENT
        assert isinstance(got[0].type, str) and not isinstance(got[0].type, EventType)
        checkpoints = await store.get_events(session.id, types="langgraph.checkpoint")
        assert [e.sequence_number for e in checkpoints] == [1, 4]
        mixed = await store.get_events(session.id, types=["adk.state_delta", "message_sent"])
        assert [e.sequence_number for e in mixed] == [2, 3, 5, 6]
        one = await store.append_event(message(session, "a.b_2.c3"))
        assert (await store.get_events(session.id, after=6))[0].type == one.type == "a.b_2.c3"

    async def test_unknown_event_types_are_refused_with_the_valid_ones(self, store: SessionStore) -> None:
        session = await new_session(store)
        for bad in (
            "checkpoint",
            "LangGraph.checkpoint",
            "langgraph.",
            ".x",
            "a..b",
            "1a.b",
            "a.b-c",
            "a" * 120 + ".b" * 5,
        ):
            with pytest.raises(InvalidEventType) as info:
                message(session, bad)
            assert info.value.code == "invalid_event_type"
            assert info.value.details["pattern"] == NAMESPACED_EVENT_TYPE.pattern
            assert "message_sent" in info.value.details["valid_types"]
            assert len(info.value.details["valid_types"]) == len(EventType)
            assert NAMESPACED_EVENT_TYPE.pattern in info.value.message
            with pytest.raises(InvalidEventType):
                await store.get_events(session.id, types=[bad])
        assert await store.get_latest_sequence(session.id) == 0
