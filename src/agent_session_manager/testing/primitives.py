"""The contract of the core primitives agent frameworks build on (issue 11, part A), on every backend.

Namespaced event types, newest-N reads, streaming reads, expected-sequence appends, deletion without
renumbering, owners and listing by update time. `SessionStoreContract` includes these tests; they live in
their own module so a backend author can read them apart from the record and log basics.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..core.errors import InvalidEventType, SessionNotFound, ValidationError
from ..core.models import NAMESPACED_EVENT_TYPE, Event, EventType, Run, Session
from ..sessions.base import SessionStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


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

    # -- newest-N reads -------------------------------------------------------------------------

    async def _mixed_log(self, store: SessionStore, count: int = 30) -> tuple[Session, list[Event]]:
        """`count` events alternating sent/received, second by second, every third one in a run."""
        session = await new_session(store)
        run = await store.save_run(Run(session_id=session.id))
        events = [
            message(
                session,
                EventType.MESSAGE_SENT if i % 2 == 0 else EventType.MESSAGE_RECEIVED,
                run_id=run.id if i % 3 == 0 else None,
                timestamp=T0 + timedelta(seconds=i),
                data={"i": i},
            )
            for i in range(count)
        ]
        return session, await store.append_events(events)

    async def test_last_returns_the_newest_matches_in_ascending_order(self, store: SessionStore) -> None:
        session, events = await self._mixed_log(store)

        async def seqs(**kw: Any) -> list[int]:
            return [e.sequence_number or 0 for e in await store.get_events(session.id, **kw)]

        def oracle(keep: Any, last: int) -> list[int]:
            return [e.sequence_number or 0 for e in events if keep(e)][-last:]

        assert await seqs(last=5) == list(range(26, 31))
        assert await seqs(last=1) == [30]
        assert await seqs(last=100) == list(range(1, 31))
        assert await seqs(last=3, types="message_sent") == oracle(lambda e: e.type == "message_sent", 3)
        assert await seqs(last=4, run_id=events[0].run_id) == oracle(lambda e: e.run_id is not None, 4)
        assert await seqs(last=2, after=27) == [29, 30]
        assert await seqs(last=5, after=27) == [28, 29, 30]
        assert await seqs(last=3, until=T0 + timedelta(seconds=9)) == [8, 9, 10]
        assert await seqs(last=3, since=T0 + timedelta(seconds=28)) == [29, 30]
        assert await seqs(last=2, after=10, before=20, types=["message_received"]) == [16, 18]
        assert (await store.get_events(session.id, last=2))[1] == events[-1]

    async def test_before_and_last_page_backwards(self, store: SessionStore) -> None:
        session, _ = await self._mixed_log(store, 23)
        pages: list[list[int]] = []
        before: int | None = None
        while True:
            page = await store.get_events(session.id, before=before, last=5)
            if not page:
                break
            pages.append([e.sequence_number or 0 for e in page])
            before = page[0].sequence_number
        assert pages == [
            list(range(19, 24)),
            list(range(14, 19)),
            list(range(9, 14)),
            list(range(4, 9)),
            [1, 2, 3],
        ]

    async def test_last_long_polls_like_the_other_filters(self, store: SessionStore) -> None:
        session, _ = await self._mixed_log(store, 4)
        waiting = asyncio.create_task(store.get_events(session.id, after=4, last=1, wait=5))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await store.append_events([message(session, data={"n": n}) for n in range(3)])
        got = await asyncio.wait_for(waiting, 5)
        assert [e.sequence_number for e in got] == [7]

    async def test_bad_counts_are_validation_errors(self, store: SessionStore) -> None:
        session = await new_session(store)
        await store.append_event(message(session))
        cases: list[tuple[str, Any]] = [
            ("last", 0),
            ("last", -1),
            ("last", 2**63),
            ("last", 2**64),
            ("last", True),
            ("last", 1.0),
            ("limit", 0),
            ("limit", -5),
            ("limit", 2**63),
            ("after", -1),
            ("after", 2**64),
            ("before", 2**63),
        ]
        for name, value in cases:
            with pytest.raises(ValidationError) as info:
                await store.get_events(session.id, **{name: value})
            assert info.value.code == "validation_error"
            assert info.value.details["field"] == name
        with pytest.raises(ValidationError) as both:
            await store.get_events(session.id, last=1, limit=1)
        assert both.value.code == "validation_error"
        assert [e.sequence_number for e in await store.get_events(session.id, after=2**63 - 1)] == []
        with pytest.raises(SessionNotFound):
            await store.get_events("ses_missing", last=1)

    # -- streaming reads ------------------------------------------------------------------------

    async def test_iter_events_streams_every_match_in_order(self, store: SessionStore) -> None:
        session, events = await self._mixed_log(store, 25)
        streamed = [e async for e in store.iter_events(session.id, batch_size=4)]
        assert streamed == events
        sent = [e async for e in store.iter_events(session.id, types="message_sent", batch_size=3)]
        assert sent == [e for e in events if e.type == "message_sent"]
        window = store.iter_events(session.id, after=5, before=20, run_id=events[0].run_id, batch_size=2)
        assert [e.sequence_number async for e in window] == [7, 10, 13, 16, 19]
        timed = store.iter_events(
            session.id, since=T0 + timedelta(seconds=20), until=T0 + timedelta(seconds=22)
        )
        assert [e.sequence_number async for e in timed] == [21, 22, 23]
        assert [e async for e in store.iter_events(session.id, after=25)] == []
        with pytest.raises(ValidationError):
            await anext(aiter(store.iter_events(session.id, batch_size=0)))
        with pytest.raises(SessionNotFound):
            await anext(aiter(store.iter_events("ses_missing")))

    async def test_iter_events_reads_one_batch_at_a_time(self, store: SessionStore) -> None:
        session, _ = await self._mixed_log(store, 10)
        seen = []
        async for event in store.iter_events(session.id, batch_size=3):
            seen.append(event.sequence_number)
            if event.sequence_number == 3:
                # Appended after the first batch was read: a later batch still reaches them.
                await store.append_events([message(session) for _ in range(2)])
        assert seen == list(range(1, 13))
