"""Framework integrations, one optional extra each (`agent-session-manager[langgraph]`, ...).

`langgraph` (extra `[langgraph]`): a LangGraph checkpointer. `strands` (extra `[strands]`): Strands
Agents' `Storage` for snapshots (`ASMStorage`) and its legacy `SessionRepository` (`ASMSessionRepository`).
`pydantic_ai` (extra `[pydantic-ai]`): Pydantic AI's `ConversationStore` (`ASMConversationStore`).
"""
