"""Retention and repair: `RetentionPolicy`, `Maintenance.execute` and its report, `health_check`.

`maintenance_api(store, artifacts)` returns the `Maintenance` for a store's backend (memory or SQL); see
`maintenance.policy` for what each policy field does and `maintenance.base` for the steps.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..core.errors import ValidationError
from .base import (
    HealthIssue,
    Maintenance,
    MaintenanceProgress,
    MaintenanceReport,
    ProgressCallback,
    StepError,
)
from .policy import PROTECTED_EVENT_TYPES, RetentionPolicy

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore


def maintenance_api(
    store: Any,
    artifacts: ArtifactStore | None = None,
    *,
    unregistered_blob_grace: timedelta | None = None,
) -> Maintenance:
    """The `Maintenance` for `store` (memory, SQLite or PostgreSQL).

    `artifacts` is the `ArtifactStore` holding the blobs of the store's artifact records (a composite
    store brings its own): with it, removing a record (hard delete, orphan cleanup) removes its blob
    too, when the record's `storage_ref` names that store. `unregistered_blob_grace`
    (opt-in) also deletes blobs of that store that no record names and that were last written longer
    ago than the grace: only use it when every blob of that store is written through the library.
    """
    from ..composite import CompositeSessionStore
    from ..query import session_store_of
    from ..sessions.memory import InMemorySessionStore
    from ..sessions.sql.store import SQLSessionStore

    if artifacts is None and isinstance(store, CompositeSessionStore):
        artifacts = store.artifacts
    inner = session_store_of(store)
    if isinstance(inner, InMemorySessionStore):
        from .memory import MemoryMaintenance

        return MemoryMaintenance(inner, artifacts, unregistered_blob_grace=unregistered_blob_grace)
    if isinstance(inner, SQLSessionStore):
        from .sql import SQLMaintenance

        return SQLMaintenance(inner, artifacts, unregistered_blob_grace=unregistered_blob_grace)
    raise ValidationError(
        f"no Maintenance for a {type(inner).__name__}; supported: memory, SQLite and PostgreSQL stores",
        details={"store": type(inner).__name__},
    )


__all__ = [
    "PROTECTED_EVENT_TYPES",
    "HealthIssue",
    "Maintenance",
    "MaintenanceProgress",
    "MaintenanceReport",
    "ProgressCallback",
    "RetentionPolicy",
    "StepError",
    "maintenance_api",
]
