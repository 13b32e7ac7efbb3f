"""Contract suites every backend passes (ours and third parties'), and fixtures for real servers.

Needs the `dev` extra (pytest, pytest-asyncio, hypothesis). See `SessionStoreContract` and
`ArtifactStoreContract`.
"""

from .artifacts import ArtifactStoreContract
from .maintenance import MaintenanceContract
from .query import QueryAPIContract
from .sessions import SessionStoreContract
from .snapshots import SnapshotStorageContract
from .workspaces import WorkspaceStorageContract

__all__ = [
    "ArtifactStoreContract",
    "MaintenanceContract",
    "QueryAPIContract",
    "SessionStoreContract",
    "SnapshotStorageContract",
    "WorkspaceStorageContract",
]
