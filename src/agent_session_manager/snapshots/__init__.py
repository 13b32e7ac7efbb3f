"""Snapshots (Strands storage): an agent's whole state as JSON documents, latest plus immutable
history, in the Strands key layout on local files or S3.

`await open_snapshot_storage(url)` with `file:///dir` or `s3://bucket/prefix?endpoint=...`. The port
is `SnapshotStorage` (`base.py`); the backends are `file.py` and `s3.py`.
"""

from .base import (
    Snapshot,
    SnapshotLocation,
    SnapshotManifest,
    SnapshotStorage,
    new_snapshot_id,
)

__all__ = ["Snapshot", "SnapshotLocation", "SnapshotManifest", "SnapshotStorage", "new_snapshot_id"]
