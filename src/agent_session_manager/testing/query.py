"""The `QueryAPI` contract suite: memory, SQLite, PostgreSQL and third-party backends pass the same tests.

Use it with pytest and pytest-asyncio (`asyncio_mode = "auto"`)::

    from agent_session_manager.testing import QueryAPIContract

    class TestMyQueries(QueryAPIContract):
        async def new_store(self):
            return await MyStore.connect(...)   # connected and EMPTY

`query_api(store)` picks the implementation; override `make_query_api` to test another one. Searches are
checked against an independent oracle (plain Python over the objects the test wrote): every order, paged
with small limits, must list exactly the matching rows once each, in order, ties included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..artifacts.registry import ArtifactRegistry
from ..core.errors import (
    AlreadyExists,
    InvalidCursor,
    InvalidEventType,
    InvalidStatus,
    SessionNotFound,
    ValidationError,
)
from ..core.models import ArtifactRecord, Event, EventType, Run, RunStatus, Session, SessionStatus
from ..core.pagination import Page, pages
from ..pricing import PricingTable, ProviderPricing, Rates
from ..query import query_api
from ..query.base import EventFilter, EventOrder, QueryAPI, RunFilter, RunOrder
from ..query.export import SessionExport, import_session, stream_session_jsonl
from ..query.keyset import EVENT_KEYSETS, RUN_KEYSETS
from ..sessions.base import SessionStore
from .registry import Contract

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AGENTS = ("alpha", "beta")
PROVIDERS = ("anthropic", "openai", None)
SESSION_STATUSES = (
    SessionStatus.PENDING,
    SessionStatus.ACTIVE,
    SessionStatus.COMPLETED,
    SessionStatus.FAILED,
)
TAG_SETS: tuple[list[str], ...] = ([], ["x"], ["x", "y"], ["y"])
EVENT_TYPES = (
    EventType.SESSION_CREATED,
    EventType.MESSAGE_SENT,
    EventType.MESSAGE_RECEIVED,
    EventType.TOOL_CALL_STARTED,
    EventType.MESSAGE_STREAMED,
)
USAGES: tuple[dict[str, Any], ...] = (
    {"input_tokens": 100, "output_tokens": 20},
    {"input_tokens": 5, "output_tokens": 5, "total_tokens": 500},
    {"input_tokens": 30, "output_tokens": 2, "cache_read_input_tokens": 68},
    {},
    {"input_tokens": "many", "output_tokens": 7.9},
    {"input_tokens": 40, "output_tokens": 80, "cache_creation_tokens": 0},
)


@dataclass
class Corpus:
    """What the query tests wrote, kept as plain objects for the oracle."""

    sessions: list[Session]
    runs: list[Run]
    events: list[Event]

    def providers_of(self, session_id: str) -> set[str | None]:
        return {r.provider for r in self.runs if r.session_id == session_id}

    def agent_of(self, session_id: str) -> str:
        return next(s.agent_id for s in self.sessions if s.id == session_id)


def oracle_total(usage: dict[str, Any]) -> int:
    """Independent restatement of the documented token rule, for checking backends."""

    def number(name: str) -> int:
        value = usage.get(name)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    total = usage.get("total_tokens")
    if isinstance(total, int | float) and not isinstance(total, bool):
        return int(total)
    cache_read = "cache_read_tokens" if "cache_read_tokens" in usage else "cache_read_input_tokens"
    cache_creation = (
        "cache_creation_tokens" if "cache_creation_tokens" in usage else "cache_creation_input_tokens"
    )
    return number("input_tokens") + number("output_tokens") + number(cache_read) + number(cache_creation)


async def collect(fetch: Callable[[str | None], Any], limit_pages: int = 10_000) -> tuple[list[Any], int]:
    """Every item of a paged search, and how many pages it took (`core.pagination.pages`, bounded)."""
    seen: list[Page[Any]] = []
    async for page in pages(fetch):
        seen.append(page)
        assert len(seen) <= limit_pages, "paging did not end"
    return [item for page in seen for item in page.items], len(seen)


class QueryAPIContract(Contract):
    """Subclass in a test module and implement `new_store`."""

    async def new_store(self) -> SessionStore:
        """Return a connected, empty store. Subclasses must override this."""
        raise NotImplementedError

    def make_query_api(self, store: SessionStore) -> QueryAPI:
        return query_api(store)

    @pytest.fixture
    async def store(self) -> AsyncIterator[SessionStore]:
        store = await self.new_store()
        try:
            yield store
        finally:
            await store.close()

    @pytest.fixture
    def api(self, store: SessionStore) -> QueryAPI:
        return self.make_query_api(store)

    @pytest.fixture
    async def corpus(self, store: SessionStore) -> Corpus:
        """12 sessions, 24 runs, 60 events, with many ties in every sort column."""
        sessions: list[Session] = []
        runs: list[Run] = []
        events: list[Event] = []
        for i in range(12):
            session = Session(
                id=f"ses_{i:02d}",
                agent_id=AGENTS[i % 2],
                status=SESSION_STATUSES[i % 4],
                tags=TAG_SETS[i % 4],
                created_at=T0 + timedelta(hours=i // 3),
                updated_at=T0 + timedelta(days=1, minutes=(i * 7) % 5),
                deleted_at=T0 + timedelta(days=2) if i in (4, 11) else None,
            )
            sessions.append(await store.save_session(session))
            for j in range(2):
                provider = PROVIDERS[(i + j) % 3]
                run = Run(
                    id=f"run_{i:02d}_{j}",
                    session_id=session.id,
                    status=RunStatus.COMPLETED if j == 0 else RunStatus.RUNNING,
                    provider=provider,
                    provider_metadata={"model": "claude-sonnet-4-5" if provider == "anthropic" else "gpt-4o"}
                    if provider
                    else {},
                    token_usage=USAGES[(i * 2 + j) % len(USAGES)],
                    started_at=T0 + timedelta(minutes=(i + j) % 4),
                )
                runs.append(await store.save_run(run))
            batch = [
                Event(
                    id=f"evt_{i:02d}_{k}",
                    type=EVENT_TYPES[(i + k) % len(EVENT_TYPES)],
                    session_id=session.id,
                    run_id=f"run_{i:02d}_{k % 2}" if k else None,
                    timestamp=T0 + timedelta(seconds=(i + k) % 3),
                    provider=PROVIDERS[k % 3],
                    correlation_id=f"corr-{(i + k) % 3}" if k != 2 else None,
                )
                for k in range(5)
            ]
            events.extend(await store.append_events(batch))
        return Corpus(sessions, runs, events)

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

    # -- statistics, usage, cost ----------------------------------------------------------------

    async def _priced(self, store: SessionStore) -> tuple[Session, Session]:
        """Two sessions whose runs exercise every pricing rule (rates chosen to add up exactly)."""
        a = await store.save_session(Session(id="ses_cost_a", agent_id="alpha"))
        b = await store.save_session(Session(id="ses_cost_b", agent_id="beta"))
        runs = [
            # exact model match: 10*1 + 4*2 + 6*0.5 (cache read) + 2*4 (cache creation) = 29
            Run(
                id="run_exact",
                session_id=a.id,
                provider="anthropic",
                provider_metadata={"model": "claude-x"},
                token_usage={
                    "input_tokens": 10,
                    "output_tokens": 4,
                    "cache_read_input_tokens": 6,
                    "cache_creation_tokens": 2,
                },
                started_at=T0,
            ),
            # longest prefix "claude-x-1" (not "claude-x"): 10*8 + 1*16 = 96
            Run(
                id="run_prefix",
                session_id=a.id,
                provider="anthropic",
                provider_metadata={"model": "claude-x-1-preview"},
                token_usage={"input_tokens": 10, "output_tokens": 1},
                started_at=T0 + timedelta(hours=1),
            ),
            # provider default: 3*0.25 + 1*0.5 = 1.25
            Run(
                id="run_default",
                session_id=b.id,
                provider="anthropic",
                provider_metadata={"model": "other"},
                token_usage={"input_tokens": 3, "output_tokens": 1},
                started_at=T0 + timedelta(hours=2),
            ),
            # stored cost wins over the table
            Run(
                id="run_stored",
                session_id=b.id,
                provider="openai",
                provider_metadata={"model": "gpt-x"},
                token_usage={"input_tokens": 1000, "output_tokens": 1000, "total_tokens": 2000},
                cost_usd=0.75,
                started_at=T0 + timedelta(hours=3),
            ),
            # cannot be priced: unknown provider, and usage that is not a count
            Run(
                id="run_unknown_provider",
                session_id=b.id,
                provider="mystery",
                token_usage={"input_tokens": 7},
                started_at=T0 + timedelta(hours=4),
            ),
            Run(
                id="run_bad_usage",
                session_id=a.id,
                provider="anthropic",
                provider_metadata={"model": "claude-x"},
                token_usage={"input_tokens": "lots"},
                started_at=T0 + timedelta(hours=5),
            ),
        ]
        for run in runs:
            await store.save_run(run)
        return a, b

    PRICING = PricingTable(
        providers={
            "anthropic": ProviderPricing(
                default=Rates(input=0.25, output=0.5),
                models={
                    "claude-x": Rates(input=1.0, output=2.0, cache_read=0.5, cache_creation=4.0),
                    "claude-x-1": Rates(input=8.0, output=16.0),
                },
            )
        }
    )

    async def test_cost_summary_prices_each_run_once(self, api: QueryAPI, store: SessionStore) -> None:
        await self._priced(store)
        cost = await api.get_cost_summary(pricing=self.PRICING)
        assert cost.total_cost_usd == pytest.approx(29 + 96 + 1.25 + 0.75)
        assert (cost.run_count, cost.priced_run_count, cost.unmapped_runs) == (6, 4, 2)
        assert cost.by_provider["anthropic"].cost_usd == pytest.approx(29 + 96 + 1.25)
        assert cost.by_provider["anthropic"].run_count == 3
        assert cost.by_provider["openai"].cost_usd == pytest.approx(0.75)
        assert set(cost.by_provider) == {"anthropic", "openai"}
        assert cost.by_model["claude-x"].cost_usd == pytest.approx(29)
        assert cost.by_model["claude-x-1-preview"].input_tokens == 10
        assert cost.by_model["gpt-x"].output_tokens == 1000
        mapping = {"anthropic": {"default": {"input": 1.0, "output": 1.0}}}
        as_dict = await api.get_cost_summary(pricing=mapping, session_id="ses_cost_b")
        assert as_dict.total_cost_usd == pytest.approx(3 + 1 + 0.75)
        assert as_dict.unmapped_runs == 1
        only_beta = await api.get_cost_summary(pricing=self.PRICING, agent_id="beta", provider="anthropic")
        assert only_beta.total_cost_usd == pytest.approx(1.25)
        window = await api.get_cost_summary(
            pricing=self.PRICING, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)
        )
        assert window.total_cost_usd == pytest.approx(96 + 1.25 + 0.75)
        default_table = await api.get_cost_summary()
        assert default_table.priced_run_count == 1 and default_table.unmapped_runs == 5

    async def test_usage_summary_totals_by_provider_and_model(
        self, api: QueryAPI, store: SessionStore
    ) -> None:
        await self._priced(store)
        usage = await api.get_usage_summary()
        assert usage.run_count == 6
        assert usage.total_input_tokens == 10 + 10 + 3 + 1000 + 7
        assert usage.total_output_tokens == 4 + 1 + 1 + 1000
        assert usage.total_cache_read_tokens == 6
        assert usage.total_cache_creation_tokens == 2
        assert usage.total_tokens == 22 + 11 + 4 + 2000 + 7
        assert usage.by_provider["anthropic"].run_count == 4
        assert usage.by_provider["anthropic"].total_tokens == 22 + 11 + 4
        assert usage.by_provider["mystery"].input_tokens == 7
        assert usage.by_model["claude-x"].run_count == 2
        assert usage.by_model["unknown"].run_count == 1
        sliced = await api.get_usage_summary(session_id="ses_cost_a", since=T0 + timedelta(minutes=1))
        assert (sliced.run_count, sliced.total_tokens) == (2, 11)
        assert (await api.get_usage_summary(agent_id="beta", provider=["openai", "mystery"])).run_count == 2

    async def test_session_stats(self, api: QueryAPI, store: SessionStore, corpus: Corpus) -> None:
        stats = await api.get_session_stats("ses_05")
        events = [e for e in corpus.events if e.session_id == "ses_05"]
        runs = [r for r in corpus.runs if r.session_id == "ses_05"]
        assert stats.event_count == 5 and stats.latest_sequence == 5
        assert stats.first_event_at == min(e.timestamp for e in events)
        assert stats.last_event_at == max(e.timestamp for e in events)
        assert stats.run_count == 2
        assert stats.status_counts == {RunStatus.COMPLETED: 1, RunStatus.RUNNING: 1}
        assert stats.token_totals.total_tokens == sum(oracle_total(r.token_usage) for r in runs)
        used = {r.provider for r in runs} | {e.provider for e in events}
        assert stats.providers_used == sorted(p for p in used if p)
        assert (stats.artifact_count, stats.artifact_bytes) == (0, 0)
        empty = await store.save_session(Session(agent_id="quiet"))
        quiet = await api.get_session_stats(empty.id)
        assert (quiet.event_count, quiet.first_event_at, quiet.run_count) == (0, None, 0)

    # -- export and import ----------------------------------------------------------------------

    async def _rich_session(self, store: SessionStore) -> Session:
        session = await store.save_session(
            Session(
                agent_id="exporter",
                status=SessionStatus.COMPLETED,
                tags=["b", "a"],
                metadata={"z": 1, "a": {"nested": [1, 2.5, None, "é"]}},
                created_at=T0,
                updated_at=T0 + timedelta(hours=1),
            )
        )
        run = await store.save_run(
            Run(
                session_id=session.id,
                status=RunStatus.COMPLETED,
                token_usage={"input_tokens": 3},
                cost_usd=0.1,
                started_at=T0,
                ended_at=T0 + timedelta(minutes=1),
                provider="anthropic",
            )
        )
        await store.append_events(
            [
                Event(
                    type=EventType.MESSAGE_SENT,
                    session_id=session.id,
                    run_id=run.id,
                    timestamp=T0 + timedelta(microseconds=i),
                    data={"i": i, "text": "ü" * i},
                    correlation_id="c",
                )
                for i in range(25)
            ]
        )
        register = getattr(store, "register_artifact", None)
        if register is not None:
            await register(
                ArtifactRecord(
                    session_id=session.id,
                    run_id=run.id,
                    key=f"{session.id}/out.txt",
                    byte_size=3,
                    checksum_sha256="a" * 64,
                    storage_backend="memory",
                    storage_ref="memory://out.txt",
                    created_at=T0,
                )
            )
        return session

    async def test_export_lists_everything_in_order(self, api: QueryAPI, store: SessionStore) -> None:
        session = await self._rich_session(store)
        export = await api.export_session(session.id)
        assert export.session == await store.get_session(session.id)
        assert [e.sequence_number for e in export.events] == list(range(1, 26))
        assert export.events == await store.get_events(session.id)
        assert len(export.runs) == 1
        document = orjson.loads(export.to_json())
        assert set(document) == {"format", "version", "session", "runs", "events", "artifacts"}
        lines = b"".join([chunk async for chunk in stream_session_jsonl(store, session.id)])
        assert lines == b"".join(export.to_jsonl())
        assert SessionExport.from_jsonl(lines.splitlines()) == export
        assert SessionExport.from_json(export.to_json()) == export

    async def test_export_import_export_is_identical(self, api: QueryAPI, store: SessionStore) -> None:
        session = await self._rich_session(store)
        before = await api.export_session(session.id)
        await store.delete_session(session.id)
        result = await import_session(store, before.to_json())
        assert (result.runs, result.events, result.renumbered) == (1, 25, False)
        after = await api.export_session(session.id)
        assert after.to_json() == before.to_json()
        await store.delete_session(session.id)
        streamed = await import_session(store, iter(before.to_jsonl()))
        assert streamed.events == 25
        assert (await api.export_session(session.id)).to_json() == before.to_json()
        await store.delete_session(session.id)
        blob = b"".join(before.to_jsonl())
        sliced = await import_session(store, iter([blob[i : i + 97] for i in range(0, len(blob), 97)]))
        assert sliced.events == 25
        assert (await api.export_session(session.id)).to_json() == before.to_json()

    async def test_import_is_all_or_nothing(self, api: QueryAPI, store: SessionStore) -> None:
        session = await self._rich_session(store)
        export = await api.export_session(session.id)
        lines = export.to_jsonl()
        with pytest.raises(AlreadyExists):
            await import_session(store, export)
        assert (await api.export_session(session.id)).to_json() == export.to_json()
        await store.delete_session(session.id)
        for broken in (lines[:-1], lines[:10] + lines[11:], [lines[1], lines[0], *lines[2:]]):
            with pytest.raises(ValidationError):
                await import_session(store, iter(broken))
            with pytest.raises(SessionNotFound):
                await store.get_session(session.id)
        other = await store.save_session(Session(agent_id="other"))
        await store.append_event(export.events[7].model_copy(update={"session_id": other.id}))
        with pytest.raises(AlreadyExists):
            await import_session(store, export)
        with pytest.raises(SessionNotFound):
            await store.get_session(session.id)
        await store.delete_session(other.id)
        if isinstance(store, ArtifactRegistry) and export.artifacts:  # another session's key stays its own
            owner = await store.save_session(Session(agent_id="owner"))
            taken = export.artifacts[0].model_copy(update={"session_id": owner.id, "run_id": None})
            await store.register_artifact(taken)
            with pytest.raises(AlreadyExists):
                await import_session(store, export)
            with pytest.raises(SessionNotFound):
                await store.get_session(session.id)
            assert await store.get_artifact_record(taken.key) == taken
        with pytest.raises(ValidationError):
            await import_session(store, b"{not json")
        with pytest.raises(ValidationError):
            await import_session(store, b'{"format": "something-else", "version": 1}')
