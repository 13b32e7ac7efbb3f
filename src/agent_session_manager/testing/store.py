"""The base of the `SessionStore` contract modules: a fresh store per test, and small helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ..core.models import Event, EventType, Session
from ..sessions.base import SessionStore
from .registry import Contract

#: The time the contract's timelines start at.
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class StoreContract(Contract):
    """What every `SessionStore` contract module shares: `new_store` (yours), the `store` fixture and
    helpers to make sessions and events."""

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
    def _event(session: Session, kind: EventType | str = EventType.MESSAGE_SENT, **fields: Any) -> Event:
        return Event(type=kind, session_id=session.id, **fields)

    @staticmethod
    async def _seqs(store: SessionStore, session_id: str) -> list[int]:
        return [e.sequence_number or 0 for e in await store.get_events(session_id)]
