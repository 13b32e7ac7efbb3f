pytest_plugins = ["agent_session_manager.testing.fixtures"]
