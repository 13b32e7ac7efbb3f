"""agent-session-manager: durable memory for AI agents.

Sessions, runs, an append-only event log with gapless per-session sequence numbers, artifacts, workspaces
and snapshots, on SQLite + local files (no server) or PostgreSQL + S3.

    import agent_session_manager as asm

    async with await asm.open_store("sqlite:///./.asm/asm.db") as store:
        session = await store.save_session(asm.Session(agent_id="support-bot"))
        event = await store.append_event(
            asm.Event(type=asm.EventType.MESSAGE_SENT, session_id=session.id, data={"content": "hi"})
        )
        assert event.sequence_number == 1
"""

from .artifacts.base import ArtifactInfo, ArtifactStore
from .composite import CompositeSessionStore, open_composite_store
from .core.errors import (
    AlreadyExists,
    ASMError,
    ChecksumMismatch,
    ConflictError,
    DependencyNotAvailable,
    InvalidCursor,
    InvalidEventType,
    InvalidStatus,
    InvalidTransition,
    MigrationRequired,
    NotFound,
    RunCancelled,
    RunFailed,
    RunNotFound,
    RunTimedOut,
    SessionNotFound,
    StorageAccessRefused,
    StorageConnectionFailed,
    StorageError,
    Timeout,
    ValidationError,
    error_for_code,
)
from .core.models import Event, EventType, Run, RunStatus, Session, SessionStatus
from .core.pagination import Page
from .maintenance import Maintenance, MaintenanceReport, RetentionPolicy, maintenance_api
from .manager import ProviderAdapter, ScriptedAdapter, SessionManager, run_once
from .open import (
    default_artifacts_url,
    default_database_url,
    open_artifact_store,
    open_snapshot_storage,
    open_store,
    open_workspace_storage,
    register_artifact_backend,
    register_session_backend,
    register_snapshot_backend,
    register_workspace_backend,
)
from .query import QueryAPI, query_api
from .sessions.base import SessionStore
from .sessions.state import State
from .snapshots import Snapshot, SnapshotLocation, SnapshotManifest, SnapshotStorage
from .workspaces import FileRef, WorkspaceStorage

__version__ = "0.1.0"

__all__ = [
    "ASMError",
    "AlreadyExists",
    "ArtifactInfo",
    "ArtifactStore",
    "ChecksumMismatch",
    "CompositeSessionStore",
    "ConflictError",
    "DependencyNotAvailable",
    "Event",
    "EventType",
    "FileRef",
    "InvalidCursor",
    "InvalidEventType",
    "InvalidStatus",
    "InvalidTransition",
    "Maintenance",
    "MaintenanceReport",
    "MigrationRequired",
    "NotFound",
    "Page",
    "ProviderAdapter",
    "QueryAPI",
    "RetentionPolicy",
    "Run",
    "RunCancelled",
    "RunFailed",
    "RunNotFound",
    "RunStatus",
    "RunTimedOut",
    "ScriptedAdapter",
    "Session",
    "SessionManager",
    "SessionNotFound",
    "SessionStatus",
    "SessionStore",
    "Snapshot",
    "SnapshotLocation",
    "SnapshotManifest",
    "SnapshotStorage",
    "State",
    "StorageAccessRefused",
    "StorageConnectionFailed",
    "StorageError",
    "Timeout",
    "ValidationError",
    "WorkspaceStorage",
    "__version__",
    "default_artifacts_url",
    "default_database_url",
    "error_for_code",
    "maintenance_api",
    "open_artifact_store",
    "open_composite_store",
    "open_snapshot_storage",
    "open_store",
    "open_workspace_storage",
    "query_api",
    "register_artifact_backend",
    "register_session_backend",
    "register_snapshot_backend",
    "register_workspace_backend",
    "run_once",
]
