"""One URL opens any backend: `open_store(url)` for sessions, `open_artifact_store(url)` for blobs,
`open_workspace_storage(url, session_id)` for workspaces, `open_snapshot_storage(url)` for snapshots.

Schemes map to backend classes by import path, so a backend's dependencies load only when its scheme is
used; a missing optional dependency raises `dependency_not_available` naming the extra to install.
Third parties add schemes with `register_session_backend` / `register_artifact_backend`. Each backend
class has `async from_url(url, **options)` returning a connected store.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .artifacts.base import ArtifactStore
from .core.errors import DependencyNotAvailable, ValidationError
from .core.urls import redact_url, scheme_of
from .sessions.base import SessionStore
from .snapshots.base import SnapshotStorage
from .workspaces.base import WorkspaceStorage

DEFAULT_DATABASE_URL = "sqlite:///./.asm/asm.db"
DEFAULT_ARTIFACTS_URL = "file://./.asm/artifacts"

_SESSION_BACKENDS: dict[str, tuple[str, str]] = {
    "memory": ("agent_session_manager.sessions.memory:InMemorySessionStore", ""),
    "sqlite": ("agent_session_manager.sessions.sql.sqlite:SQLiteSessionStore", ""),
    "postgresql": ("agent_session_manager.sessions.sql.postgres:PostgresSessionStore", "postgres"),
    "postgres": ("agent_session_manager.sessions.sql.postgres:PostgresSessionStore", "postgres"),
}
_ARTIFACT_BACKENDS: dict[str, tuple[str, str]] = {
    "memory": ("agent_session_manager.artifacts.memory:InMemoryArtifactStore", ""),
    "file": ("agent_session_manager.artifacts.file:FileArtifactStore", ""),
    "s3": ("agent_session_manager.artifacts.s3:S3ArtifactStore", "s3"),
}


def register_session_backend(scheme: str, target: str, extra: str = "") -> None:
    """Make `open_store` open `scheme://...` URLs with the class at `target` ("module:Class")."""
    _SESSION_BACKENDS[scheme.lower()] = (target, extra)


def register_artifact_backend(scheme: str, target: str, extra: str = "") -> None:
    """Make `open_artifact_store` open `scheme://...` URLs with the class at `target`."""
    _ARTIFACT_BACKENDS[scheme.lower()] = (target, extra)


def default_database_url() -> str:
    """`ASM_DATABASE_URL`, else the embedded default `sqlite:///./.asm/asm.db`."""
    return os.environ.get("ASM_DATABASE_URL") or DEFAULT_DATABASE_URL


def default_artifacts_url() -> str:
    """`ASM_ARTIFACTS_URL`, else the embedded default `file://./.asm/artifacts`."""
    return os.environ.get("ASM_ARTIFACTS_URL") or DEFAULT_ARTIFACTS_URL


def resolve_backend(url: str, registry: dict[str, tuple[str, str]], kind: str) -> Any:
    """The backend class registered for `url`'s scheme."""
    scheme = scheme_of(url)
    if scheme not in registry:
        supported = ", ".join(f"{s}://" for s in sorted(registry))
        raise ValidationError(
            f"unsupported {kind} URL scheme {scheme!r} in {redact_url(url)}; supported: {supported}",
            details={"scheme": scheme, "supported": sorted(registry)},
        )
    target, extra = registry[scheme]
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = f"pip install 'agent-session-manager[{extra}]'" if extra else "reinstall the package"
        raise DependencyNotAvailable(
            f"the {scheme}:// backend needs {exc.name!r}: {hint}",
            details={"dependency": exc.name, "scheme": scheme},
        ) from exc
    return getattr(module, attr)


async def open_store(url: str | None = None, **options: Any) -> SessionStore:
    """Open and connect the session store at `url` (default: `default_database_url()`).

    Args:
        url: `memory://`, `sqlite:///path/to/asm.db`, `postgresql://user@host/db`, or a scheme added
            with `register_session_backend`.
        **options: the backend's options (e.g. `migrate=True` for the SQL stores; `pool=` for PostgreSQL).

    Returns:
        The connected store, an async context manager: `async with await open_store(url) as store: ...`.

    Raises:
        ValidationError: an unsupported scheme, a malformed URL or an unknown option.
        DependencyNotAvailable: the scheme's optional dependency is not installed (names the extra).
        MigrationRequired: a SQL database without the current schema (open with `migrate=True`).
        StorageConnectionFailed: the database could not be reached (retryable).
        StorageAccessRefused: the server refused the role, its password or the database (not retryable).

    Example:
        >>> async with await open_store("sqlite:///./.asm/asm.db", migrate=True) as store:  # doctest: +SKIP
        ...     session = await store.save_session(Session(agent_id="support-bot"))
    """
    url = url or default_database_url()
    backend = resolve_backend(url, _SESSION_BACKENDS, "session store")
    store: SessionStore = await backend.from_url(url, **options)
    return store


async def open_artifact_store(url: str | None = None, **options: Any) -> ArtifactStore:
    """Open the artifact store at `url` (default: `default_artifacts_url()`)."""
    url = url or default_artifacts_url()
    backend = resolve_backend(url, _ARTIFACT_BACKENDS, "artifact store")
    store: ArtifactStore = await backend.from_url(url, **options)
    return store


# -- workspaces and snapshots ---------------------------------------------------------------------

DEFAULT_WORKSPACES_URL = "file://"
DEFAULT_SNAPSHOTS_URL = "file://./.asm/snapshots"

_WORKSPACE_BACKENDS: dict[str, tuple[str, str]] = {
    "file": ("agent_session_manager.workspaces.local:LocalWorkspaceStorage", ""),
    "s3": ("agent_session_manager.workspaces.s3:S3WorkspaceStorage", "s3"),
    "tigris": ("agent_session_manager.workspaces.tigris:TigrisWorkspaceStorage", "s3"),
}
_SNAPSHOT_BACKENDS: dict[str, tuple[str, str]] = {
    "file": ("agent_session_manager.snapshots.file:FileSnapshotStorage", ""),
    "s3": ("agent_session_manager.snapshots.s3:S3SnapshotStorage", "s3"),
}


def register_workspace_backend(scheme: str, target: str, extra: str = "") -> None:
    """Make `open_workspace_storage` open `scheme://...` URLs with the class at `target`."""
    _WORKSPACE_BACKENDS[scheme.lower()] = (target, extra)


def register_snapshot_backend(scheme: str, target: str, extra: str = "") -> None:
    """Make `open_snapshot_storage` open `scheme://...` URLs with the class at `target`."""
    _SNAPSHOT_BACKENDS[scheme.lower()] = (target, extra)


async def open_workspace_storage(
    url: str | None = None, session_id: str | None = None, **options: Any
) -> WorkspaceStorage:
    """The workspace of `session_id` (a new id when None) at `url`: `file:///base` (`file://` = the
    system temp dir), `s3://bucket/prefix?endpoint=...`, `tigris://bucket/prefix`. Default:
    `ASM_WORKSPACES_URL`, else a temporary local workspace. Options go to the backend's `init`."""
    url = url or os.environ.get("ASM_WORKSPACES_URL") or DEFAULT_WORKSPACES_URL
    backend = resolve_backend(url, _WORKSPACE_BACKENDS, "workspace storage")
    workspace: WorkspaceStorage = await backend.from_url(url, session_id, **options)
    return workspace


async def open_snapshot_storage(url: str | None = None, **options: Any) -> SnapshotStorage:
    """Snapshot storage at `url`: `file:///dir` or `s3://bucket/prefix?endpoint=...`. Default:
    `ASM_SNAPSHOTS_URL`, else `file://./.asm/snapshots`. `format="python"` writes the Python Strands
    SDK's snake_case documents (default `"typescript"`; both are read), `namespace="session"` the
    newer SDKs' `session/<session_id>/...` layout (`snapshots.dialects`)."""
    url = url or os.environ.get("ASM_SNAPSHOTS_URL") or DEFAULT_SNAPSHOTS_URL
    backend = resolve_backend(url, _SNAPSHOT_BACKENDS, "snapshot storage")
    storage: SnapshotStorage = await backend.from_url(url, **options)
    return storage
