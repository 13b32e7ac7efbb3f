"""The contract of the core primitives agent frameworks build on (issue 11, part A), on every backend.

Namespaced event types, newest-N reads, streaming reads, expected-sequence appends, deletion without
renumbering, owners and listing by update time. `SessionStoreContract` includes these tests; they live in
their own module so a backend author can read them apart from the record and log basics.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..core.errors import ConflictError, InvalidCursor, InvalidEventType, SessionNotFound, ValidationError
from ..core.models import NAMESPACED_EVENT_TYPE, Event, EventType, Run, Session, SessionStatus
from ..query import query_api
from ..sessions.base import SessionStore
from .races import ProcessRaces, in_processes
from .store import T0, StoreContract


async def append_racer(store: SessionStore, session_id: str, worker: int, rounds: int) -> dict[str, Any]:
    """One racer's rounds: read the counter, let others in, append one event (even rounds) or two (odd
    rounds) expecting that counter. Returns its wins as `[expected, first number, count]` and its
    conflicts as `[expected, actual]`; any other error propagates."""
    wins: list[list[int]] = []
    conflicts: list[list[int]] = []
    for n in range(rounds):
        expected = await store.get_latest_sequence(session_id)
        await asyncio.sleep(0)
        events = [
            Event(type=EventType.MESSAGE_SENT, session_id=session_id, data={"worker": worker, "round": n})
            for _ in range(1 + n % 2)
        ]
        try:
            stored = await store.append_events(events, expected_sequence=expected)
        except ConflictError as exc:
            conflicts.append([exc.details["expected"], exc.details["actual"]])
        else:
            wins.append([expected, stored[0].sequence_number or 0, len(stored)])
    return {"wins": wins, "conflicts": conflicts}


#: A racing worker process: `python -c APPEND_RACER url session_id worker rounds` runs `append_racer`
#: (its source is appended, so the worker imports only the library) and prints its result as JSON.
APPEND_RACER = f"""
import asyncio, sys, orjson
from typing import Any
from agent_session_manager import ConflictError, Event, EventType, open_store
from agent_session_manager.sessions.base import SessionStore

{inspect.getsource(append_racer)}

async def main(url, session_id, worker, rounds):
    async with await open_store(url) as store:
        print(orjson.dumps(await append_racer(store, session_id, worker, rounds)).decode(), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


class PrimitivesContract(ProcessRaces, StoreContract):
    """Tests of the core primitives; mixed into `SessionStoreContract`, which provides `store`."""

    # -- namespaced event types -----------------------------------------------------------------

    async def test_namespaced_event_types_are_stored_and_filtered(self, store: SessionStore) -> None:
        session = await self._session(store)
        kinds: list[EventType | str] = ["langgraph.checkpoint", EventType.MESSAGE_SENT, "adk.state_delta"]
        stored = await store.append_events([self._event(session, kind) for kind in kinds * 2])
        assert [e.type for e in stored] == kinds * 2
        got = await store.get_events(session.id)
        assert [e.type for e in got] == kinds * 2
        assert got[1].type is EventType.MESSAGE_SENT
        assert isinstance(got[0].type, str) and not isinstance(got[0].type, EventType)
        checkpoints = await store.get_events(session.id, types="langgraph.checkpoint")
        assert [e.sequence_number for e in checkpoints] == [1, 4]
        mixed = await store.get_events(session.id, types=["adk.state_delta", "message_sent"])
        assert [e.sequence_number for e in mixed] == [2, 3, 5, 6]
        one = await store.append_event(self._event(session, "a.b_2.c3"))
        assert (await store.get_events(session.id, after=6))[0].type == one.type == "a.b_2.c3"

    async def test_unknown_event_types_are_refused_with_the_valid_ones(self, store: SessionStore) -> None:
        session = await self._session(store)
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
                self._event(session, bad)
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
        session = await self._session(store)
        run = await store.save_run(Run(session_id=session.id))
        events = [
            self._event(
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
        await store.append_events([self._event(session, data={"n": n}) for n in range(3)])
        got = await asyncio.wait_for(waiting, 5)
        assert [e.sequence_number for e in got] == [7]

    async def test_bad_counts_are_validation_errors(self, store: SessionStore) -> None:
        session = await self._session(store)
        await store.append_event(self._event(session))
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
                await store.append_events([self._event(session) for _ in range(2)])
        assert seen == list(range(1, 13))

    # -- expected-sequence appends --------------------------------------------------------------

    async def test_expected_sequence_appends_only_at_the_expected_counter(self, store: SessionStore) -> None:
        session = await self._session(store)
        first = await store.append_event(self._event(session), expected_sequence=0)
        assert first.sequence_number == 1
        with pytest.raises(ConflictError) as info:
            await store.append_event(self._event(session), expected_sequence=0)
        assert (info.value.code, info.value.details, info.value.retryable) == (
            "conflict",
            {"expected": 0, "actual": 1},
            False,
        )
        with pytest.raises(ConflictError) as ahead:
            await store.append_events([self._event(session), self._event(session)], expected_sequence=2)
        assert ahead.value.details == {"expected": 2, "actual": 1}
        batch = await store.append_events([self._event(session) for _ in range(3)], expected_sequence=1)
        assert [e.sequence_number for e in batch] == [2, 3, 4]
        assert await store.append_events([], expected_sequence=99) == []
        assert await self._seqs(store, session.id) == [1, 2, 3, 4]
        await store.append_event(self._event(session))  # no expectation: appends wherever the log is
        assert await store.get_latest_sequence(session.id) == 5

    async def test_a_retried_batch_returns_the_stored_events_whatever_the_expectation(
        self, store: SessionStore
    ) -> None:
        session = await self._session(store)
        batch = [self._event(session, data={"n": n}) for n in range(3)]
        stored = await store.append_events(batch, expected_sequence=0)
        await store.append_event(self._event(session))
        for expectation in (0, 3, 4, 1000):
            assert await store.append_events(batch, expected_sequence=expectation) == stored
            assert await store.append_event(batch[1], expected_sequence=expectation) == stored[1]
        with pytest.raises(ConflictError):
            await store.append_events([batch[0], self._event(session)], expected_sequence=3)
        assert await store.get_latest_sequence(session.id) == 4

    async def test_bad_expectations_are_refused_before_anything_is_written(self, store: SessionStore) -> None:
        session, other = await self._session(store), await self._session(store)
        bad_expectations: list[Any] = [-1, 2**63, 2**64, True, 1.0, "0"]
        for bad in bad_expectations:
            with pytest.raises(ValidationError) as info:
                await store.append_event(self._event(session), expected_sequence=bad)
            assert info.value.details["field"] == "expected_sequence"
            with pytest.raises(ValidationError):
                await store.append_events([self._event(session)], expected_sequence=bad)
        with pytest.raises(ValidationError):
            await store.append_events([self._event(session), self._event(other)], expected_sequence=0)
        with pytest.raises(SessionNotFound):
            await store.append_event(self._event(Session(agent_id="a")), expected_sequence=0)
        assert await store.get_latest_sequence(session.id) == await store.get_latest_sequence(other.id) == 0

    async def test_tasks_racing_expected_sequence_appends(self, store: SessionStore) -> None:
        session = await self._session(store)
        results = await asyncio.gather(*(append_racer(store, session.id, w, 8) for w in range(8)))
        await self._check_append_race(store, session, results)

    async def test_processes_racing_expected_sequence_appends(self, store: SessionStore) -> None:
        session = await self._session(store)
        workers, rounds = 4, 10
        url = self.shared_url()
        if url is None:
            # This store lives in one process: the same workers race as tasks of this process.
            results = await asyncio.gather(
                *(append_racer(store, session.id, w, rounds) for w in range(workers))
            )
        else:
            results = await in_processes(APPEND_RACER, url, session.id, workers, rounds)
        await self._check_append_race(store, session, results)

    async def _check_append_race(
        self, store: SessionStore, session: Session, results: list[dict[str, Any]]
    ) -> None:
        """Every call succeeded or raised `conflict`; the log is gapless; one success per expectation."""
        wins = [tuple(win) for result in results for win in result["wins"]]
        expectations = [expected for expected, _, _ in wins]
        assert len(set(expectations)) == len(expectations), "two successes at one expectation"
        assert all(first == expected + 1 for expected, first, _ in wins)
        numbers = await self._seqs(store, session.id)
        assert numbers == list(range(1, len(numbers) + 1))
        assert sorted(n for _, first, count in wins for n in range(first, first + count)) == numbers
        assert all(actual > expected for r in results for expected, actual in r["conflicts"])

    # -- deletion without renumbering -----------------------------------------------------------

    async def test_delete_events_by_filters_never_renumbers(self, store: SessionStore) -> None:
        session, events = await self._mixed_log(store, 12)
        other, _ = await self._mixed_log(store, 3)
        run_id = events[0].run_id
        assert await store.delete_events(session.id, ids=[events[1].id, events[2].id, "evt_unknown"]) == 2
        assert await store.delete_events(session.id, ids=[events[1].id]) == 0
        assert await store.delete_events(session.id, ids=[]) == 0
        assert await store.delete_events(session.id, after=10) == 2
        assert await store.delete_events(session.id, run_id=run_id, after=3) == 3  # 4, 7 and 10
        assert await self._seqs(store, session.id) == [1, 5, 6, 8, 9]
        assert await store.get_latest_sequence(session.id) == 12
        appended = await store.append_event(self._event(session))
        assert appended.sequence_number == 13
        with pytest.raises(ConflictError) as stale:
            await store.append_event(self._event(session), expected_sequence=9)  # the newest stored is 9...
        assert stale.value.details == {"expected": 9, "actual": 13}  # ...but the counter never went down
        assert [e.sequence_number for e in await store.get_events(session.id, last=2)] == [9, 13]
        assert [e.sequence_number async for e in store.iter_events(session.id, batch_size=2)] == [
            1,
            5,
            6,
            8,
            9,
            13,
        ]
        assert await store.delete_events(session.id) == 6
        assert await store.get_events(session.id) == []
        assert (await store.append_event(self._event(session))).sequence_number == 14
        assert await self._seqs(store, other.id) == [1, 2, 3]
        assert await store.delete_events(session.id, ids=[(await store.get_events(other.id))[0].id]) == 0
        assert await self._seqs(store, other.id) == [1, 2, 3]

    async def test_delete_events_expectation_is_the_newest_stored_number(self, store: SessionStore) -> None:
        session, _ = await self._mixed_log(store, 5)
        with pytest.raises(ConflictError) as info:
            await store.delete_events(session.id, after=0, expected_sequence=4)
        assert (info.value.code, info.value.details) == ("conflict", {"expected": 4, "actual": 5})
        assert await self._seqs(store, session.id) == [1, 2, 3, 4, 5]
        for newest in (5, 4, 3, 2, 1):  # pop, pop, pop...: each newest event, expecting its own number
            [top] = await store.get_events(session.id, last=1)
            assert top.sequence_number == newest
            assert await store.delete_events(session.id, ids=[top.id], expected_sequence=newest) == 1
        assert await store.get_events(session.id, last=1) == []
        assert await store.delete_events(session.id, expected_sequence=0) == 0
        assert await store.get_latest_sequence(session.id) == 5

    async def test_concurrent_poppers_each_pop_a_different_item(self, store: SessionStore) -> None:
        session, events = await self._mixed_log(store, 24)

        async def popper() -> tuple[list[str], int]:
            popped: list[str] = []
            conflicts = 0
            while True:
                newest = await store.get_events(session.id, last=1)
                if not newest:
                    return popped, conflicts
                await asyncio.sleep(0)
                try:
                    deleted = await store.delete_events(
                        session.id, ids=[newest[0].id], expected_sequence=newest[0].sequence_number
                    )
                except ConflictError:
                    conflicts += 1
                else:
                    assert deleted == 1
                    popped.append(newest[0].id)

        results = await asyncio.gather(*(popper() for _ in range(6)))
        popped = [event_id for ids, _ in results for event_id in ids]
        assert sorted(popped) == sorted(e.id for e in events)
        order = {e.id: e.sequence_number or 0 for e in events}
        for ids, _ in results:
            assert [order[i] for i in ids] == sorted((order[i] for i in ids), reverse=True)
        assert sum(conflicts for _, conflicts in results) > 0
        assert await store.get_events(session.id) == []

    async def test_bad_deletions_are_refused_before_anything_is_deleted(self, store: SessionStore) -> None:
        session, events = await self._mixed_log(store, 3)
        bad: list[dict[str, Any]] = [
            {"ids": events[0].id},
            {"ids": ["has space"]},
            {"ids": [3]},
            {"after": -1},
            {"after": 2**64},
            {"run_id": ""},
            {"expected_sequence": -1},
            {"expected_sequence": 2**63},
            {"expected_sequence": True},
        ]
        for arguments in bad:
            with pytest.raises(ValidationError):
                await store.delete_events(session.id, **arguments)
        with pytest.raises(SessionNotFound):
            await store.delete_events("ses_missing")
        with pytest.raises(SessionNotFound):
            await store.delete_events("ses_missing", expected_sequence=0)
        assert await self._seqs(store, session.id) == [1, 2, 3]

    # -- owners and listing order ---------------------------------------------------------------

    async def test_user_id_is_validated_stored_and_listed(self, store: SessionStore) -> None:
        mine = await self._session(store, user_id="user:42")
        assert (await store.get_session(mine.id)).user_id == "user:42"
        assert (await self._session(store)).user_id is None
        for bad in ("", "has space", "x" * 129, 7):
            with pytest.raises(ValidationError):
                Session(agent_id="a", user_id=bad)
        with pytest.raises(ValidationError):
            await store.list_sessions(user_id="has space")
        assert [s.id for s in await store.list_sessions(user_id="user:42")] == [mine.id]
        assert [s.id for s in await store.list_sessions(user_id="user:43")] == []

    async def test_every_save_of_a_stored_session_bumps_updated_at(self, store: SessionStore) -> None:
        first = await store.save_session(Session(agent_id="a", created_at=T0, updated_at=T0))
        assert (await store.get_session(first.id)).updated_at == first.updated_at == T0  # an import keeps it
        before = datetime.now(UTC)
        again = await store.save_session(first.model_copy(update={"metadata": {"v": 2}}))
        assert before <= again.updated_at <= datetime.now(UTC)
        assert (await store.get_session(first.id)).updated_at == again.updated_at
        assert again.created_at == T0
        started = await store.save_session(
            again.with_status(SessionStatus.ACTIVE).model_copy(update={"updated_at": T0})
        )
        assert started.updated_at >= again.updated_at
        await store.flush(started, None, [self._event(started)])
        assert (await store.get_session(first.id)).updated_at >= started.updated_at

    async def test_list_sessions_orders_and_filters(self, store: SessionStore) -> None:
        sessions = [
            await store.save_session(
                Session(
                    agent_id=f"agent{i % 2}",
                    user_id=f"user{i % 3}",
                    tags=["t"] + (["vip"] if i % 4 == 0 else []),
                    status=SessionStatus.ACTIVE if i % 5 else SessionStatus.PENDING,
                    created_at=T0 + timedelta(seconds=i),
                    updated_at=T0 + timedelta(seconds=(7 * i) % 24),
                )
            )
            for i in range(24)
        ]

        async def listed(**kw: Any) -> list[str]:
            found: list[str] = []
            cursor = None
            while True:
                page = await store.list_sessions(limit=5, cursor=cursor, **kw)
                found.extend(s.id for s in page)
                if (cursor := page.next_cursor) is None:
                    return found

        def oracle(keep: Any, order_by: str = "created_at", descending: bool = False) -> list[str]:
            chosen = [s for s in sessions if keep(s)]
            chosen.sort(key=lambda s: (getattr(s, order_by), s.id), reverse=descending)
            return [s.id for s in chosen]

        for order_by in ("created_at", "updated_at"):
            for descending in (False, True):
                order: dict[str, Any] = {"order_by": order_by, "descending": descending}
                assert await listed(**order) == oracle(lambda s: True, **order)
                assert await listed(user_id="user1", **order) == oracle(
                    lambda s: s.user_id == "user1", **order
                )
                assert await listed(agent_id="agent0", user_id="user2", tags=["vip"], **order) == oracle(
                    lambda s: s.agent_id == "agent0" and s.user_id == "user2" and "vip" in s.tags, **order
                )
                assert await listed(status="pending", tags="t", **order) == oracle(
                    lambda s: s.status is SessionStatus.PENDING, **order
                )
        with pytest.raises(ValidationError):
            await store.list_sessions(order_by="id")
        with pytest.raises(ValidationError):
            await store.list_sessions(descending="yes")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.list_sessions(tags=[""])

    async def test_a_cursor_is_bound_to_its_order_and_filters(self, store: SessionStore) -> None:
        for i in range(3):
            await self._session(store, user_id="u", tags=["a"], created_at=T0 + timedelta(seconds=i))
        cursor = (await store.list_sessions(user_id="u", limit=1, order_by="updated_at")).next_cursor
        assert cursor is not None
        assert len(await store.list_sessions(user_id="u", limit=1, order_by="updated_at", cursor=cursor)) == 1
        for other in (
            {"user_id": "v", "order_by": "updated_at"},
            {"user_id": "u", "order_by": "updated_at", "descending": True},
            {"user_id": "u"},
            {"user_id": "u", "order_by": "updated_at", "tags": ["a"]},
            {"user_id": "u", "order_by": "updated_at", "status": "pending"},
            {"order_by": "updated_at"},
        ):
            with pytest.raises(InvalidCursor):
                await store.list_sessions(limit=1, cursor=cursor, **other)

    async def test_paging_while_sessions_are_updated_lists_each_once(self, store: SessionStore) -> None:
        sessions = [
            await self._session(
                store,
                user_id="owner",
                created_at=T0 + timedelta(seconds=i),
                updated_at=T0 + timedelta(seconds=i),
            )
            for i in range(30)
        ]
        await self._session(store, user_id="someone-else")
        for order_by in ("updated_at", "created_at"):
            for descending in (False, True):
                seen: list[str] = []
                touched: set[str] = set()
                cursor = None
                while True:
                    page = await store.list_sessions(
                        user_id="owner", order_by=order_by, descending=descending, limit=4, cursor=cursor
                    )
                    seen.extend(s.id for s in page)
                    # Mid-paging, save one session already listed and one not listed yet.
                    for session in (page.items[0], sessions[(len(seen) * 7) % 30]):
                        touched.add(session.id)
                        await store.save_session(await store.get_session(session.id))
                    if (cursor := page.next_cursor) is None:
                        break
                assert len(seen) == len(set(seen)), f"listed twice by {order_by}"
                untouched = {s.id for s in sessions} - touched
                assert untouched <= set(seen)
                if order_by == "created_at":
                    assert sorted(seen) == sorted(s.id for s in sessions)

    async def test_search_sessions_filters_by_owner(self, store: SessionStore) -> None:
        mine = [await self._session(store, user_id="me") for _ in range(3)]
        await self._session(store, user_id="you")
        page = await query_api(store).search_sessions(user_id="me", order_by="created_at_asc")
        assert [s.id for s in page] == [s.id for s in mine]
        with pytest.raises(ValidationError):
            await query_api(store).search_sessions(user_id="not valid")
