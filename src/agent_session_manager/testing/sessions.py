"""The `SessionStore` contract suite: every backend, ours or a third party's, passes the same tests.

Use it with pytest and pytest-asyncio (`asyncio_mode = "auto"`)::

    from agent_session_manager.testing import SessionStoreContract

    class TestMyStore(SessionStoreContract):
        async def new_store(self):
            return await MyStore.connect(...)   # connected and EMPTY

Each test gets a fresh store from `new_store()` and closes it afterwards. The tests assert behaviour
(numbers, order, atomicity, errors and their codes), never merely that a call returned.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..artifacts.registry import ArtifactRegistry, ArtifactTotals
from ..core.errors import (
    AlreadyExists,
    ASMError,
    InvalidCursor,
    InvalidEventType,
    InvalidStatus,
    InvalidTransition,
    NotFound,
    RunNotFound,
    SessionNotFound,
    ValidationError,
)
from ..core.models import ArtifactRecord, Event, EventType, Run, RunStatus, Session, SessionStatus
from ..core.pagination import encode_cursor
from ..sessions.base import SessionStore
from .primitives import PrimitivesContract
from .state import StateContract

T0 = datetime(2026, 1, 1, tzinfo=UTC)

#: JSON values that round-trip exactly on every backend.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-9.9e15, max_value=9.9e15).filter(
        lambda x: x != 0 or math.copysign(1.0, x) > 0
    )
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
)
json_keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=5)
#: Values that cannot round-trip; each must be rejected with `validation_error`.
poison = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        -0.0,
        1e16,
        b"bytes",
        {1, 2},
        (1, 2),
        "nul\x00",
        2**64,
        datetime(2026, 1, 1, tzinfo=UTC),
    ]
)


def canonical(value: Any) -> bytes:
    """JSON bytes that tell 1 from 1.0 but ignore object key order (which jsonb does not keep)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _poisoned(payload: dict[str, Any], bad: Any, where: int) -> dict[str, Any]:
    copy = dict(payload)
    if where == 0:
        copy["bad"] = bad
    elif where == 1:
        copy["nested"] = {"list": [1, bad]}
    else:
        copy["deep"] = {"a": {"b": [{"c": bad}]}}
    return copy


class SessionStoreContract(PrimitivesContract, StateContract):
    """Subclass in a test module and implement `new_store`."""

    async def new_store(self) -> SessionStore:
        """Return a connected, empty store. Subclasses must override this."""
        raise NotImplementedError

    @pytest.fixture
    async def store(self) -> AsyncIterator[SessionStore]:
        store = await self.new_store()
        try:
            yield store
        finally:
            await store.close()

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    async def _session(store: SessionStore, **fields: Any) -> Session:
        return await store.save_session(Session(agent_id=fields.pop("agent_id", "agent"), **fields))

    @staticmethod
    def _event(session: Session, kind: EventType = EventType.MESSAGE_SENT, **fields: Any) -> Event:
        return Event(type=kind, session_id=session.id, **fields)

    @staticmethod
    async def _seqs(store: SessionStore, session_id: str) -> list[int]:
        return [e.sequence_number or 0 for e in await store.get_events(session_id)]

    # -- sessions -------------------------------------------------------------------------------

    async def test_save_session_is_an_upsert(self, store: SessionStore) -> None:
        first = Session(agent_id="a", metadata={"v": 1}, tags=["x"])
        await store.save_session(first)
        second = first.model_copy(update={"metadata": {"v": 2}, "tags": ["y", "z"]})
        await store.save_session(second)
        got = await store.get_session(first.id)
        assert got.metadata == {"v": 2}
        assert got.tags == ["y", "z"]
        page = await store.list_sessions()
        assert [s.id for s in page.items] == [first.id]

    async def test_session_round_trips_every_field(self, store: SessionStore) -> None:
        plus_two = timezone(timedelta(hours=2))
        created = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=plus_two)
        parent = await self._session(store)
        session = Session(
            agent_id="agent-1",
            status=SessionStatus.ACTIVE,
            parent_session_id=parent.id,
            metadata={"provider": "x", "nested": {"list": [1, 2.5, None, True, "é"]}},
            context={"system_prompt": "be brief"},
            tags=["pinned", "vip"],
            created_at=created,
            updated_at=created + timedelta(seconds=1),
        )
        await store.save_session(session)
        got = await store.get_session(session.id)
        assert got == session
        assert got.created_at == created
        assert got.created_at.utcoffset() == timedelta(0)
        assert got.created_at.microsecond == 891011

    async def test_missing_session_and_run_raise_not_found(self, store: SessionStore) -> None:
        with pytest.raises(SessionNotFound) as info:
            await store.get_session("ses_missing")
        assert info.value.code == "session_not_found"
        with pytest.raises(RunNotFound) as run_info:
            await store.get_run("run_missing")
        assert run_info.value.code == "run_not_found"
        with pytest.raises(SessionNotFound):
            await store.get_events("ses_missing")
        with pytest.raises(SessionNotFound):
            await store.get_latest_sequence("ses_missing")
        with pytest.raises(SessionNotFound):
            await store.save_run(Run(session_id="ses_missing"))
        with pytest.raises(SessionNotFound):
            await store.append_event(Event(type=EventType.MESSAGE_SENT, session_id="ses_missing"))

    async def test_invalid_session_transition_leaves_store_unchanged(self, store: SessionStore) -> None:
        session = await self._session(store, metadata={"v": 1})
        bad = session.model_copy(update={"status": SessionStatus.COMPLETED, "metadata": {"v": 2}})
        with pytest.raises(InvalidTransition) as info:
            await store.save_session(bad)
        assert info.value.code == "invalid_transition"
        got = await store.get_session(session.id)
        assert got.status is SessionStatus.PENDING
        assert got.metadata == {"v": 1}
        active = await store.save_session(session.with_status(SessionStatus.ACTIVE))
        done = await store.save_session(active.with_status(SessionStatus.COMPLETED))
        assert (await store.get_session(session.id)).status is SessionStatus.COMPLETED
        with pytest.raises(InvalidTransition):
            await store.save_session(done.model_copy(update={"status": SessionStatus.ACTIVE}))

    async def test_invalid_run_transition_leaves_store_unchanged(self, store: SessionStore) -> None:
        session = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        running = await store.save_run(run.with_status(RunStatus.RUNNING))
        with pytest.raises(InvalidTransition):
            await store.save_run(running.model_copy(update={"status": RunStatus.PENDING}))
        finished = await store.save_run(running.complete({"ok": True}))
        with pytest.raises(InvalidTransition):
            await store.save_run(finished.model_copy(update={"status": RunStatus.RUNNING}))
        got = await store.get_run(run.id)
        assert got.status is RunStatus.COMPLETED
        assert got.output == {"ok": True}
        assert got.ended_at is not None

    async def test_bad_input_raises_coded_errors(self, store: SessionStore) -> None:
        session = await self._session(store)
        cases: list[tuple[type[ASMError], dict[str, Any]]] = [
            (InvalidEventType, {"type": "not_a_type", "session_id": session.id}),
            (ValidationError, {"type": "message_sent", "session_id": ""}),
            (ValidationError, {"type": "message_sent", "session_id": "x" * 129}),
            (ValidationError, {"type": "message_sent", "session_id": "has space"}),
            (ValidationError, {"type": "message_sent", "session_id": session.id, "id": "a/b"}),
            (
                ValidationError,
                {
                    "type": "message_sent",
                    "session_id": session.id,
                    "timestamp": datetime(2026, 1, 1),
                },
            ),
        ]
        for error, fields in cases:
            with pytest.raises(error):
                Event(**fields)
        with pytest.raises(InvalidStatus):
            Session(agent_id="a", status="sleeping")
        with pytest.raises(ValidationError):
            Session(agent_id="")
        with pytest.raises(ValidationError):
            await store.append_event({"type": "message_sent"})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.save_session({"agent_id": "a"})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.save_run({"session_id": session.id})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.flush(session, {"session_id": session.id}, [])  # type: ignore[arg-type]
        assert await store.get_latest_sequence(session.id) == 0

    async def test_list_sessions_filters_by_agent_and_status(self, store: SessionStore) -> None:
        a1 = await self._session(store, agent_id="a")
        a2 = await self._session(store, agent_id="a", status=SessionStatus.ACTIVE)
        b1 = await self._session(store, agent_id="b", status=SessionStatus.ACTIVE)
        assert [s.id for s in await store.list_sessions(agent_id="a")] == [a1.id, a2.id]
        assert [s.id for s in await store.list_sessions(status="active")] == [a2.id, b1.id]
        both = await store.list_sessions(status=[SessionStatus.PENDING, "active"], agent_id="b")
        assert [s.id for s in both] == [b1.id]
        with pytest.raises(InvalidStatus):
            await store.list_sessions(status="sleeping")
        with pytest.raises(ValidationError):
            await store.list_sessions(limit=0)
        with pytest.raises(ValidationError):
            await store.list_sessions(limit=1001)

    async def test_cursor_paging_visits_each_session_once(self, store: SessionStore) -> None:
        created = [
            Session(agent_id="pager", created_at=T0 + timedelta(seconds=i % 7), id=f"ses_{i:04d}")
            for i in range(1000)
        ]
        await asyncio.gather(*(store.save_session(s) for s in created))
        expected = sorted(created, key=lambda s: (s.created_at, s.id))
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await store.list_sessions(agent_id="pager", limit=73, cursor=cursor)
            seen.extend(s.id for s in page.items)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [s.id for s in expected]
        assert pages == 14
        again = await store.list_sessions(agent_id="pager", limit=73)
        assert [s.id for s in again.items] == seen[:73]

    async def test_tampered_or_foreign_cursor_is_rejected(self, store: SessionStore) -> None:
        session = await self._session(store)
        await self._session(store)
        cursor = (await store.list_sessions(limit=1)).next_cursor
        assert cursor is not None
        tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
        for bad in (tampered, "garbage", cursor + "x"):
            with pytest.raises(InvalidCursor) as info:
                await store.list_sessions(limit=1, cursor=bad)
            assert info.value.code == "invalid_cursor"
        with pytest.raises(InvalidCursor):
            await store.list_runs(session.id, cursor=cursor)
        # Signed with the (public) default key but holding no valid position: still invalid_cursor.
        for key in (["yesterday", "ses_1"], [1, 2], [], ["2026-01-01T00:00:00", "ses_1"]):
            forged = encode_cursor("sessions:created_at_asc", key)
            with pytest.raises(InvalidCursor):
                await store.list_sessions(limit=1, cursor=forged)

    # -- runs -----------------------------------------------------------------------------------

    async def test_runs_upsert_list_page_and_active(self, store: SessionStore) -> None:
        session = await self._session(store)
        other = await self._session(store)
        runs = [
            Run(session_id=session.id, started_at=T0 + timedelta(seconds=i), input={"i": i}) for i in range(5)
        ]
        for run in runs:
            await store.save_run(run)
        await store.save_run(Run(session_id=other.id, status=RunStatus.RUNNING))
        assert await store.get_active_run(session.id) is None
        await store.save_run(runs[1].with_status(RunStatus.RUNNING))
        await store.save_run(runs[3].with_status(RunStatus.RUNNING))
        active = await store.get_active_run(session.id)
        assert active is not None and active.id == runs[3].id
        first = await store.list_runs(session.id, limit=2)
        assert [r.id for r in first] == [runs[0].id, runs[1].id]
        rest = await store.list_runs(session.id, limit=10, cursor=first.next_cursor)
        assert [r.id for r in rest] == [r.id for r in runs[2:]]
        assert rest.next_cursor is None
        running = await store.list_runs(session.id, status="running")
        assert [r.id for r in running] == [runs[1].id, runs[3].id]
        got = await store.get_run(runs[2].id)
        assert got == runs[2]
        with pytest.raises(AlreadyExists):
            await store.save_run(runs[0].model_copy(update={"session_id": other.id}))

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

    async def test_long_poll_returns_at_once_when_events_exist(self, store: SessionStore) -> None:
        session = await self._session(store)
        await store.append_event(self._event(session))
        started = time.monotonic()
        got = await store.get_events(session.id, wait=5)
        assert [e.sequence_number for e in got] == [1]
        assert time.monotonic() - started < 1

    async def test_long_poll_times_out_empty(self, store: SessionStore) -> None:
        session = await self._session(store)
        started = time.monotonic()
        assert await store.get_events(session.id, wait=0.3) == []
        assert time.monotonic() - started >= 0.25

    async def test_long_poll_wakes_on_matching_append_only(self, store: SessionStore) -> None:
        session = await self._session(store)
        waiter = asyncio.create_task(
            store.get_events(session.id, types=[EventType.TOOL_CALL_STARTED], wait=10)
        )
        await asyncio.sleep(0.2)
        await store.append_event(self._event(session, EventType.MESSAGE_SENT))
        await asyncio.sleep(0.3)
        assert not waiter.done(), "a non-matching append must not end the long-poll"
        started = time.monotonic()
        await store.append_event(self._event(session, EventType.TOOL_CALL_STARTED))
        got = await asyncio.wait_for(waiter, 5)
        assert [(e.sequence_number, e.type) for e in got] == [(2, EventType.TOOL_CALL_STARTED)]
        assert time.monotonic() - started < 2

    async def test_subscribe_delivers_in_order_and_resumes_without_gap(self, store: SessionStore) -> None:
        session = await self._session(store)
        await store.append_event(self._event(session, data={"i": 1}))
        received: list[int] = []

        async def consume(after: int, count: int) -> None:
            async with aclosing(store.subscribe(session.id, after=after)) as stream:  # type: ignore[type-var]
                async for event in stream:
                    received.append(event.sequence_number or 0)
                    if len(received) == count:
                        return

        first = asyncio.create_task(consume(0, 5))
        for i in range(2, 6):
            await asyncio.sleep(0.02)
            await store.append_event(self._event(session, data={"i": i}))
        await asyncio.wait_for(first, 10)
        assert received == [1, 2, 3, 4, 5]
        for i in range(6, 9):
            await store.append_event(self._event(session, data={"i": i}))
        await asyncio.wait_for(consume(5, 8), 10)
        assert received == list(range(1, 9))

    async def test_subscribe_filters_by_type(self, store: SessionStore) -> None:
        session = await self._session(store)
        kinds = [EventType.MESSAGE_SENT, EventType.TOOL_CALL_STARTED] * 3
        await store.append_events([self._event(session, k) for k in kinds])
        got: list[int] = []
        async with aclosing(  # type: ignore[type-var]
            store.subscribe(session.id, types=[EventType.TOOL_CALL_STARTED])
        ) as stream:
            async for event in stream:
                got.append(event.sequence_number or 0)
                if len(got) == 3:
                    break
        assert got == [2, 4, 6]

    # -- delete ---------------------------------------------------------------------------------

    async def test_delete_session_cascades_and_is_idempotent(self, store: SessionStore) -> None:
        session = await self._session(store)
        keep = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        event = await store.append_event(self._event(session, run_id=run.id))
        kept = await store.append_event(self._event(keep))
        await store.delete_session(session.id)
        await store.delete_session(session.id)
        with pytest.raises(SessionNotFound):
            await store.get_session(session.id)
        with pytest.raises(RunNotFound):
            await store.get_run(run.id)
        with pytest.raises(SessionNotFound):
            await store.get_events(session.id)
        assert [s.id for s in await store.list_sessions()] == [keep.id]
        assert await store.get_events(keep.id) == [kept]
        reborn = await store.save_session(Session(id=session.id, agent_id="again"))
        assert (await store.list_runs(reborn.id)).items == []
        fresh = await store.append_event(self._event(reborn, id=event.id))
        assert fresh.sequence_number == 1

    async def test_delete_wakes_nothing_wrongly(self, store: SessionStore) -> None:
        session = await self._session(store)
        waiter = asyncio.create_task(store.get_events(session.id, wait=5))
        await asyncio.sleep(0.1)
        await store.delete_session(session.id)
        try:
            result = await asyncio.wait_for(waiter, 7)
        except SessionNotFound:
            return
        assert result == []

    # -- artifact registry ----------------------------------------------------------------------

    @staticmethod
    def _record(session: Session | None, key: str, size: int, **fields: Any) -> ArtifactRecord:
        defaults: dict[str, Any] = {
            "checksum_sha256": "ab" * 32,
            "storage_backend": "memory",
            "storage_ref": key,
        }
        return ArtifactRecord(
            session_id=None if session is None else session.id,
            key=key,
            byte_size=size,
            **(defaults | fields),
        )

    async def test_artifact_registry_records_lists_and_totals(self, store: SessionStore) -> None:
        assert isinstance(store, ArtifactRegistry)
        session = await self._session(store)
        other = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        records = [
            self._record(
                session,
                f"sessions/{session.id}/file-{i}.bin",
                100 * (i + 1),
                run_id=run.id,
                content_type="application/octet-stream",
                metadata={"i": i},
                created_at=T0 + timedelta(seconds=i),
            )
            for i in range(5)
        ]
        for record in records:
            assert await store.register_artifact(record) == record
        await store.register_artifact(self._record(other, "elsewhere", 7))
        await store.register_artifact(self._record(None, "global/blob", 3))
        assert await store.get_artifact_record(records[2].key) == records[2]
        assert await store.artifact_totals(session.id) == ArtifactTotals(count=5, byte_size=1500)
        first = await store.list_artifact_records(session.id, limit=3)
        rest = await store.list_artifact_records(session.id, limit=3, cursor=first.next_cursor)
        assert [r.key for r in [*first, *rest]] == [r.key for r in records]
        assert rest.next_cursor is None
        replaced = records[0].model_copy(update={"byte_size": 1})
        await store.register_artifact(replaced)
        assert (await store.get_artifact_record(records[0].key)).byte_size == 1
        assert await store.artifact_totals(session.id) == ArtifactTotals(count=5, byte_size=1401)
        await store.delete_artifact_record(records[1].key)
        await store.delete_artifact_record(records[1].key)
        with pytest.raises(NotFound) as info:
            await store.get_artifact_record(records[1].key)
        assert info.value.code == "not_found"
        assert (await store.artifact_totals(session.id)).count == 4
        assert (await store.get_artifact_record("global/blob")).session_id is None

    async def test_artifact_records_need_their_session_and_die_with_it(self, store: SessionStore) -> None:
        assert isinstance(store, ArtifactRegistry)
        with pytest.raises(SessionNotFound):
            await store.register_artifact(self._record(Session(agent_id="ghost"), "k", 1))
        with pytest.raises(ValidationError):
            self._record(None, "../escape", 1)
        with pytest.raises(ValidationError):
            self._record(None, "k", 1, checksum_sha256="not-hex")
        session = await self._session(store)
        keep = await self._session(store)
        await store.register_artifact(self._record(session, "a/1", 10))
        await store.register_artifact(self._record(keep, "b/1", 20))
        await store.delete_session(session.id)
        with pytest.raises(NotFound):
            await store.get_artifact_record("a/1")
        assert (await store.get_artifact_record("b/1")).byte_size == 20
        with pytest.raises(SessionNotFound):
            await store.artifact_totals(session.id)

    # -- JSON round trip (property tests) -------------------------------------------------------

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(payload=json_objects, metadata=json_objects)
    async def test_json_payloads_round_trip_exactly(
        self, store: SessionStore, payload: dict[str, Any], metadata: dict[str, Any]
    ) -> None:
        session = await store.save_session(Session(agent_id="json", metadata=metadata))
        await store.append_event(self._event(session, data=payload, metadata=metadata))
        [read] = await store.get_events(session.id)
        assert read.data == payload
        assert canonical(read.data) == canonical(payload)
        assert canonical(read.metadata) == canonical(metadata)
        got = await store.get_session(session.id)
        assert canonical(got.metadata) == canonical(metadata)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(payload=json_objects, bad=poison, where=st.integers(0, 2))
    async def test_payloads_that_cannot_round_trip_are_rejected(
        self, store: SessionStore, payload: dict[str, Any], bad: Any, where: int
    ) -> None:
        session = await store.save_session(Session(agent_id="json"))
        poisoned = _poisoned(payload, bad, where)
        with pytest.raises(ValidationError) as info:
            await store.append_event(self._event(session, data=poisoned))
        assert info.value.code == "validation_error"
        with pytest.raises(ValidationError):
            Session(agent_id="json", metadata=poisoned)
        with pytest.raises(ValidationError):
            Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={1: "non-string key"})
        assert await store.get_latest_sequence(session.id) == 0
