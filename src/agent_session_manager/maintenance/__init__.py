"""Retention and repair: `RetentionPolicy`, `Maintenance.execute` and its report, `health_check`.

`maintenance_api(store, artifacts)` returns the `Maintenance` a store provides (its `maintenance_api()`); see
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
    """The `Maintenance` of `store`, as the store itself provides it (its `maintenance_api()` method).

    The memory store gives `MemoryMaintenance`, the SQL stores `SQLMaintenance`, a composite store its
    session store's with its own artifact store, a sync store a blocking twin; a third-party store
    opts in by defining the same method.

    Args:
        store: an open session store.
        artifacts: the `ArtifactStore` holding the blobs of the store's artifact records (a composite
            store brings its own): with it, removing a record (hard delete, orphan cleanup) removes its
            blob too, when the record's `storage_ref` names that store.
        unregistered_blob_grace: opt-in; also delete blobs of that store that no record names and that
            were last written longer ago than the grace. Only use it when every blob of that store is
            written through the library.

    Returns:
        The store's `Maintenance`.

    Raises:
        ValidationError: the store provides no maintenance.

    Example:
        >>> report = await maintenance_api(store).execute(RetentionPolicy(max_events_per_session=1000))
        ... # doctest: +SKIP
    """
    provide = getattr(store, "maintenance_api", None)
    if not callable(provide):
        raise ValidationError(
            f"{type(store).__name__} provides no Maintenance "
            "(a store offers one with a maintenance_api() method)",
            details={"store": type(store).__name__},
        )
    maintenance: Maintenance = provide(artifacts, unregistered_blob_grace=unregistered_blob_grace)
    return maintenance


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
