"""Contract suites every backend passes (ours and third parties'), and fixtures for real servers.

Needs the `dev` extra (pytest, pytest-asyncio, hypothesis). See `SessionStoreContract`.
"""

from .sessions import SessionStoreContract

__all__ = ["SessionStoreContract"]
