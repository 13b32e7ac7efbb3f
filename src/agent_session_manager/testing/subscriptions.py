"""Following a session live in the `SessionStore` contract: long polls and `subscribe`, woken by
matching appends only. Part of `SessionStoreContract`.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

from ..core.errors import (
    SessionNotFound,
)
from ..core.models import EventType
from ..sessions.base import SessionStore
from .store import StoreContract


class SubscriptionContract(StoreContract):
    """Long polls and subscriptions."""

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
