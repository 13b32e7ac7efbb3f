"""The main job of the README: record a scripted agent session, read it back, print its timeline.

The session is produced the way a real agent produces one: `run_once` with a provider adapter (here a
`ScriptedAdapter` replaying a support conversation), so every event goes through the event pipeline and
is stored live with its sequence number. `record_full_demo` then does what such an agent does with its
result: it drafts the reply as a file in the session's workspace, publishes that file as an artifact of
the run, and saves a snapshot of its state (latest and history, in the Strands layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .composite import CompositeSessionStore
from .core.models import ArtifactRecord, Event, Session
from .manager import ScriptedAdapter, run_once
from .manager.scripted import ScriptStep
from .open import open_workspace_storage
from .pricing import DEFAULT_PRICING, PricingTable, ProviderPricing
from .sessions.base import SessionStore
from .snapshots import Snapshot, SnapshotLocation, SnapshotStorage, new_snapshot_id

PROMPT = "My March invoice was charged twice."
AGENT = "support-bot"
REPLY_PATH = "replies/refund-INV-301.md"
REPLY = (
    b"# Refund request INV-301-dup\n\n"
    b"Customer: acme\n\n"
    b"Invoice INV-301 was charged twice in March. The duplicate charge INV-301-dup has been refunded;\n"
    b"the customer will see it on their statement within 5 business days.\n"
)

#: The built-in prices, with the scripted provider priced like the Anthropic models it imitates, so the
#: demo run gets a cost the way a live one does.
DEMO_PRICING = DEFAULT_PRICING.merged(
    PricingTable(
        providers={"scripted": ProviderPricing(models=DEFAULT_PRICING.providers["anthropic"].models)}
    )
)

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
        store,
        adapter,
        PROMPT,
        pricing=DEMO_PRICING,
        agent_id=AGENT,
        tags=["demo"],
        metadata={"customer": "acme"},
    )
    return await store.get_session(result.session_id), await store.get_events(result.session_id)


@dataclass(frozen=True)
class DemoRecord:
    """Everything the full demo stored."""

    session: Session
    events: list[Event]
    #: The reply drafted in the session's workspace (a local file; the workspace is kept).
    workspace_file: Path
    #: The same reply, published as an artifact of the run.
    artifact: ArtifactRecord
    #: Where the agent's snapshots are, and the id of the history entry saved.
    snapshot: SnapshotLocation
    snapshot_id: str


async def record_full_demo(
    store: CompositeSessionStore, snapshots: SnapshotStorage, workspaces_url: str
) -> DemoRecord:
    """`record_demo`, then a workspace file, an artifact and a snapshot of the agent's state."""
    session, events = await record_demo(store)
    run_id = next(event.run_id for event in events if event.run_id is not None)
    async with await open_workspace_storage(workspaces_url, session.id, keep=True) as workspace:
        await workspace.write(REPLY_PATH, REPLY)
        workspace_file = workspace.local_path() / REPLY_PATH
    artifact = await store.put_artifact(
        session.id,
        f"demo/{session.id}/{REPLY_PATH.rsplit('/', 1)[-1]}",
        REPLY,
        run_id=run_id,
        content_type="text/markdown; charset=utf-8",
        metadata={"workspace_path": REPLY_PATH},
    )
    location = SnapshotLocation(session_id=session.id, scope="agent", scope_id=AGENT)
    state = Snapshot(
        scope="agent",
        data={
            "messages": [
                {"role": "user", "content": PROMPT},
                {"role": "assistant", "content": _reply_text(events)},
            ]
        },
        app_data={"customer": "acme", "run_id": run_id, "artifact": artifact.key},
    )
    snapshot_id = new_snapshot_id()
    await snapshots.save_snapshot(location, snapshot_id, False, state)
    await snapshots.save_snapshot(location, None, True, state)
    return DemoRecord(session, events, workspace_file, artifact, location, snapshot_id)


def _reply_text(events: list[Event]) -> str:
    return next(str(e.data.get("content", "")) for e in events if e.type == "message_received")
