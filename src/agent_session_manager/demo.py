"""The main job of the README: record a scripted agent conversation, read it back, print its timeline.

The session is produced the way a real agent produces one: `run_once` with a provider adapter (here a
`ScriptedAdapter` replaying a support conversation), so every event goes through the event pipeline and
is stored live with its sequence number.
"""

from __future__ import annotations

from .core.models import Event, Session
from .manager import ScriptedAdapter, run_once
from .manager.scripted import ScriptStep
from .sessions.base import SessionStore

PROMPT = "My March invoice was charged twice."

#: What the provider streams for one support question: the adapter's side of a real run.
SCRIPT: list[ScriptStep] = [
    ("run_started", {"model": "claude-sonnet-4"}),
    ("message_streamed", {"content": "Let me look up your invoices"}),
    (
        "tool_call_started",
        {"tool_call_id": "call_1", "tool_name": "billing.list_invoices", "tool_input": {"month": 3}},
    ),
    (
        "tool_call_completed",
        {
            "tool_call_id": "call_1",
            "tool_name": "billing.list_invoices",
            "tool_output": {"invoices": ["INV-301", "INV-301-dup"]},
        },
    ),
    (
        "message_received",
        {
            "role": "assistant",
            "content": "I found a duplicate charge (INV-301-dup) and have requested a refund.",
        },
    ),
    ("token_usage_updated", {"input_tokens": 812, "output_tokens": 96}),
    ("turn_completed", {"turn": 1}),
    ("run_completed", {"stop_reason": "end_turn"}),
]


async def record_demo(store: SessionStore) -> tuple[Session, list[Event]]:
    """Run the scripted conversation through `run_once` on `store`; return the session and its events."""
    adapter = ScriptedAdapter(SCRIPT, delay=0.02)
    result = await run_once(
        store, adapter, PROMPT, agent_id="support-bot", tags=["demo"], metadata={"customer": "acme"}
    )
    return await store.get_session(result.session_id), await store.get_events(result.session_id)


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
