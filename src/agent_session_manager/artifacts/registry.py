"""The artifact registry port: records of stored blobs (`asm_artifacts`), kept by the session store.

Records live beside sessions so that `delete_session` removes them in the same transaction, and so that
a session's artifacts can be listed and totalled with one query. The blobs themselves live in an
`ArtifactStore`; `CompositeSessionStore` keeps the two in step (blob first, record second, so a crash
leaves at worst an orphan blob for maintenance, never a record pointing at nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.models import ArtifactRecord
from ..core.pagination import DEFAULT_PAGE_SIZE, Page


@dataclass(frozen=True)
class ArtifactTotals:
    """How many artifact records a session has, and their total size in bytes."""

    count: int
    byte_size: int


@runtime_checkable
class ArtifactRegistry(Protocol):
    """Artifact records, implemented by every session store of this library."""

    async def register_artifact(self, record: ArtifactRecord) -> ArtifactRecord:
        """Insert or replace the record for `record.key`; its session, if any, must exist."""
        ...

    async def get_artifact_record(self, key: str) -> ArtifactRecord:
        """The record for `key`, or `NotFound`."""
        ...

    async def list_artifact_records(
        self, session_id: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[ArtifactRecord]:
        """A session's records by `(created_at, id)` ascending, one keyset page at a time."""
        ...

    async def artifact_totals(self, session_id: str) -> ArtifactTotals:
        """Count and total size of a session's records (`SessionNotFound` if it does not exist)."""
        ...

    async def delete_artifact_record(self, key: str) -> None:
        """Remove the record for `key`; idempotent."""
        ...
