"""SessionManager lifecycle on every backend (memory, SQLite, PostgreSQL): sequences, failure paths,
live delivery to subscribers, and store failures while events stream."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import (
    ASMError,
    Event,
    EventType,
    RunStatus,
    SessionStatus,
    StorageConnectionFailed,
    StorageError,
    open_store,
)
from agent_session_manager.composite import open_composite_store
from agent_session_manager.core.errors import InvalidTransition
from agent_session_manager.core.models import Run, Session
from agent_session_manager.manager import (
    Call,
    Fail,
    Redactor,
    RunCancelled,
    RunFailed,
    RunTimedOut,
    ScriptedAdapter,
    SessionManager,
    Sleep,
    run_once,
)
from agent_session_manager.sessions.base import SessionStore
from agent_session_manager.sessions.sql import migrations

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "composite"]


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (copying is cheaper than migrating)."""
    path = tmp_path_factory.mktemp("template") / "asm.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, database URL): the PostgreSQL URL comes from the session-wide fixture."""
    if request.param == "memory":
        return "memory", "memory://"
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_url")
    shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "asm.db")
    return request.param, f"sqlite:///{tmp_path}/asm.db"


@pytest.fixture
async def store(backend: tuple[str, str], tmp_path: Path) -> AsyncIterator[SessionStore]:
    kind, url = backend
    if kind == "memory":
        opened: SessionStore = await open_store(url)
    elif kind == "composite":
        opened = await open_composite_store(url, f"file://{tmp_path}/artifacts")
    else:
        opened = await open_store(url, migrate=kind == "postgres")
    async with opened:
        yield opened


SECRET = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"

CHAT = [
    ("run_started", {"model": "claude-sonnet-4-20250514", "provider_session_id": "msg_01"}),
    ("message_streamed", {"content": "Looking "}),
    ("message_streamed", {"content": "it up"}),
    ("tool_call_started", {"tool_call_id": "c1", "tool_name": "search", "tool_input": {"q": "x"}}),
    ("tool_call_completed", {"tool_call_id": "c1", "tool_name": "search", "tool_output": {"hits": 2}}),
    ("message_received", {"role": "assistant", "content": "Found two."}),
    ("token_usage_updated", {"input_tokens": 1000, "output_tokens": 100}),
    ("token_usage_updated", {"input_tokens": 500, "output_tokens": 50, "cache_read_tokens": 2000}),
    ("run_completed", {"stop_reason": "end_turn"}),
]


class ProviderRateLimited(ASMError):
    code = "provider_rate_limited"
    retryable = True


def types(events: list[Event]) -> list[str]:
    return [e.type.value for e in events]


def assert_numbered_in_order(events: list[Event]) -> None:
    numbers = [e.sequence_number for e in events]
    assert all(isinstance(n, int) for n in numbers)
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


async def test_run_once_records_the_whole_lifecycle(store: SessionStore) -> None:
    adapter = ScriptedAdapter(CHAT, name="anthropic")
    result = await run_once(store, adapter, "find it", agent_id="helper", tags=["t"])

    assert result.status is RunStatus.COMPLETED
    assert result.output == {"content": "Found two."}
    assert result.token_usage == {"input_tokens": 1500, "output_tokens": 150, "cache_read_tokens": 2000}
    assert result.cost_usd == pytest.approx((1500 * 3 + 150 * 15 + 2000 * 0.3) / 1e6)
    assert result.persistence_failures == 0 and result.unpersisted_events == []
    stored = await store.get_events(result.session_id)
    assert [e.id for e in result.events] == [e.id for e in stored]
    assert [e.sequence_number for e in stored] == list(range(1, len(stored) + 1))
    assert types(stored) == [
        "session_created",
        "session_started",
        "message_sent",
        *(t for t, _ in CHAT),
        "session_completed",
    ]
    assert stored[2].data == {"role": "user", "content": "find it"}
    assert all(e.run_id == result.run_id for e in stored[2:-1])
    assert all(e.run_id is None for e in (stored[0], stored[1], stored[-1]))

    session = await store.get_session(result.session_id)
    assert session.status is SessionStatus.COMPLETED
    assert session.agent_id == "helper" and session.tags == ["t"]
    assert session.metadata["provider"] == "anthropic"
    assert session.metadata["provider_sessions"] == {
        "anthropic": {"provider_session_id": "msg_01", "model": "claude-sonnet-4-20250514"}
    }
    run = await store.get_run(result.run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.ended_at is not None and run.started_at <= run.ended_at
    assert run.input == {"prompt": "find it"}
    assert run.output == {"content": "Found two."}
    assert run.token_usage == result.token_usage and run.cost_usd == pytest.approx(result.cost_usd)
    assert run.provider == "anthropic"
    assert run.provider_metadata == {
        "provider": "anthropic",
        "provider_session_id": "msg_01",
        "model": "claude-sonnet-4-20250514",
    }
    assert await store.get_active_run(result.session_id) is None


async def test_sequences_are_unique_and_increasing_across_two_runs(store: SessionStore) -> None:
    manager = SessionManager(store)
    adapter = ScriptedAdapter(CHAT)
    session = await manager.start_session("two-runs", adapter=adapter)
    await manager.activate_session(session.id)
    first = await manager.execute_run((await manager.start_run(session.id, "one")).id, adapter)
    second = await manager.execute_run((await manager.start_run(session.id, "two")).id, adapter)
    await manager.complete_session(session.id)

    events = await store.get_events(session.id)
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    assert await store.get_latest_sequence(session.id) == len(events)
    assert_numbered_in_order(first.events)
    assert_numbered_in_order(second.events)
    assert max(e.sequence_number or 0 for e in first.events) < min(
        e.sequence_number or 0 for e in second.events
    )
    assert [e.id for e in events if e.run_id == first.run_id] == [e.id for e in first.events]
    assert [e.id for e in events if e.run_id == second.run_id] == [e.id for e in second.events]
    runs = await store.list_runs(session.id)
    assert [r.status for r in runs.items] == [RunStatus.COMPLETED, RunStatus.COMPLETED]


async def test_adapter_exception_fails_run_and_session(store: SessionStore) -> None:
    adapter = ScriptedAdapter(
        [
            ("run_started", {}),
            ("message_streamed", {"content": "par"}),
            Fail(ProviderRateLimited("slow down")),
        ]
    )
    with pytest.raises(RunFailed) as caught:
        await run_once(store, adapter, "hi")
    result = caught.value.result
    assert isinstance(caught.value.__cause__, ProviderRateLimited)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error["code"] == "provider_rate_limited" and result.error["message"] == "slow down"

    run = await store.get_run(result.run_id)
    assert run.status is RunStatus.FAILED and run.ended_at is not None
    assert run.error == result.error
    events = await store.get_events(result.session_id)
    assert [e.id for e in events] == [e.id for e in result.events]
    assert types(events) == [
        "session_created",
        "session_started",
        "message_sent",
        "run_started",
        "message_streamed",
        "run_failed",
        "session_failed",
    ]
    assert events[-2].data == {"error_code": "provider_rate_limited", "error_message": "slow down"}
    assert events[-1].data["error_code"] == "provider_rate_limited"
    assert events[-1].data["run_id"] == result.run_id
    assert (await store.get_session(result.session_id)).status is SessionStatus.FAILED


async def test_plain_exception_is_a_provider_error(store: SessionStore) -> None:
    adapter = ScriptedAdapter([Fail(ConnectionResetError("peer went away"))])
    with pytest.raises(RunFailed) as caught:
        await run_once(store, adapter, "hi")
    assert caught.value.result.error == {
        "code": "provider_error",
        "message": "peer went away",
        "type": "ConnectionResetError",
    }


async def test_cancelling_the_caller_records_run_cancelled_and_reraises(store: SessionStore) -> None:
    started = asyncio.Event()

    async def signal() -> None:
        started.set()

    adapter = ScriptedAdapter([("run_started", {}), Call(signal), Sleep(30)])
    agent = f"agent-{uuid.uuid4().hex}"  # the PostgreSQL database is shared by the test session
    task = asyncio.create_task(run_once(store, adapter, "long job", agent_id=agent))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [session] = (await store.list_sessions(agent_id=agent)).items
    [run] = (await store.list_runs(session.id)).items
    assert run.status is RunStatus.CANCELLED and run.ended_at is not None
    assert session.status is SessionStatus.CANCELLED
    assert types(await store.get_events(session.id)) == [
        "session_created",
        "session_started",
        "message_sent",
        "run_started",
        "run_cancelled",
        "session_cancelled",
    ]
    assert adapter.cancelled == [run.id]


async def test_cancel_run_from_another_task(store: SessionStore) -> None:
    manager = SessionManager(store)
    started = asyncio.Event()

    async def signal() -> None:
        started.set()

    adapter = ScriptedAdapter([("run_started", {}), Call(signal), Sleep(30)])
    session = await manager.start_session("c", adapter=adapter)
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "go")
    execution = asyncio.create_task(manager.execute_run(run.id, adapter))
    await asyncio.wait_for(started.wait(), 10)

    cancelled = await manager.cancel_run(run.id, reason="user pressed stop")
    assert cancelled.status is RunStatus.CANCELLED and cancelled.ended_at is not None
    with pytest.raises(RunCancelled) as caught:
        await execution
    assert caught.value.result.status is RunStatus.CANCELLED
    last = (await store.get_events(session.id))[-1]
    assert last.type is EventType.RUN_CANCELLED and last.data == {"reason": "user pressed stop"}
    assert (await store.get_session(session.id)).status is SessionStatus.ACTIVE
    assert await manager.cancel_run(run.id) == cancelled


async def test_cancel_run_of_a_run_not_executing_here(store: SessionStore) -> None:
    manager = SessionManager(store)
    adapter = ScriptedAdapter([])
    session = await manager.start_session("c", adapter=adapter)
    run = await manager.start_run(session.id, "never started")
    cancelled = await manager.cancel_run(run.id, adapter)
    assert cancelled.status is RunStatus.CANCELLED and cancelled.ended_at is not None
    assert adapter.cancelled == [run.id]
    events = await store.get_events(session.id, run_id=run.id)
    assert types(events) == ["run_cancelled"]
    with pytest.raises(InvalidTransition):
        await manager.execute_run(run.id, adapter)


async def test_a_run_executes_once_even_when_two_callers_race(store: SessionStore) -> None:
    manager = SessionManager(store)
    session = await manager.start_session("s")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "x")
    outcomes = await asyncio.gather(
        manager.execute_run(run.id, ScriptedAdapter([])),
        manager.execute_run(run.id, ScriptedAdapter([])),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["InvalidTransition", "RunResult"]
    with pytest.raises(InvalidTransition, match="only a pending run"):
        await manager.execute_run(run.id, ScriptedAdapter([]))
    assert len(await store.get_events(session.id, run_id=run.id)) == 2


async def test_time_limit_gives_run_timeout(store: SessionStore) -> None:
    adapter = ScriptedAdapter([("run_started", {}), Sleep(30), ("run_completed", {"stop_reason": "x"})])
    with pytest.raises(RunTimedOut) as caught:
        await run_once(store, adapter, "slow", time_limit=0.2)
    assert caught.value.code == "timeout" and caught.value.retryable
    result = caught.value.result
    run = await store.get_run(result.run_id)
    assert run.status is RunStatus.TIMEOUT and run.ended_at is not None
    assert run.error is not None and run.error["code"] == "timeout"
    events = await store.get_events(result.session_id)
    assert types(events)[-3:] == ["run_started", "run_timeout", "session_failed"]
    assert events[-2].data == {"timeout_seconds": 0.2}
    assert (await store.get_session(result.session_id)).status is SessionStatus.FAILED
    assert adapter.cancelled == [run.id]


async def test_a_subscriber_sees_every_event_of_a_run_live_and_in_order(store: SessionStore) -> None:
    manager = SessionManager(store)
    session = await manager.start_session("live")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "stream please")
    seen: list[Event] = []
    halfway = asyncio.Event()

    async def follow() -> None:
        async with aclosing(store.subscribe(session.id)) as events:
            async for event in events:
                seen.append(event)
                if event.data.get("content") == "it up":
                    halfway.set()
                if event.type is EventType.RUN_COMPLETED:
                    return

    async def until_the_subscriber_saw_the_second_chunk() -> None:
        await asyncio.wait_for(halfway.wait(), 10)

    script: list[Any] = [*CHAT[:3], Call(until_the_subscriber_saw_the_second_chunk), *CHAT[3:]]
    follower = asyncio.create_task(follow())
    result = await manager.execute_run(run.id, ScriptedAdapter(script))
    await asyncio.wait_for(follower, 10)

    assert types(seen) == ["session_created", "session_started", *types(result.events)]
    assert [e.id for e in seen[2:]] == [e.id for e in result.events]
    assert [e.sequence_number for e in seen] == list(range(1, len(seen) + 1))


async def test_redaction_covers_everything_the_manager_stores(store: SessionStore) -> None:
    script = [
        ("message_received", {"role": "assistant", "content": f"your token is {SECRET}"}),
        ("tool_call_completed", {"tool_name": "env", "tool_output": {"env": {"API_KEY": "zz-not-for-logs"}}}),
        Fail(RuntimeError(f"auth failed with password=hunter2 for {SECRET}")),
    ]
    redactor = Redactor(categorized=True)
    with pytest.raises(RunFailed) as caught:
        await run_once(store, ScriptedAdapter(script), f"login with {SECRET}", redactor=redactor)
    result = caught.value.result
    events = await store.get_events(result.session_id)
    run = await store.get_run(result.run_id)
    everything = repr([e.to_dict() for e in events]) + repr(run.to_dict())
    assert SECRET not in everything and "hunter2" not in everything and "zz-not-for-logs" not in everything
    received = next(e for e in events if e.type is EventType.MESSAGE_RECEIVED)
    assert received.data["content"] == "your token is [REDACTED:github_pat]"
    assert received.metadata["_redactions"] == {"count": 1, "categories": {"github_pat": 1}}
    assert run.input == {"prompt": "login with [REDACTED:github_pat]"}
    assert run.error is not None
    assert run.error["message"] == ("auth failed with password=[REDACTED:password] for [REDACTED:github_pat]")
    assert events[-1].type is EventType.SESSION_FAILED and SECRET not in repr(events[-1].data)
    assert run.id == result.run_id and events[0].session_id == result.session_id


class FaultyStore:
    """Fault injection around a real store: `append_event` fails while `failing(event)` says so."""

    def __init__(self, inner: SessionStore, failing: Callable[[Event], bool]) -> None:
        self.inner = inner
        self.failing = failing
        self.fail_flush = False
        self.injected = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def append_event(self, event: Event) -> Event:
        if self.failing(event):
            self.injected += 1
            raise StorageConnectionFailed("injected: connection lost")
        return await self.inner.append_event(event)

    async def flush(self, session: Session, run: Run | None, events: list[Event]) -> list[Event]:
        if self.fail_flush:
            raise StorageError("injected: flush failed")
        return await self.inner.flush(session, run, events)


def streamed_while(flag: dict[str, bool]) -> Callable[[Event], bool]:
    return lambda e: flag["failing"] and e.type is EventType.MESSAGE_STREAMED


async def test_transient_store_failures_are_counted_and_retried(store: SessionStore) -> None:
    flag = {"failing": True}

    async def store_recovers() -> None:
        flag["failing"] = False

    script: list[Any] = [*CHAT[:3], Call(store_recovers), *CHAT[3:]]
    faulty = FaultyStore(store, streamed_while(flag))
    result = await run_once(faulty, ScriptedAdapter(script), "go")  # type: ignore[arg-type]

    assert faulty.injected == 2
    assert result.persistence_failures == 2 and result.unpersisted_events == []
    events = await store.get_events(result.session_id)
    assert [e.id for e in events] == [e.id for e in result.events]
    streamed = [e for e in events if e.type is EventType.MESSAGE_STREAMED]
    assert [e.data["content"] for e in streamed] == ["Looking ", "it up"]
    assert all(e.metadata["_persistence_retried"] is True for e in streamed)
    run_completed = next(e for e in events if e.type is EventType.RUN_COMPLETED)
    assert all((e.sequence_number or 0) > (run_completed.sequence_number or 0) for e in streamed)
    run = await store.get_run(result.run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.metadata["persistence_failures"] == 2 and run.metadata["unpersisted_events"] == 0


async def test_events_the_store_never_takes_are_returned_not_swallowed(store: SessionStore) -> None:
    faulty = FaultyStore(store, streamed_while({"failing": True}))
    result = await run_once(faulty, ScriptedAdapter(CHAT), "go")  # type: ignore[arg-type]

    assert result.persistence_failures == 2
    assert [e.data["content"] for e in result.unpersisted_events] == ["Looking ", "it up"]
    assert all(e.sequence_number is None for e in result.unpersisted_events)
    events = await store.get_events(result.session_id)
    assert EventType.MESSAGE_STREAMED not in {e.type for e in events}
    assert_numbered_in_order(events)
    run = await store.get_run(result.run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.metadata["persistence_failures"] == 2 and run.metadata["unpersisted_events"] == 2


async def test_a_failing_final_write_is_raised(store: SessionStore) -> None:
    flag = {"failing": False}
    faulty = FaultyStore(store, streamed_while(flag))

    async def break_flush() -> None:
        faulty.fail_flush = True

    agent = f"agent-{uuid.uuid4().hex}"
    with pytest.raises(StorageError, match="injected: flush failed"):
        await run_once(faulty, ScriptedAdapter([*CHAT[:2], Call(break_flush)]), "go", agent_id=agent)  # type: ignore[arg-type]
    [session] = (await store.list_sessions(agent_id=agent)).items
    [run] = (await store.list_runs(session.id)).items
    assert run.status is RunStatus.RUNNING  # the store refused the final write; nothing pretends otherwise


async def test_run_once_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/asm.db"
    async with await open_store(url, migrate=True):
        pass
    result = await run_once(url, ScriptedAdapter(CHAT), "hi")
    async with await open_store(url) as reopened:
        run = await reopened.get_run(result.run_id)
        assert run.status is RunStatus.COMPLETED
        assert len(await reopened.get_events(result.session_id)) == len(result.events)
