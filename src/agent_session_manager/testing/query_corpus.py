"""The base of the `QueryAPI` contract modules: the corpus every search is checked on, the oracle's
token rule, and the fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..core.models import Event, EventType, Run, RunStatus, Session, SessionStatus
from ..core.pagination import Page, pages
from ..query import query_api
from ..query.base import QueryAPI
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


class QueryContract(Contract):
    """What every `QueryAPI` contract module shares: `new_store` (yours), `make_query_api`, and the
    `store`, `api` and `corpus` fixtures."""

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
