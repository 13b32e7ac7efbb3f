"""Workspaces (Conjure storage): a working directory per session, local or mirrored to S3 / Tigris.

`await open_workspace_storage(url, session_id)` with `file:///base` (or `file://` for the temp dir),
`s3://bucket/prefix?endpoint=...`, or `tigris://bucket/prefix`. The port is `WorkspaceStorage`
(`base.py`); the backends are `local.py`, `s3.py` and `tigris.py`.
"""

from .base import FileCallback, FileEvent, WorkspaceStorage
from .files import (
    FileRef,
    build_file_ref,
    compute_checksum,
    generate_session_id,
    guess_content_type,
)

__all__ = [
    "FileCallback",
    "FileEvent",
    "FileRef",
    "WorkspaceStorage",
    "build_file_ref",
    "compute_checksum",
    "generate_session_id",
    "guess_content_type",
]
