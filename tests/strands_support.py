"""Test support for the Strands integration: a scripted Strands model (no network) and a fresh-process
restore (`python tests/strands_support.py snapshot|repository URL SESSION_ID` prints the restored
agent's messages and state as JSON; `strands-s3 BUCKET SESSION_ID PREFIX` restores with Strands' own
`S3Storage`, the endpoint and keys coming from the AWS variables)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

from strands import Agent, tool
from strands.models.model import Model
from strands.session import SnapshotSessionManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.storage import S3Storage

from agent_session_manager import sync
from agent_session_manager.integrations.strands import ASMSessionRepository, ASMStorage


class ScriptedModel(Model):
    """A Strands model that replays replies: `{"text": ...}` or `{"tool": (tool_use_id, name, input)}`."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        self.replies = list(replies)
        self.config: dict[str, Any] = {"model_id": "scripted"}

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return self.config

    def structured_output(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        raise NotImplementedError

    async def stream(self, messages: Any, *args: Any, **kwargs: Any) -> AsyncIterable[Any]:
        reply = self.replies.pop(0)
        yield {"messageStart": {"role": "assistant"}}
        if "tool" in reply:
            call_id, name, arguments = reply["tool"]
            yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": call_id, "name": name}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(arguments)}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        else:
            yield {"contentBlockDelta": {"delta": {"text": reply["text"]}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}
        yield {
            "metadata": {
                "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17},
                "metrics": {"latencyMs": 1},
            }
        }


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


#: One question answered with a tool call: four messages.
ADDITION = [{"tool": ("t1", "add", {"a": 2, "b": 3})}, {"text": "2 + 3 = 5"}]


def agent(session_manager: Any, replies: list[dict[str, Any]] | None = None) -> Agent:
    return Agent(
        agent_id="agent",
        model=ScriptedModel(replies or []),
        tools=[add],
        session_manager=session_manager,
        callback_handler=None,
    )


def main() -> None:
    kind, url, session_id = sys.argv[1:4]
    if kind == "strands-s3":
        storage = S3Storage(url, prefix=sys.argv[4])
        restored = agent(SnapshotSessionManager(session_id, storage=storage))
    elif kind == "snapshot":
        fmt = sys.argv[4] if len(sys.argv) > 4 else "python"
        store = sync.portal().open_artifact_store(url, foreign=True) if url.startswith("s3") else url
        restored = agent(SnapshotSessionManager(session_id, storage=ASMStorage(store, format=fmt)))
    else:
        restored = agent(RepositorySessionManager(session_id, session_repository=ASMSessionRepository(url)))
    print(json.dumps({"messages": restored.messages, "state": restored.state.get()}))


if __name__ == "__main__":
    main()
