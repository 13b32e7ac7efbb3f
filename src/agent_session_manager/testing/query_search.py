"""Searches in the `QueryAPI` contract: sessions, runs and events, filtered and paged in every order,
checked against an oracle. Part of `QueryAPIContract`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..core.errors import (
    InvalidCursor,
    InvalidEventType,
    InvalidStatus,
    SessionNotFound,
    ValidationError,
)
from ..core.models import Event, EventType, Run, RunStatus, Session, SessionStatus
from ..query.base import EventFilter, EventOrder, QueryAPI, RunFilter, RunOrder
from ..query.keyset import EVENT_KEYSETS, RUN_KEYSETS
from ..sessions.base import SessionStore
from .query_corpus import EVENT_TYPES, T0, Corpus, QueryContract, collect, oracle_total


class SearchContract(QueryContract):
    """`search_sessions`, `search_runs`, `search_events` and their cursors."""

    # -- sessions -------------------------------------------------------------------------------

    async def test_search_sessions_filters(self, api: QueryAPI, corpus: Corpus) -> None:
        async def ids(**kw: Any) -> list[str]:
            page = await api.search_sessions(order_by="created_at_asc", limit=1000, **kw)
            return [s.id for s in page.items]

        live = [s for s in corpus.sessions if s.deleted_at is None]

        def expect(pred: Callable[[Session], bool], pool: Iterable[Session] = live) -> list[str]:
            return [s.id for s in sorted(pool, key=lambda s: (s.created_at, s.id)) if pred(s)]

        assert await ids() == expect(lambda s: True)
        assert await ids(include_deleted=True) == expect(lambda s: True, corpus.sessions)
        assert await ids(agent_id="beta") == expect(lambda s: s.agent_id == "beta")
        assert await ids(status="active") == expect(lambda s: s.status is SessionStatus.ACTIVE)
        assert await ids(status=["pending", SessionStatus.FAILED]) == expect(
            lambda s: s.status in (SessionStatus.PENDING, SessionStatus.FAILED)
        )
        assert await ids(tags="x") == expect(lambda s: "x" in s.tags)
        assert await ids(tags=["y", "x"]) == expect(lambda s: {"x", "y"} <= set(s.tags))
        assert await ids(tags=["x", "nope"]) == []
        assert await ids(provider="openai") == expect(lambda s: "openai" in corpus.providers_of(s.id))
        assert await ids(provider=["openai", "anthropic"]) == expect(
            lambda s: bool({"openai", "anthropic"} & corpus.providers_of(s.id))
        )
        start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
        assert await ids(created_after=start, created_before=end) == expect(
            lambda s: start <= s.created_at <= end
        )
        assert await ids(agent_id="alpha", tags="x", status="completed", include_deleted=True) == expect(
            lambda s: s.agent_id == "alpha" and "x" in s.tags and s.status is SessionStatus.COMPLETED,
            corpus.sessions,
        )

    @pytest.mark.parametrize("order", ["updated_at_desc", "created_at_asc", "created_at_desc"])
    @pytest.mark.parametrize("limit", [1, 5, 50])
    async def test_every_session_order_pages_each_session_once(
        self, api: QueryAPI, corpus: Corpus, order: str, limit: int
    ) -> None:
        column = order.rsplit("_", 1)[0]
        expected = sorted(
            corpus.sessions, key=lambda s: (getattr(s, column), s.id), reverse=order.endswith("desc")
        )
        items, pages = await collect(
            lambda c: api.search_sessions(order_by=order, include_deleted=True, limit=limit, cursor=c)
        )
        assert [s.id for s in items] == [s.id for s in expected]
        assert pages == -(-len(expected) // limit)
        assert items[0] == expected[0]

    async def test_default_order_is_updated_at_desc_and_total_count_ignores_the_cursor(
        self, api: QueryAPI, corpus: Corpus
    ) -> None:
        live = [s for s in corpus.sessions if s.deleted_at is None]
        first = await api.search_sessions(limit=3, total_count=True)
        expected = sorted(live, key=lambda s: (s.updated_at, s.id), reverse=True)
        assert [s.id for s in first.items] == [s.id for s in expected[:3]]
        assert first.total_count == len(live)
        second = await api.search_sessions(limit=3, cursor=first.next_cursor, total_count=True)
        assert second.total_count == len(live)
        assert [s.id for s in second.items] == [s.id for s in expected[3:6]]
        assert (await api.search_sessions(limit=3)).total_count is None

    async def test_cursors_are_bound_to_resource_order_and_filters(
        self, api: QueryAPI, store: SessionStore, corpus: Corpus
    ) -> None:
        page = await api.search_sessions(limit=2, agent_id="alpha")
        cursor = page.next_cursor
        assert cursor is not None
        tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
        for bad in (tampered, "garbage", cursor + "x", ""):
            with pytest.raises(InvalidCursor) as info:
                await api.search_sessions(limit=2, agent_id="alpha", cursor=bad)
            assert info.value.code == "invalid_cursor"
        with pytest.raises(InvalidCursor):
            await api.search_sessions(limit=2, agent_id="alpha", order_by="created_at_desc", cursor=cursor)
        with pytest.raises(InvalidCursor):
            await api.search_sessions(limit=2, agent_id="beta", cursor=cursor)
        with pytest.raises(InvalidCursor):
            await api.search_runs(limit=2, cursor=cursor)
        with pytest.raises(InvalidCursor):
            await api.search_events(limit=2, cursor=cursor)
        listing = await store.list_sessions(limit=1)
        assert listing.next_cursor is not None
        with pytest.raises(InvalidCursor):
            await api.search_sessions(cursor=listing.next_cursor)
        again = await api.search_sessions(limit=2, agent_id="alpha", cursor=cursor)
        assert len(again.items) == 2

    async def test_forged_cursors_of_the_wrong_shape_are_invalid(self, api: QueryAPI, corpus: Corpus) -> None:
        """A cursor signed for the right scope (the default secret is public) still cannot carry a key of
        the wrong shape or an integer beyond 64 bits into a query: `invalid_cursor`, never a driver error."""
        tokens = RUN_KEYSETS[RunOrder.TOKEN_USAGE_DESC]
        sequence = EVENT_KEYSETS[EventOrder.SEQUENCE_ASC]
        runs, events = RunFilter.build().fingerprint(), EventFilter.build().fingerprint()
        for key in ([2**63, "run"], [2**64 - 1, "run"], ["many", "run"], [True, "run"], [1]):
            with pytest.raises(InvalidCursor):
                await api.search_runs(order_by="token_usage_desc", cursor=tokens.encode(tuple(key), runs))
        for key in (["ses", 2**63], ["ses", 1.5], [7, 1]):
            with pytest.raises(InvalidCursor):
                await api.search_events(cursor=sequence.encode(tuple(key), events))
        edge = await api.search_runs(order_by="token_usage_desc", cursor=tokens.encode((2**63 - 1, ""), runs))
        assert {r.id for r in edge.items} <= {r.id for r in corpus.runs}
        for bad in (2**63, 2**70):
            with pytest.raises(ValidationError):
                await api.search_runs(min_tokens=bad)
        assert (await api.search_runs(min_tokens=2**63 - 1)).items == []

    async def test_limits_default_and_bounds(self, api: QueryAPI, store: SessionStore) -> None:
        for i in range(51):
            session = await store.save_session(Session(id=f"ses_lim_{i:03d}", agent_id="many"))
            if i < 2:
                await store.save_run(Run(session_id=session.id))
        await store.append_events(
            [Event(type=EventType.MESSAGE_SENT, session_id="ses_lim_000") for _ in range(101)]
        )
        sessions = await api.search_sessions()
        assert len(sessions.items) == 50 and sessions.next_cursor is not None
        events = await api.search_events()
        assert len(events.items) == 100 and events.next_cursor is not None
        assert len((await api.search_sessions(limit=1000)).items) == 51
        for bad in (0, -1, 1001, True, 2.5, "10"):
            with pytest.raises(ValidationError) as info:
                await api.search_sessions(limit=bad)  # type: ignore[arg-type]
            assert info.value.code == "validation_error"
            with pytest.raises(ValidationError):
                await api.search_runs(limit=bad)  # type: ignore[arg-type]
            with pytest.raises(ValidationError):
                await api.search_events(limit=bad)  # type: ignore[arg-type]

    async def test_bad_arguments_raise_coded_errors(self, api: QueryAPI, corpus: Corpus) -> None:
        naive = datetime(2026, 1, 1)
        cases: list[tuple[type[Exception], Callable[[], Any]]] = [
            (ValidationError, lambda: api.search_sessions(order_by="newest")),
            (InvalidStatus, lambda: api.search_sessions(status="sleeping")),
            (ValidationError, lambda: api.search_sessions(created_after=naive)),
            (
                ValidationError,
                lambda: api.search_sessions(created_after=T0 + timedelta(1), created_before=T0),
            ),
            (ValidationError, lambda: api.search_sessions(tags=[""])),
            (ValidationError, lambda: api.search_runs(order_by="cost_desc")),
            (InvalidStatus, lambda: api.search_runs(status="sleeping")),
            (ValidationError, lambda: api.search_runs(min_tokens=-1)),
            (ValidationError, lambda: api.search_runs(min_tokens=True)),
            (ValidationError, lambda: api.search_events(order_by="random")),
            (InvalidEventType, lambda: api.search_events(types=["nope"])),
            (InvalidEventType, lambda: api.count_events(types="nope")),
            (ValidationError, lambda: api.search_events(since=naive)),
            (ValidationError, lambda: api.get_usage_summary(until=naive)),
            (ValidationError, lambda: api.get_cost_summary(pricing=42)),
            (SessionNotFound, lambda: api.get_session_stats("ses_missing")),
            (SessionNotFound, lambda: api.export_session("ses_missing")),
        ]
        for error, call in cases:
            with pytest.raises(error):
                await call()

    # -- runs -----------------------------------------------------------------------------------

    async def test_search_runs_filters(self, api: QueryAPI, corpus: Corpus) -> None:
        async def ids(**kw: Any) -> list[str]:
            page = await api.search_runs(order_by="started_at_asc", limit=1000, **kw)
            return [r.id for r in page.items]

        def expect(pred: Callable[[Run], bool]) -> list[str]:
            return [r.id for r in sorted(corpus.runs, key=lambda r: (r.started_at, r.id)) if pred(r)]

        assert await ids() == expect(lambda r: True)
        assert await ids(session_id="ses_03") == expect(lambda r: r.session_id == "ses_03")
        assert await ids(agent_id="alpha") == expect(lambda r: corpus.agent_of(r.session_id) == "alpha")
        assert await ids(provider="anthropic") == expect(lambda r: r.provider == "anthropic")
        assert await ids(status="running") == expect(lambda r: r.status is RunStatus.RUNNING)
        start, end = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
        assert await ids(started_after=start, started_before=end) == expect(
            lambda r: start <= r.started_at <= end
        )
        for floor in (0, 1, 100, 120, 500, 501):
            expected = [r.id for r in sorted(corpus.runs, key=lambda r: (r.started_at, r.id))]
            totals = {r.id: oracle_total(r.token_usage) for r in corpus.runs}
            assert await ids(min_tokens=floor) == [rid for rid in expected if totals[rid] >= floor]
        assert await ids(provider="openai", status="completed", min_tokens=100) == expect(
            lambda r: (
                r.provider == "openai"
                and r.status is RunStatus.COMPLETED
                and oracle_total(r.token_usage) >= 100
            )
        )

    @pytest.mark.parametrize("order", ["started_at_desc", "started_at_asc", "token_usage_desc"])
    @pytest.mark.parametrize("limit", [1, 4, 50])
    async def test_every_run_order_pages_each_run_once(
        self, api: QueryAPI, corpus: Corpus, order: str, limit: int
    ) -> None:
        if order == "token_usage_desc":
            expected = sorted(corpus.runs, key=lambda r: (oracle_total(r.token_usage), r.id), reverse=True)
        else:
            expected = sorted(corpus.runs, key=lambda r: (r.started_at, r.id), reverse=order.endswith("desc"))
        items, pages = await collect(lambda c: api.search_runs(order_by=order, limit=limit, cursor=c))
        assert [r.id for r in items] == [r.id for r in expected]
        assert pages == -(-len(expected) // limit)
        assert items[0] == expected[0]
        default = await api.search_runs(limit=3)
        by_start = sorted(corpus.runs, key=lambda r: (r.started_at, r.id), reverse=True)
        assert [r.id for r in default.items] == [r.id for r in by_start[:3]]

    # -- events ---------------------------------------------------------------------------------

    async def test_search_events_filters(self, api: QueryAPI, corpus: Corpus) -> None:
        async def ids(**kw: Any) -> list[str]:
            page = await api.search_events(limit=1000, **kw)
            assert await api.count_events(**kw) == len(page.items)
            return [e.id for e in page.items]

        def expect(pred: Callable[[Event], bool]) -> list[str]:
            ordered = sorted(corpus.events, key=lambda e: (e.session_id, e.sequence_number or 0))
            return [e.id for e in ordered if pred(e)]

        assert await ids() == expect(lambda e: True)
        assert await ids(session_ids="ses_05") == expect(lambda e: e.session_id == "ses_05")
        assert await ids(session_ids=["ses_05", "ses_01"]) == expect(
            lambda e: e.session_id in ("ses_01", "ses_05")
        )
        assert await ids(session_ids=[]) == []
        assert await ids(run_ids=["run_02_1"]) == expect(lambda e: e.run_id == "run_02_1")
        assert await ids(types="message_sent") == expect(lambda e: e.type is EventType.MESSAGE_SENT)
        assert await ids(types=["message_sent", EventType.SESSION_CREATED]) == expect(
            lambda e: e.type in (EventType.MESSAGE_SENT, EventType.SESSION_CREATED)
        )
        assert await ids(providers=["openai"]) == expect(lambda e: e.provider == "openai")
        assert await ids(correlation_id="corr-1") == expect(lambda e: e.correlation_id == "corr-1")
        start = T0 + timedelta(seconds=1)
        assert await ids(since=start) == expect(lambda e: e.timestamp >= start)
        assert await ids(until=start) == expect(lambda e: e.timestamp <= start)
        assert await ids(since=start, until=start, types="message_received", providers="anthropic") == expect(
            lambda e: (
                e.timestamp == start and e.type is EventType.MESSAGE_RECEIVED and e.provider == "anthropic"
            )
        )

    @pytest.mark.parametrize("order", ["sequence_asc", "timestamp_asc", "timestamp_desc"])
    @pytest.mark.parametrize("limit", [1, 7, 100])
    async def test_every_event_order_pages_each_event_once(
        self, api: QueryAPI, corpus: Corpus, order: str, limit: int
    ) -> None:
        if order == "sequence_asc":
            expected = sorted(corpus.events, key=lambda e: (e.session_id, e.sequence_number or 0))
        else:
            expected = sorted(
                corpus.events, key=lambda e: (e.timestamp, e.id), reverse=order.endswith("desc")
            )
        items, pages = await collect(lambda c: api.search_events(order_by=order, limit=limit, cursor=c))
        assert [e.id for e in items] == [e.id for e in expected]
        assert pages == -(-len(expected) // limit)
        assert items[0] == expected[0]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(data=st.data())
    async def test_random_event_searches_match_the_oracle(
        self, api: QueryAPI, corpus: Corpus, data: st.DataObject
    ) -> None:
        sessions = data.draw(
            st.none() | st.lists(st.sampled_from([s.id for s in corpus.sessions]), max_size=3)
        )
        types = data.draw(st.none() | st.lists(st.sampled_from(EVENT_TYPES), min_size=1, max_size=2))
        providers = data.draw(st.none() | st.lists(st.sampled_from(["anthropic", "openai"]), min_size=1))
        correlation = data.draw(st.none() | st.sampled_from(["corr-0", "corr-1", "corr-2"]))
        since = data.draw(st.none() | st.integers(0, 2).map(lambda s: T0 + timedelta(seconds=s)))
        order = data.draw(st.sampled_from(["sequence_asc", "timestamp_asc", "timestamp_desc"]))
        limit = data.draw(st.integers(1, 9))
        kw: dict[str, Any] = {
            "session_ids": sessions,
            "types": types,
            "providers": providers,
            "correlation_id": correlation,
            "since": since,
        }

        def match(e: Event) -> bool:
            return (
                (sessions is None or e.session_id in sessions)
                and (types is None or e.type in types)
                and (providers is None or e.provider in providers)
                and (correlation is None or e.correlation_id == correlation)
                and (since is None or e.timestamp >= since)
            )

        if order == "sequence_asc":
            expected = sorted(corpus.events, key=lambda e: (e.session_id, e.sequence_number or 0))
        else:
            expected = sorted(
                corpus.events, key=lambda e: (e.timestamp, e.id), reverse=order == "timestamp_desc"
            )
        items, _ = await collect(lambda c: api.search_events(order_by=order, limit=limit, cursor=c, **kw))
        assert [e.id for e in items] == [e.id for e in expected if match(e)]
        assert await api.count_events(**kw) == len(items)
