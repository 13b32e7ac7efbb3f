"""The main job of the README: record a scripted agent conversation, read it back, print its timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .core.clock import utc_now
from .core.models import Event, EventType, Run, RunStatus, Session, SessionStatus
from .sessions.base import SessionStore

#: A small support conversation: what a real agent run writes to its log.
SCRIPT: list[tuple[EventType, dict[str, Any]]] = [
    (EventType.SESSION_CREATED, {"agent_id": "support-bot"}),
    (EventType.SESSION_STARTED, {}),
    (EventType.RUN_STARTED, {"model": "claude-sonnet-4"}),
    (EventType.MESSAGE_SENT, {"role": "user", "content": "My March invoice was charged twice."}),
    (EventType.MESSAGE_STREAMED, {"content": "Let me look up your invoices"}),
    (
        EventType.TOOL_CALL_STARTED,
        {
            "tool_call_id": "call_1",
            "tool_name": "billing.list_invoices",
            "tool_input": {"month": 3},
        },
    ),
    (
        EventType.TOOL_CALL_COMPLETED,
        {
            "tool_call_id": "call_1",
            "tool_name": "billing.list_invoices",
            "tool_output": {"invoices": ["INV-301", "INV-301-dup"]},
        },
    ),
    (
        EventType.MESSAGE_RECEIVED,
        {
            "role": "assistant",
            "content": "I found a duplicate charge (INV-301-dup) and have requested a refund.",
        },
    ),
    (EventType.TOKEN_USAGE_UPDATED, {"input_tokens": 812, "output_tokens": 96}),
    (EventType.TURN_COMPLETED, {"turn": 1}),
    (EventType.RUN_COMPLETED, {"stop_reason": "end_turn"}),
    (EventType.SESSION_COMPLETED, {}),
]


async def record_demo(store: SessionStore) -> tuple[Session, list[Event]]:
    """Write the scripted session to `store` and return it with its stored events."""
    session = await store.save_session(
        Session(agent_id="support-bot", tags=["demo"], metadata={"customer": "acme"})
    )
    session = await store.save_session(session.with_status(SessionStatus.ACTIVE))
    run = await store.save_run(
        Run(session_id=session.id, input={"prompt": SCRIPT[3][1]["content"]}, provider="scripted")
    )
    run = await store.save_run(run.with_status(RunStatus.RUNNING))
    start = utc_now()
    for offset, (kind, data) in enumerate(SCRIPT):
        run_id = run.id if kind.value.startswith(("run_", "message_", "tool_", "token_", "turn_")) else None
        await store.append_event(
            Event(
                type=kind,
                session_id=session.id,
                run_id=run_id,
                data=data,
                provider="scripted" if run_id else None,
                timestamp=start + timedelta(milliseconds=150 * offset),
            )
        )
    run = run.add_token_usage({"input_tokens": 812, "output_tokens": 96, "total_tokens": 908})
    done = run.complete({"content": SCRIPT[7][1]["content"]})
    await store.flush(session.with_status(SessionStatus.COMPLETED), done, [])
    return await store.get_session(session.id), await store.get_events(session.id)


def summarize(event: Event) -> str:
    """One short line for the timeline: the most telling field of the event's data."""
    data = event.data
    for key in ("content", "tool_name", "stop_reason", "model", "agent_id"):
        if key in data:
            text = str(data[key])
            if key == "tool_name" and "tool_output" in data:
                text += f" -> {data['tool_output']}"
            return text if len(text) <= 70 else text[:67] + "..."
    if "input_tokens" in data:
        return f"in={data['input_tokens']} out={data['output_tokens']}"
    return ", ".join(f"{k}={v}" for k, v in data.items())
