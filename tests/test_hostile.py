"""Hostile arguments against every public method of every session backend: only `ASMError` leaves.

A hypothesis state machine calls each method of the `SessionStore` contract and of the artifact
registry with a mix of valid values (ids of what it stored) and hostile ones: wrong types, lone
surrogates, NUL, integers beyond 64 bits, NaN, naive and out-of-range timestamps, models built with
`model_construct` or `model_copy`. Each call must succeed or raise an `ASMError` whose code says the
input was refused (never a raw `TypeError`/`OverflowError`/`UnicodeEncodeError`, never `storage_error`),
and each stored session's event numbers stay unique and ascending.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from agent_session_manager import ASMError, open_store
from agent_session_manager.core.models import ArtifactRecord, Event, EventType, Run, Session
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.schema import TABLE_NAMES

#: The codes a refused input may raise: the input was invalid, names something absent or taken, or
#: expected another sequence number.
INPUT_CODES = {
    "validation_error",
    "invalid_event_type",
    "invalid_status",
    "invalid_transition",
    "invalid_cursor",
    "not_found",
    "session_not_found",
    "run_not_found",
    "already_exists",
    "conflict",
}

FAR_EAST = timezone(timedelta(hours=14))
text = st.text(st.characters(codec=None, categories=None), max_size=8)  # lone surrogates, NUL, ...
hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, -1, 0]),
    st.floats(),
    text,
    st.binary(max_size=4),
    st.sampled_from(
        [
            datetime(2026, 1, 1),
            datetime(1, 1, 1, tzinfo=FAR_EAST),
            datetime.min.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=UTC),
            datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14))),
            "\ud800",
            "a\x00b",
            "../../etc/passwd",
            "Customer.42",
        ]
    ),
)
hostile = st.recursive(
    hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(st.one_of(text, st.integers()), inner, max_size=3)
        | st.frozensets(st.integers(), max_size=2)
    ),
    max_leaves=6,
)


def _runner_call(runner: asyncio.Runner, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run `call()`; its result, or None when it raised an `ASMError` of the input-refused kind."""
    try:
        return runner.run(asyncio.wait_for(call(), 10))
    except ASMError as exc:
        refused = exc
    assert refused.code in INPUT_CODES, f"{refused!r} is not an input error"
    return None


class HostileCalls(RuleBasedStateMachine):
    """Drives one store, opened afresh for each example by `opener` (set by the test)."""

    opener: Callable[[], Awaitable[SessionStore]]

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.store: SessionStore = self.runner.run(type(self).opener())
        self.sessions: list[str] = []
        self.runs: list[str] = []

    def teardown(self) -> None:
        self.runner.run(self.store.close())
        self.runner.close()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _runner_call(self.runner, lambda: getattr(self.store, method)(*args, **kwargs))

    def pick(self, data: st.DataObject, pool: list[str]) -> Any:
        if pool and data.draw(st.booleans()):
            return data.draw(st.sampled_from(pool))
        return data.draw(hostile)

    def model(self, data: st.DataObject, cls: type[Any], base: dict[str, Any]) -> Any:
        """A model of `cls` with some fields replaced by hostile values, made however hypothesis likes."""
        fields = list(cls.model_fields)
        changes = data.draw(st.dictionaries(st.sampled_from(fields), hostile, max_size=2))
        how = data.draw(st.sampled_from(["construct", "copy", "build"]))
        if how == "construct":
            return cls.model_construct(**{**base, **changes})
        try:
            valid = cls(**base)
        except ASMError:
            return cls.model_construct(**base)
        if how == "copy":
            return valid.model_copy(update=changes)
        try:
            return cls(**{**base, **changes})
        except ASMError:
            return valid

    # -- sessions -------------------------------------------------------------------------------

    @rule(data=st.data())
    def save_session(self, data: st.DataObject) -> None:
        session = self.model(data, Session, {"agent_id": "agent"})
        stored = self.call("save_session", session)
        if stored is not None:
            self.sessions.append(stored.id)

    @rule(data=st.data())
    def get_session(self, data: st.DataObject) -> None:
        self.call("get_session", self.pick(data, self.sessions))

    @rule(data=st.data())
    def list_sessions(self, data: st.DataObject) -> None:
        self.call(
            "list_sessions",
            agent_id=data.draw(st.none() | hostile),
            status=data.draw(st.none() | hostile | st.just("active")),
            limit=data.draw(st.sampled_from([1, 50]) | hostile),
            cursor=data.draw(st.none() | hostile),
        )

    @rule(data=st.data())
    def delete_session(self, data: st.DataObject) -> None:
        self.call("delete_session", self.pick(data, self.sessions))

    # -- runs -----------------------------------------------------------------------------------

    @rule(data=st.data())
    def save_run(self, data: st.DataObject) -> None:
        run = self.model(data, Run, {"session_id": self.pick(data, self.sessions)})
        stored = self.call("save_run", run)
        if stored is not None:
            self.runs.append(stored.id)

    @rule(data=st.data())
    def get_run(self, data: st.DataObject) -> None:
        self.call("get_run", self.pick(data, self.runs))

    @rule(data=st.data())
    def list_runs(self, data: st.DataObject) -> None:
        self.call(
            "list_runs",
            self.pick(data, self.sessions),
            status=data.draw(st.none() | hostile),
            limit=data.draw(st.sampled_from([1, 50]) | hostile),
            cursor=data.draw(st.none() | hostile),
        )

    @rule(data=st.data())
    def get_active_run(self, data: st.DataObject) -> None:
        self.call("get_active_run", self.pick(data, self.sessions))

    # -- events ---------------------------------------------------------------------------------

    def event(self, data: st.DataObject) -> Any:
        base = {"type": EventType.MESSAGE_SENT, "session_id": self.pick(data, self.sessions), "data": {}}
        return self.model(data, Event, base)

    @rule(data=st.data())
    def append_event(self, data: st.DataObject) -> None:
        self.call("append_event", self.event(data))

    @rule(data=st.data())
    def append_events(self, data: st.DataObject) -> None:
        events = [self.event(data) for _ in range(data.draw(st.integers(0, 3)))]
        self.call("append_events", data.draw(st.just(events) | hostile))

    @rule(data=st.data())
    def flush(self, data: st.DataObject) -> None:
        session = self.model(data, Session, {"agent_id": "agent"})
        run = data.draw(
            st.none() | st.just(self.model(data, Run, {"session_id": getattr(session, "id", "x")}))
        )
        self.call("flush", session, run, [self.event(data)])

    @rule(data=st.data())
    def get_events(self, data: st.DataObject) -> None:
        optional = st.none() | hostile
        self.call(
            "get_events",
            self.pick(data, self.sessions),
            after=data.draw(optional),
            before=data.draw(optional),
            since=data.draw(optional),
            until=data.draw(optional),
            run_id=data.draw(optional),
            types=data.draw(optional | st.just(["message_sent"])),
            limit=data.draw(optional),
            wait=data.draw(st.none() | st.sampled_from([0, 0.01, -1, float("nan"), "1"])),
        )

    @rule(data=st.data())
    def newest_events(self, data: st.DataObject) -> None:
        self.call(
            "get_events",
            self.pick(data, self.sessions),
            before=data.draw(st.none() | hostile),
            last=data.draw(st.sampled_from([1, 5]) | hostile),
        )

    @rule(data=st.data())
    def append_expecting(self, data: st.DataObject) -> None:
        self.call(
            "append_event", self.event(data), expected_sequence=data.draw(st.sampled_from([0, 1]) | hostile)
        )

    @rule(data=st.data())
    def delete_events(self, data: st.DataObject) -> None:
        optional = st.none() | hostile
        self.call(
            "delete_events",
            self.pick(data, self.sessions),
            ids=data.draw(optional | st.lists(text, max_size=2)),
            after=data.draw(optional | st.just(1)),
            run_id=data.draw(optional),
            expected_sequence=data.draw(optional),
        )

    @rule(data=st.data())
    def iter_events(self, data: st.DataObject) -> None:
        async def drain() -> list[Any]:
            events = self.store.iter_events(
                self.pick(data, self.sessions),
                after=data.draw(st.just(0) | hostile),
                before=data.draw(st.none() | hostile),
                types=data.draw(st.none() | hostile),
                batch_size=data.draw(st.just(2) | hostile),
            )
            return [event async for event in events]

        _runner_call(self.runner, drain)

    @rule(data=st.data())
    def get_latest_sequence(self, data: st.DataObject) -> None:
        self.call("get_latest_sequence", self.pick(data, self.sessions))

    @rule(data=st.data())
    def subscribe(self, data: st.DataObject) -> None:
        async def first() -> Any:
            events = self.store.subscribe(
                self.pick(data, self.sessions),
                after=data.draw(st.just(0) | hostile),
                run_id=data.draw(st.none() | hostile),
                types=data.draw(st.none() | hostile),
            )
            try:
                return await asyncio.wait_for(anext(events), 0.05)
            except TimeoutError:
                return None
            finally:
                await events.aclose()  # type: ignore[attr-defined]

        _runner_call(self.runner, first)

    # -- artifact registry ----------------------------------------------------------------------

    @rule(data=st.data())
    def register_artifact(self, data: st.DataObject) -> None:
        base = {
            "session_id": self.pick(data, self.sessions),
            "key": data.draw(st.sampled_from(["a/1", "b"]) | hostile),
            "byte_size": 1,
            "checksum_sha256": "0" * 64,
            "storage_backend": "memory",
            "storage_ref": "memory://a/1",
        }
        self.call("register_artifact", self.model(data, ArtifactRecord, base))

    @rule(data=st.data())
    def artifact_reads(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(["a/1", "b"]) | hostile)
        self.call("get_artifact_record", key)
        self.call("delete_artifact_record", data.draw(st.sampled_from(["a/1"]) | hostile))
        session = self.pick(data, self.sessions)
        self.call("artifact_totals", session)
        self.call(
            "list_artifact_records",
            session,
            limit=data.draw(st.just(10) | hostile),
            cursor=data.draw(st.none() | hostile),
        )

    @invariant()
    def numbers_stay_unique_and_ordered(self) -> None:
        for session_id in self.sessions[-3:]:
            events = _runner_call(self.runner, lambda sid=session_id: self.store.get_events(sid))
            latest = _runner_call(self.runner, lambda sid=session_id: self.store.get_latest_sequence(sid))
            if events:
                numbers = [e.sequence_number for e in events]
                assert numbers == sorted(set(numbers))
                assert numbers[-1] <= latest


#: Examples per backend: enough to reach every rule many times, small enough for CI (seconds).
SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _drive(opener: Callable[[], Awaitable[SessionStore]]) -> None:
    machine = type("Machine", (HostileCalls,), {"opener": staticmethod(opener)})
    run_state_machine_as_test(machine, settings=SETTINGS)


def test_memory_store_refuses_hostile_input_with_asm_errors() -> None:
    _drive(lambda: open_store("memory://"))


def test_sqlite_store_refuses_hostile_input_with_asm_errors(tmp_path: Path) -> None:
    numbers = itertools.count()
    _drive(lambda: open_store(f"sqlite:///{tmp_path}/hostile-{next(numbers)}.db", migrate=True))


@pytest.mark.postgres
def test_postgres_store_refuses_hostile_input_with_asm_errors(postgres_url: str) -> None:
    migrations.upgrade(postgres_url)

    async def fresh() -> SessionStore:
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
        finally:
            await connection.close()
        return await open_store(postgres_url)

    _drive(fresh)
