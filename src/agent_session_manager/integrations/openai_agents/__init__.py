"""The OpenAI Agents SDK on agent-session-manager (extra `[openai-agents]`, `openai-agents==0.24.0`).

* `ASMSession`: the SDK's `Session` protocol on any of our stores (`items` says how items are stored).
* `ASMTracingProcessor`: each SDK run recorded as one of our runs, with model, tokens, tool calls, cost.
* `import_sqlite_sessions`: every session of a `SQLiteSession` database into one of our stores (also
  `asm import --from openai-sqlite:///path`).
"""

from __future__ import annotations

from ...core.errors import DependencyNotAvailable

try:
    import agents  # noqa: F401
except ModuleNotFoundError as exc:
    raise DependencyNotAvailable(
        f"the OpenAI Agents SDK integration needs {exc.name!r}: "
        "pip install 'agent-session-manager[openai-agents]'",
        details={"dependency": exc.name},
    ) from exc

from .importer import ImportedSession, import_sqlite_sessions
from .items import asm_session_id, event_type_of, item_event, item_of
from .session import ASMSession
from .tracing import ASMTracingProcessor

__all__ = [
    "ASMSession",
    "ASMTracingProcessor",
    "ImportedSession",
    "asm_session_id",
    "event_type_of",
    "import_sqlite_sessions",
    "item_event",
    "item_of",
]
