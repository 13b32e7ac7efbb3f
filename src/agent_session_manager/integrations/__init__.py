"""Framework integrations, one optional extra each (`agent-session-manager[langgraph]`, ...)."""
