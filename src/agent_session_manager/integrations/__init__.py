"""Framework integrations, one optional extra each (`agent-session-manager[langgraph]`, ...).

`langgraph` (extra `[langgraph]`): a LangGraph checkpointer. `strands` (extra `[strands]`): Strands
Agents' `Storage` for snapshots (`ASMStorage`) and its legacy `SessionRepository` (`ASMSessionRepository`).
`openai_agents` (extra `[openai-agents]`): the OpenAI Agents SDK's `Session` (`ASMSession`), a tracing
processor recording runs with tokens and cost, and an importer of `SQLiteSession` databases.
`pydantic_ai` (extra `[pydantic-ai]`): Pydantic AI's `ConversationStore` (`ASMConversationStore`).
"""
