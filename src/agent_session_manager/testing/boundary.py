"""The write boundary: a store validates every model it is given, however the model was made.

Pydantic validates a model when it is constructed, but `model_copy(update=...)` and `model_construct`
skip validation, and the JSON containers of a frozen model can still be changed in place. A store must
refuse such a model with `validation_error` before anything is written, on every write path, exactly as
it refuses the same values passed to a constructor. `SessionStoreContract` includes these tests, so a
new backend (or a new write path of an existing one) that forgets the check fails the contract.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from ..artifacts.registry import ArtifactRegistry
from ..core.errors import ValidationError
from ..core.models import ArtifactRecord, Event, EventType, Run, Session
from ..sessions.base import SessionStore
from .store import StoreContract

M = TypeVar("M", Session, Run, Event, ArtifactRecord)

NAIVE = datetime(2026, 1, 1, 12, 0)
#: Its UTC value (0000-12-31 19:00) is outside what `datetime` can represent.
BEFORE_YEAR_ONE = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
#: JSON values that a constructor refuses: each must be refused by a store too.
BAD_JSON: list[Any] = [float("nan"), float("inf"), -0.0, 1e16, 2**64, b"raw", (1, 2), "nul\x00", "\ud800"]

BAD_SESSION_FIELDS: list[dict[str, Any]] = [
    {"id": "../../etc/passwd"},
    {"agent_id": ""},
    {"status": "bogus"},
    {"tags": [""]},
    {"tags": ["\ud800"]},
    {"created_at": NAIVE},
    {"updated_at": BEFORE_YEAR_ONE},
    *({"metadata": {"x": bad}} for bad in BAD_JSON),
    {"context": {"deep": [{"x": float("nan")}]}},
]
BAD_RUN_FIELDS: list[dict[str, Any]] = [
    {"id": "run/../x"},
    {"turn_count": -1},
    {"turn_count": 2**64},
    {"cost_usd": float("nan")},
    {"cost_usd": float("inf")},
    {"started_at": NAIVE},
    {"ended_at": BEFORE_YEAR_ONE},
    *({"token_usage": {"input_tokens": bad}} for bad in BAD_JSON),
    {"output": {"x": float("-inf")}},
]
BAD_EVENT_FIELDS: list[dict[str, Any]] = [
    {"id": "../../etc/passwd"},
    {"type": "bogus"},
    {"run_id": "a b"},
    {"timestamp": NAIVE},
    {"timestamp": BEFORE_YEAR_ONE},
    {"schema_version": 2**64},
    {"provider": "nul\x00"},
    *({"data": {"x": bad}} for bad in BAD_JSON),
    {"metadata": {"nested": {"x": float("nan")}}},
]
BAD_RECORD_FIELDS: list[dict[str, Any]] = [
    {"key": "../escape"},
    {"byte_size": -1},
    {"checksum_sha256": "not-a-checksum"},
    {"created_at": NAIVE},
    {"metadata": {"x": float("nan")}},
]


def copied(make: Callable[[], M], update: dict[str, Any]) -> M | None:
    """`model_copy(update=...)`, which pydantic does not validate (and the README recommends)."""
    return make().model_copy(update=update)


def constructed(make: Callable[[], M], update: dict[str, Any]) -> M | None:
    """`model_construct`, which builds a model from trusted values without validating them."""
    model = make()
    return type(model).model_construct(**{**model.__dict__, **update})


def mutated(make: Callable[[], M], update: dict[str, Any]) -> M | None:
    """A validated model whose JSON containers or tag list were changed in place afterwards (frozen
    models freeze their attributes, not the dicts and lists they hold). None where no field of
    `update` is a container."""
    model = make()
    for name, value in update.items():
        held = getattr(model, name)
        if isinstance(held, dict) and isinstance(value, dict):
            held.clear()
            held.update(value)
        elif isinstance(held, list) and isinstance(value, list):
            held[:] = value
        else:
            return None
    return model


MAKERS = [copied, constructed, mutated]


async def refused(write: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """`write(*args)` must raise `validation_error` (or a subclass); any other error propagates."""
    try:
        await write(*args)
    except ValidationError:
        return
    pytest.fail(f"{getattr(write, '__name__', write)}{args!r} was accepted")


class WriteBoundaryContract(StoreContract):
    """Every write path refuses a model that would not pass its constructor; nothing is written."""

    @pytest.mark.parametrize("make", MAKERS)
    async def test_session_writes_validate_however_made(
        self, store: SessionStore, make: Callable[..., Any]
    ) -> None:
        stored = await store.save_session(Session(agent_id="a", tags=["t"], metadata={"v": 1}))
        for update in BAD_SESSION_FIELDS:
            bad = make(lambda: stored.model_copy(deep=True), update)
            if bad is None:
                continue
            await refused(store.save_session, bad)
            await refused(store.flush, bad, None, [])
        assert [s.id for s in (await store.list_sessions()).items] == [stored.id]
        assert await store.get_session(stored.id) == stored

    @pytest.mark.parametrize("make", MAKERS)
    async def test_run_writes_validate_however_made(
        self, store: SessionStore, make: Callable[..., Any]
    ) -> None:
        session = await store.save_session(Session(agent_id="a"))
        stored = await store.save_run(Run(session_id=session.id, token_usage={"input_tokens": 1}))
        for update in BAD_RUN_FIELDS:
            bad = make(lambda: stored.model_copy(deep=True), update)
            if bad is None:
                continue
            await refused(store.save_run, bad)
            await refused(store.flush, session, bad, [])
        assert await store.get_run(stored.id) == stored
        assert [r.id for r in (await store.list_runs(session.id)).items] == [stored.id]

    @pytest.mark.parametrize("make", MAKERS)
    async def test_appends_validate_however_made(self, store: SessionStore, make: Callable[..., Any]) -> None:
        session = await store.save_session(Session(agent_id="a"))

        def fresh() -> Event:
            return Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={"ok": 1})

        for update in BAD_EVENT_FIELDS:
            bad = make(fresh, update)
            if bad is None:
                continue
            await refused(store.append_event, bad)
            await refused(store.append_events, [fresh(), bad])
            await refused(store.flush, session, None, [fresh(), bad])
        assert await store.get_events(session.id) == []
        assert await store.get_latest_sequence(session.id) == 0
        changed = fresh().model_copy(update={"data": {"v": 2}, "timestamp": datetime(2026, 2, 1, tzinfo=UTC)})
        assert (await store.append_event(changed)).data == {"v": 2}

    @pytest.mark.parametrize("make", MAKERS)
    async def test_artifact_records_validate_however_made(
        self, store: SessionStore, make: Callable[..., Any]
    ) -> None:
        if not isinstance(store, ArtifactRegistry):
            pytest.skip("this store keeps no artifact registry")
        session = await store.save_session(Session(agent_id="a"))

        def fresh() -> ArtifactRecord:
            return ArtifactRecord(
                session_id=session.id,
                key="k/1",
                byte_size=1,
                checksum_sha256="0" * 64,
                storage_backend="memory",
                storage_ref="memory://k/1",
                metadata={"ok": 1},
            )

        for update in BAD_RECORD_FIELDS:
            bad = make(fresh, update)
            if bad is None:
                continue
            await refused(store.register_artifact, bad)
        assert (await store.list_artifact_records(session.id)).items == []
