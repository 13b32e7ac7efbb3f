"""The event log of the `SessionStore` contract: gapless per-session numbering, batches, flush, reads
and their filters. Part of `SessionStoreContract`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..core.errors import (
    AlreadyExists,
    ASMError,
    InvalidEventType,
    InvalidTransition,
    RunNotFound,
    SessionNotFound,
    ValidationError,
)
from ..core.models import Event, EventType, Run, RunStatus, Session, SessionStatus
from ..sessions.base import SessionStore
from .store import T0, StoreContract


class EventLogContract(StoreContract):
    """Appends, batches, `flush` and `get_events`, on every backend alike."""

    # -- appends --------------------------------------------------------------------------------

    async def test_append_numbers_from_one_per_session(self, store: SessionStore) -> None:
        a = await self._session(store)
        b = await self._session(store)
        stored = [await store.append_event(self._event(a)) for _ in range(3)]
        assert [e.sequence_number for e in stored] == [1, 2, 3]
        first_b = await store.append_event(self._event(b))
        assert first_b.sequence_number == 1
        assert await store.get_latest_sequence(a.id) == 3
        assert await store.get_latest_sequence(b.id) == 1

    async def test_caller_sequence_number_is_ignored(self, store: SessionStore) -> None:
        session = await self._session(store)
        stored = await store.append_event(self._event(session, sequence_number=42))
        assert stored.sequence_number == 1

    async def test_event_round_trips_every_field(self, store: SessionStore) -> None:
        session = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        event = Event(
            type=EventType.TOOL_CALL_COMPLETED,
            session_id=session.id,
            run_id=run.id,
            timestamp=datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
            data={"tool_name": "grep", "tool_output": {"lines": ["a", "b"]}, "n": 1.5},
            metadata={"_validation_warnings": []},
            schema_version=2,
            provider="anthropic",
            correlation_id="corr-1",
        )
        stored = await store.append_event(event)
        assert stored == event.model_copy(update={"sequence_number": 1})
        [read] = await store.get_events(session.id)
        assert read == stored

    async def test_stored_data_is_isolated_from_caller_mutation(self, store: SessionStore) -> None:
        session = await self._session(store)
        event = self._event(session, data={"list": [1]})
        stored = await store.append_event(event)
        event.data["list"].append(2)
        stored.data["list"].append(3)
        [read] = await store.get_events(session.id)
        assert read.data == {"list": [1]}

    async def test_concurrent_appends_are_gapless(self, store: SessionStore) -> None:
        session = await self._session(store)
        stored = await asyncio.gather(*(store.append_event(self._event(session)) for _ in range(50)))
        assert sorted(e.sequence_number or 0 for e in stored) == list(range(1, 51))
        assert await self._seqs(store, session.id) == list(range(1, 51))
        assert await store.get_latest_sequence(session.id) == 50

    async def test_concurrent_batches_are_contiguous_in_input_order(self, store: SessionStore) -> None:
        session = await self._session(store)
        batches = [[self._event(session, data={"batch": b, "i": i}) for i in range(5)] for b in range(10)]
        results = await asyncio.gather(*(store.append_events(batch) for batch in batches))
        for batch, stored in zip(batches, results, strict=True):
            seqs = [e.sequence_number or 0 for e in stored]
            assert seqs == list(range(seqs[0], seqs[0] + 5))
            assert [e.id for e in stored] == [e.id for e in batch]
        assert await self._seqs(store, session.id) == list(range(1, 51))

    async def test_reappending_an_id_returns_the_stored_event(self, store: SessionStore) -> None:
        session = await self._session(store)
        original = await store.append_event(self._event(session, data={"v": 1}))
        retry = self._event(session, id=original.id, data={"v": 2})
        again = await store.append_event(retry)
        assert again == original
        assert await store.get_latest_sequence(session.id) == 1
        batch = await store.append_events(
            [retry, self._event(session, id="evt_new"), self._event(session, id="evt_new")]
        )
        assert [e.sequence_number for e in batch] == [1, 2, 2]
        assert batch[0] == original
        assert await self._seqs(store, session.id) == [1, 2]

    async def test_same_event_id_in_another_session_is_already_exists(self, store: SessionStore) -> None:
        a = await self._session(store)
        b = await self._session(store)
        stored = await store.append_event(self._event(a))
        with pytest.raises(AlreadyExists) as info:
            await store.append_event(self._event(b, id=stored.id))
        assert info.value.code == "already_exists"
        assert await store.get_latest_sequence(b.id) == 0

    async def test_a_batch_with_one_bad_event_writes_nothing(self, store: SessionStore) -> None:
        session = await self._session(store)
        other = await self._session(store)
        taken = await store.append_event(self._event(other))
        good = [self._event(session) for _ in range(3)]
        bad_batches: list[list[Any]] = [
            [*good, {"type": "message_sent", "session_id": session.id}],
            [*good, Event(type=EventType.MESSAGE_SENT, session_id="ses_missing")],
            [*good, self._event(session, id=taken.id)],
        ]
        for batch in bad_batches:
            with pytest.raises(ASMError):
                await store.append_events(batch)
        assert await store.get_events(session.id) == []
        assert await store.get_latest_sequence(session.id) == 0
        stored = await store.append_events(good)
        assert [e.sequence_number for e in stored] == [1, 2, 3]

    async def test_empty_batch_is_a_no_op(self, store: SessionStore) -> None:
        assert await store.append_events([]) == []

    async def test_flush_saves_everything(self, store: SessionStore) -> None:
        session = Session(agent_id="a", status=SessionStatus.ACTIVE)
        run = Run(session_id=session.id, status=RunStatus.RUNNING)
        events = [self._event(session, run_id=run.id, data={"i": i}) for i in range(3)]
        stored = await store.flush(session, run, events)
        assert [e.sequence_number for e in stored] == [1, 2, 3]
        assert (await store.get_session(session.id)).status is SessionStatus.ACTIVE
        assert (await store.get_run(run.id)).status is RunStatus.RUNNING
        later = await store.flush(
            session.with_status(SessionStatus.COMPLETED), run.complete({"answer": 42}), []
        )
        assert later == []
        assert (await store.get_run(run.id)).output == {"answer": 42}

    async def test_flush_is_all_or_nothing(self, store: SessionStore) -> None:
        other = await self._session(store)
        taken = await store.append_event(self._event(other))
        session = Session(agent_id="a")
        run = Run(session_id=session.id)
        good = self._event(session)
        with pytest.raises(ASMError):
            await store.flush(session, run, [good, self._event(session, id=taken.id)])
        with pytest.raises(ASMError):
            await store.flush(session, run, [good, {"not": "an event"}])  # type: ignore[list-item]
        with pytest.raises(ValidationError):
            await store.flush(session, run, [good, self._event(other)])
        with pytest.raises(SessionNotFound):
            await store.get_session(session.id)
        with pytest.raises(RunNotFound):
            await store.get_run(run.id)
        saved = await store.save_session(session.with_status(SessionStatus.ACTIVE))
        bad_status = saved.model_copy(update={"status": SessionStatus.PENDING})
        with pytest.raises(InvalidTransition):
            await store.flush(bad_status, run, [good])
        assert await store.get_events(session.id) == []
        with pytest.raises(RunNotFound):
            await store.get_run(run.id)

    # -- reads ----------------------------------------------------------------------------------

    async def _timeline(self, store: SessionStore) -> tuple[Session, Run, Run, list[Event]]:
        """Ten events: run A on 1-5, run B on 6-10, alternating types, one second apart."""
        session = await self._session(store)
        run_a = await store.save_run(Run(session_id=session.id))
        run_b = await store.save_run(Run(session_id=session.id))
        kinds = [EventType.MESSAGE_SENT, EventType.MESSAGE_RECEIVED]
        events = [
            self._event(
                session,
                kinds[i % 2],
                run_id=(run_a if i < 5 else run_b).id,
                timestamp=T0 + timedelta(seconds=i),
            )
            for i in range(10)
        ]
        return session, run_a, run_b, await store.append_events(events)

    async def test_get_events_filters_alone(self, store: SessionStore) -> None:
        session, run_a, run_b, events = await self._timeline(store)

        async def seqs(**kw: Any) -> list[int]:
            return [e.sequence_number or 0 for e in await store.get_events(session.id, **kw)]

        assert await seqs() == list(range(1, 11))
        assert await seqs(after=3) == list(range(4, 11))
        assert await seqs(after=0) == list(range(1, 11))
        assert await seqs(before=4) == [1, 2, 3]
        assert await seqs(after=2, before=5) == [3, 4]
        assert await seqs(since=T0 + timedelta(seconds=2)) == list(range(3, 11))
        assert await seqs(until=T0 + timedelta(seconds=2)) == [1, 2, 3]
        assert await seqs(run_id=run_b.id) == list(range(6, 11))
        assert await seqs(types=[EventType.MESSAGE_RECEIVED]) == [2, 4, 6, 8, 10]
        assert await seqs(types="message_sent") == [1, 3, 5, 7, 9]
        assert await seqs(limit=4) == [1, 2, 3, 4]
        assert await seqs(after=10) == []
        assert events[0].run_id == run_a.id
        with pytest.raises(InvalidEventType):
            await store.get_events(session.id, types=["nope"])
        with pytest.raises(ValidationError):
            await store.get_events(session.id, since=datetime(2026, 1, 1))
        with pytest.raises(ValidationError):
            await store.get_events(session.id, after=-1)

    async def test_get_events_filters_composed(self, store: SessionStore) -> None:
        session, run_a, _, _ = await self._timeline(store)
        got = await store.get_events(
            session.id,
            after=1,
            run_id=run_a.id,
            types=[EventType.MESSAGE_SENT],
            since=T0 + timedelta(seconds=1),
            until=T0 + timedelta(seconds=4),
            limit=1,
        )
        assert [e.sequence_number for e in got] == [3]
        window = await store.get_events(
            session.id,
            after=2,
            before=9,
            types=[EventType.MESSAGE_RECEIVED],
            since=T0 + timedelta(seconds=3),
        )
        assert [e.sequence_number for e in window] == [4, 6, 8]
