"""LangGraph on agent-session-manager: `ASMSaver` (a checkpointer) and `ASMStore` (a long-term store).

Install with `pip install 'agent-session-manager[langgraph]'`. See `layout` for how threads are stored.
"""

from .saver import ASMSaver
from .store import ASMStore

__all__ = ["ASMSaver", "ASMStore"]
