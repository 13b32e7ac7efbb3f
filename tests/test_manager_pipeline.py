"""The event pipeline and the manager's rules that do not depend on the backend (run on the memory store):
unknown types, shape warnings, redaction of what is stored, cost, callbacks, and input validation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from agent_session_manager import (
    Event,
    EventType,
    InvalidEventType,
    InvalidTransition,
    RunStatus,
    SessionStore,
    ValidationError,
    open_store,
)
from agent_session_manager.manager import (
    AdapterResult,
    Call,
    EventContext,
    EventPipeline,
    Fail,
    Redactor,
    RunContext,
    RunFailed,
    ScriptedAdapter,
    SessionManager,
    run_once,
    shape_warnings,
)
from agent_session_manager.pricing import PricingTable, ProviderPricing, Rates

SECRET = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"


class Bare:
    """The smallest adapter: completes at once with nothing to say. Tests override `execute`."""

    name = "bare"

    async def execute(self, ctx: RunContext) -> AdapterResult:
        return AdapterResult()

    async def cancel(self, run_id: str) -> None:
        return None


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with await open_store("memory://") as opened:
        yield opened


def test_shape_rules_warn_per_type() -> None:
    assert shape_warnings(EventType.MESSAGE_RECEIVED, {"content": "hi", "role": "assistant"}) == []
    assert shape_warnings(EventType.MESSAGE_RECEIVED, {"content": 3}) == [
        "message_received: data.content should be a string",
        "message_received: data.role is missing",
    ]
    assert shape_warnings(EventType.TOKEN_USAGE_UPDATED, {"input_tokens": -1, "output_tokens": True}) == [
        "token_usage_updated: data.input_tokens should be a non-negative integer",
        "token_usage_updated: data.output_tokens should be a non-negative integer",
    ]
    assert shape_warnings(EventType.TOOL_CALL_FAILED, {}) == ["tool_call_failed: data.tool_name is missing"]
    assert shape_warnings(EventType.RUN_COMPLETED, {"stop_reason": None}) == []
    assert shape_warnings(EventType.POLICY_VIOLATION, {"policy": "p"}) == [
        "policy_violation: data.kind is missing"
    ]
    assert shape_warnings(EventType.TURN_COMPLETED, {}) == []


async def test_shape_warnings_are_stored_in_metadata_and_the_event_kept(store: SessionStore) -> None:
    adapter = ScriptedAdapter([("message_received", {"content": "no role"}), ("tool_call_started", {})])
    result = await run_once(store, adapter, "hi")
    received, tool = [e for e in result.events if e.type in {"message_received", "tool_call_started"}]
    assert received.metadata["_validation_warnings"] == ["message_received: data.role is missing"]
    assert received.data == {"content": "no role"}
    assert tool.metadata["_validation_warnings"] == ["tool_call_started: data.tool_name is missing"]
    clean = [e for e in result.events if e.type is EventType.MESSAGE_SENT]
    assert "_validation_warnings" not in clean[0].metadata


async def test_unknown_types_are_recorded_with_the_original_type_by_default(store: SessionStore) -> None:
    adapter = ScriptedAdapter(
        [("thinking_delta", {"text": "hmm"}), ("message_received", {"role": "a", "content": "x"})]
    )
    result = await run_once(store, adapter, "hi")
    [recorded] = [e for e in await store.get_events(result.session_id) if e.type is EventType.ERROR_OCCURRED]
    assert recorded.data["original_type"] == "thinking_delta"
    assert recorded.data["original_data"] == {"text": "hmm"}
    assert recorded.data["error_code"] == "invalid_event_type"
    assert recorded.metadata["_validation_warnings"] == [
        "unknown event type 'thinking_delta' recorded as error_occurred"
    ]
    assert result.status is RunStatus.COMPLETED


async def test_namespaced_types_pass_through_the_pipeline_unchanged(store: SessionStore) -> None:
    adapter = ScriptedAdapter(
        [("langgraph.checkpoint", {"id": "c1"}), ("message_received", {"role": "a", "content": "x"})]
    )
    result = await run_once(store, adapter, "hi", unknown_types="reject")
    [checkpoint] = [e for e in await store.get_events(result.session_id) if e.type == "langgraph.checkpoint"]
    assert checkpoint.data == {"id": "c1"}
    assert "_validation_warnings" not in checkpoint.metadata
    assert result.status is RunStatus.COMPLETED


async def test_unknown_types_can_be_rejected(store: SessionStore) -> None:
    adapter = ScriptedAdapter([("thinking_delta", {"text": "hmm"})])
    with pytest.raises(RunFailed) as caught:
        await run_once(store, adapter, "hi", unknown_types="reject")
    assert isinstance(caught.value.__cause__, InvalidEventType)
    assert caught.value.result.error is not None
    assert caught.value.result.error["code"] == "invalid_event_type"
    assert EventType.ERROR_OCCURRED not in {e.type for e in caught.value.result.events}


async def test_malformed_events_fail_the_run_with_validation_error(store: SessionStore) -> None:
    for bad in (
        ScriptedAdapter([("message_streamed", {"content": float("nan")})]),
        ScriptedAdapter([("message_streamed", {"content": "\x00"})]),
    ):
        with pytest.raises(RunFailed) as caught:
            await run_once(store, bad, "hi")
        assert caught.value.result.error is not None
        assert caught.value.result.error["code"] == "validation_error"

    class ListData(Bare):
        async def execute(self, ctx: RunContext) -> AdapterResult:
            await ctx.emit("message_streamed", ["not", "a", "dict"])  # type: ignore[arg-type]
            return AdapterResult()

    with pytest.raises(RunFailed) as caught:
        await run_once(store, ListData(), "hi")
    assert caught.value.result.error is not None
    assert "must be a JSON object" in caught.value.result.error["message"]


async def test_adapter_timestamps_are_kept_and_naive_ones_refused(store: SessionStore) -> None:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    class Timed(Bare):
        def __init__(self, stamp: datetime) -> None:
            self.stamp = stamp

        async def execute(self, ctx: RunContext) -> AdapterResult:
            await ctx.emit("message_streamed", {"content": "x"}, timestamp=self.stamp)
            return AdapterResult()

    result = await run_once(store, Timed(when), "hi")
    [streamed] = [e for e in result.events if e.type is EventType.MESSAGE_STREAMED]
    assert streamed.timestamp == when
    with pytest.raises(RunFailed):
        await run_once(store, Timed(datetime(2026, 3, 1, 12, 0)), "hi")


async def test_the_pipeline_owns_its_reserved_metadata_keys(store: SessionStore) -> None:
    session = await SessionManager(store).start_session("p")
    pipeline = EventPipeline(store)
    built = pipeline.build(
        "message_sent",
        {"role": "user", "content": "x"},
        EventContext(session_id=session.id, correlation_id="corr-1"),
        metadata={"_validation_warnings": ["forged"], "_redactions": {"count": 0}, "mine": 1},
    )
    assert built.sequence_number is None
    event = await pipeline.persist(built)
    assert event.metadata == {"mine": 1}
    assert event.sequence_number == 2 and event.correlation_id == "corr-1"
    with pytest.raises(ValidationError):
        EventPipeline(store, unknown_types="coerce")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        pipeline.build(7, {}, EventContext(session_id=session.id))  # type: ignore[arg-type]


async def test_redaction_is_off_by_default_and_result_output_is_raw(store: SessionStore) -> None:
    adapter = ScriptedAdapter([("message_received", {"role": "assistant", "content": SECRET})])
    plain = await run_once(store, adapter, "hi")
    assert any(e.data.get("content") == SECRET for e in plain.events)
    redacted = await run_once(store, adapter, "hi", redactor=Redactor())
    assert redacted.output == {"content": SECRET}
    assert (await store.get_run(redacted.run_id)).output == {"content": "[REDACTED]"}


TABLE = PricingTable(providers={"acme": ProviderPricing(default=Rates(input=0.01, output=0.02))})
USAGE = ("token_usage_updated", {"input_tokens": 100, "output_tokens": 10})


async def test_cost_prefers_the_adapter_result_then_run_completed_then_the_table(store: SessionStore) -> None:
    reported = ScriptedAdapter([USAGE], name="acme", result=AdapterResult(cost_usd=0.5))
    assert (await run_once(store, reported, "x", pricing=TABLE)).cost_usd == 0.5
    from_event = ScriptedAdapter(
        [USAGE, ("run_completed", {"stop_reason": "e", "total_cost_usd": 0.25})], name="acme"
    )
    assert (await run_once(store, from_event, "x", pricing=TABLE)).cost_usd == 0.25
    priced = ScriptedAdapter([USAGE], name="acme")
    assert (await run_once(store, priced, "x", pricing=TABLE)).cost_usd == pytest.approx(1.2)
    assert (await run_once(store, priced, "x", pricing=None)).cost_usd is None
    unknown = ScriptedAdapter([USAGE], name="nobody")
    assert (await run_once(store, unknown, "x", pricing=TABLE)).cost_usd is None


async def test_a_failed_run_is_still_priced(store: SessionStore) -> None:
    adapter = ScriptedAdapter([USAGE, Fail(RuntimeError("x"))], name="acme")
    with pytest.raises(RunFailed) as caught:
        await run_once(store, adapter, "x", pricing=TABLE)
    assert caught.value.result.cost_usd == pytest.approx(1.2)
    assert (await store.get_run(caught.value.result.run_id)).cost_usd == pytest.approx(1.2)


async def test_reported_totals_replace_the_sum_of_usage_events(store: SessionStore) -> None:
    totals = AdapterResult(
        token_usage={"input_tokens": 7, "output_tokens": 3}, model="m-1", stop_reason="done"
    )
    result = await run_once(store, ScriptedAdapter([USAGE, USAGE], result=totals), "x")
    assert result.token_usage == {"input_tokens": 7, "output_tokens": 3}
    assert result.model == "m-1"
    [completed] = [e for e in result.events if e.type is EventType.RUN_COMPLETED]
    assert completed.data == {"stop_reason": "done"}
    summed = await run_once(store, ScriptedAdapter([USAGE, USAGE]), "x")
    assert summed.token_usage == {"input_tokens": 200, "output_tokens": 20}


async def test_bad_adapter_results_are_refused(store: SessionStore) -> None:
    with pytest.raises(ValidationError):
        AdapterResult(cost_usd=-1)
    with pytest.raises(ValidationError):
        AdapterResult(output={"x": float("inf")})

    class Sloppy(Bare):
        async def execute(self, ctx: RunContext) -> Any:
            return {"output": "text"}

    with pytest.raises(RunFailed) as caught:
        await run_once(store, Sloppy(), "x")
    assert caught.value.result.error is not None
    assert "must return an AdapterResult" in caught.value.result.error["message"]


async def test_event_callback_sees_each_live_event_in_order(store: SessionStore) -> None:
    seen: list[Event] = []

    async def on_event(event: Event) -> None:
        seen.append(event)

    script = [
        ("run_started", {}),
        ("message_streamed", {"content": "a"}),
        ("run_completed", {"stop_reason": "e"}),
    ]
    result = await run_once(store, ScriptedAdapter(script), "x", event_callback=on_event)
    assert [e.type.value for e in seen] == [
        "message_sent",
        "run_started",
        "message_streamed",
        "run_completed",
    ]
    assert [e.id for e in seen] == [e.id for e in result.events if e.run_id]
    sync_seen: list[str] = []
    await run_once(store, ScriptedAdapter(script), "x", event_callback=lambda e: sync_seen.append(e.type))
    assert len(sync_seen) == 4


async def test_emitting_after_the_run_ended_is_refused(store: SessionStore) -> None:
    kept: list[RunContext] = []

    class Leaky(Bare):
        async def execute(self, ctx: RunContext) -> AdapterResult:
            kept.append(ctx)
            return AdapterResult()

    await run_once(store, Leaky(), "x")
    with pytest.raises(ValidationError, match="has ended"):
        await kept[0].emit("message_streamed", {"content": "late"})


async def test_input_messages_become_message_sent_events(store: SessionStore) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    seen: list[list[dict[str, Any]]] = []

    class Echo(Bare):
        async def execute(self, ctx: RunContext) -> AdapterResult:
            seen.append(ctx.messages)
            return AdapterResult(output={"n": len(ctx.messages)})

    result = await run_once(store, Echo(), {"messages": messages, "temperature": 0})
    sent = [e.data for e in result.events if e.type is EventType.MESSAGE_SENT]
    assert sent == messages and seen == [messages]
    assert result.output == {"n": 2}


@pytest.mark.parametrize(
    "bad_input",
    [{"messages": "hi"}, {"messages": [{"content": "no role"}]}, {"prompt": 3}, {"x": float("nan")}, ["hi"]],
)
async def test_bad_input_is_refused_before_anything_is_written(store: SessionStore, bad_input: Any) -> None:
    with pytest.raises(ValidationError):
        await run_once(store, ScriptedAdapter([]), bad_input)
    assert (await store.list_sessions()).items == []


async def test_bad_arguments_are_refused_before_anything_is_written(store: SessionStore) -> None:
    class NoName(Bare):
        name = ""

    class SyncExecute(Bare):
        def execute(self, ctx: RunContext) -> AdapterResult:  # type: ignore[override]
            return AdapterResult()

    for adapter in (NoName(), SyncExecute(), object()):
        with pytest.raises(ValidationError, match="not a ProviderAdapter"):
            await run_once(store, adapter, "x")  # type: ignore[arg-type]
    for limit in (0, -1, float("nan"), "5"):
        with pytest.raises(ValidationError, match="time_limit"):
            await run_once(store, ScriptedAdapter([]), "x", time_limit=limit)
    with pytest.raises(ValidationError, match="not an async SessionStore"):
        SessionManager(object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SessionManager(store, pricing={"acme": {}})  # type: ignore[arg-type]
    assert (await store.list_sessions()).items == []


async def test_runs_cannot_start_in_an_ended_session(store: SessionStore) -> None:
    manager = SessionManager(store)
    session = await manager.start_session("s")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "x")
    await manager.complete_session(session.id)
    with pytest.raises(InvalidTransition):
        await manager.start_run(session.id, "y")
    with pytest.raises(InvalidTransition):
        await manager.execute_run(run.id, ScriptedAdapter([]))
    assert (await store.get_run(run.id)).status is RunStatus.PENDING


async def test_session_lifecycle_events_and_fail_session(store: SessionStore) -> None:
    manager = SessionManager(store)
    adapter = ScriptedAdapter([])
    session = await manager.start_session(
        "s", adapter=adapter, metadata={"correlation_id": "req-9"}, context={"system": "x"}, tags=["a"]
    )
    assert session.metadata == {"correlation_id": "req-9", "provider": "scripted"}
    await manager.activate_session(session.id)
    failed = await manager.fail_session(session.id, {"code": "policy_violation", "message": "no"})
    assert failed.status == "failed"
    events = await store.get_events(session.id)
    assert [e.type.value for e in events] == ["session_created", "session_started", "session_failed"]
    assert events[0].data == {"agent_id": "s", "provider": "scripted"}
    assert events[-1].data == {"error_code": "policy_violation", "error_message": "no"}
    assert {e.correlation_id for e in events} == {"req-9"}
    assert {e.provider for e in events} == {"scripted"}
    with pytest.raises(InvalidTransition):
        await manager.complete_session(session.id)
    assert len(await store.get_events(session.id)) == 3


async def test_an_adapters_own_timeout_error_is_a_failure_not_a_time_limit(store: SessionStore) -> None:
    adapter = ScriptedAdapter([Fail(TimeoutError("upstream read timed out"))])
    with pytest.raises(RunFailed) as caught:
        await run_once(store, adapter, "x", time_limit=30)
    assert caught.value.result.status is RunStatus.FAILED


async def test_run_started_at_is_when_execution_starts(store: SessionStore) -> None:
    manager = SessionManager(store)
    session = await manager.start_session("s")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "x")
    moment: list[datetime] = []

    async def mark() -> None:
        moment.append(datetime.now(UTC))

    result = await manager.execute_run(run.id, ScriptedAdapter([Call(mark)]))
    executed = await store.get_run(result.run_id)
    assert run.started_at < executed.started_at <= moment[0]
