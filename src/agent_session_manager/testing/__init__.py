"""Contract suites every backend passes (ours and third parties'), and fixtures for real servers.

Needs the `dev` extra (pytest, pytest-asyncio, hypothesis). See `SessionStoreContract` and
`ArtifactStoreContract`; `register_backend` records a backend's documented divergences (`registry`).
"""

from .artifacts import ArtifactStoreContract
from .maintenance import MaintenanceContract
from .query import QueryAPIContract
from .registry import Backend, Contract, backends, register_backend
from .sessions import SessionStoreContract
from .snapshots import SnapshotStorageContract
from .workspaces import WorkspaceStorageContract

__all__ = [
    "ArtifactStoreContract",
    "Backend",
    "Contract",
    "MaintenanceContract",
    "QueryAPIContract",
    "SessionStoreContract",
    "SnapshotStorageContract",
    "WorkspaceStorageContract",
    "backends",
    "register_backend",
]
